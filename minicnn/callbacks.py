"""Training callbacks, as Keras names them: History, EarlyStopping, ModelCheckpoint, CSVLogger,
and DivergenceGuard (Keras's TerminateOnNaN that also keeps the last finite weights).

A callback gets ``set_model(model)`` once, then ``on_train_begin()``; per epoch
``on_epoch_begin(epoch)``, ``on_batch_end(batch, logs)`` after every training batch,
``before_validation(epoch)`` after the epoch's last batch and before the validation data are
scored (minicnn's, not Keras's: where :class:`WeightAverage` and
:class:`RecomputeBatchNorm` change the weights that are validated and kept) and
``on_epoch_end(epoch, logs)`` (logs: "loss", "accuracy", "val_loss", "val_accuracy"); and
``on_train_end()``.
Setting ``model.stop_training = True`` ends ``fit`` after the current epoch.

A callback that remembers something across epochs has ``get_state()`` (a dict of plain
values and NumPy arrays) and ``set_state(state)``: what a resumed training
(:mod:`minicnn.checkpoint`) needs to go on exactly as if it had never stopped.
"""
import csv
import io
import math
import os
import signal
import threading

import numpy as np

from .io import atomic_write
from .layers.normalization import recompute_batchnorm


class Callback:
    model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self):
        pass

    def on_epoch_begin(self, epoch):
        pass

    def on_batch_end(self, batch, logs):
        pass

    def before_validation(self, epoch):
        pass

    def on_epoch_end(self, epoch, logs):
        pass

    def on_train_end(self):
        pass


class History(Callback):
    """``history.history`` maps each log name to its per-epoch values; ``history.epoch`` lists
    the epochs run (0-based)."""

    def __init__(self):
        self.history, self.epoch = {}, []

    def on_epoch_end(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def get_state(self):
        return {"history": {k: list(v) for k, v in self.history.items()},
                "epoch": list(self.epoch)}

    def set_state(self, state):
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.epoch = [int(e) for e in state["epoch"]]


class _Monitor(Callback):
    """Tracks the best value of a logged quantity ("min" for losses, "max" otherwise)."""

    def __init__(self, monitor, mode="auto", min_delta=0.0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.mode = ("min" if "loss" in monitor else "max") if mode == "auto" else mode
        self.min_delta = abs(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf

    def _value(self, logs):
        if self.monitor not in logs:
            raise ValueError(f"{type(self).__name__} monitors {self.monitor!r}, but the logs "
                             f"only have {sorted(logs)}; pass validation_data to fit for "
                             f"'val_' quantities")
        return logs[self.monitor]

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; with
    ``restore_best_weights`` the model ends with the weights of its best epoch."""

    def __init__(self, monitor="val_loss", patience=0, restore_best_weights=False,
                 min_delta=0.0, mode="auto"):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.restore_best_weights = int(patience), restore_best_weights

    def on_train_begin(self):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait, self.best_epoch, self.best_weights, self.stopped_epoch = 0, None, None, None

    def on_epoch_end(self, epoch, logs):
        value = self._value(logs)
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.model.stop_training = True
            self.stopped_epoch = epoch

    def on_train_end(self):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)

    def get_state(self):
        """The best value so far, its epoch and weights, and the epochs waited since."""
        weights = None if self.best_weights is None else [w.copy() for w in self.best_weights]
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch, "best_weights": weights}

    def set_state(self, state):
        self.best, self.best_epoch = float(state["best"]), state["best_epoch"]
        self.wait, self.stopped_epoch = int(state["wait"]), state["stopped_epoch"]
        weights = state["best_weights"]
        self.best_weights = None if weights is None else [np.array(w) for w in weights]


class ModelCheckpoint(_Monitor):
    """Save the model (``model.save``) after each epoch, or only when ``monitor`` improves
    with ``save_best_only``. ``path`` may contain ``{epoch}`` (1-based, as Keras)."""

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        super().__init__(monitor, mode)
        self.path, self.save_best_only = os.fspath(path), save_best_only

    def on_epoch_end(self, epoch, logs):
        if self.save_best_only:
            value = self._value(logs)
            if not self._improved(value):
                return
            self.best = value
        self.model.save(self.path.format(epoch=epoch + 1, **logs))


def numbered_from_one(rows):
    """Rows of a history (dicts with "epoch") with the epochs counted from 1, as the console,
    metrics.json and ModelCheckpoint count them; rows written by older versions, counted
    from 0 (as Keras's CSVLogger), are renumbered."""
    if rows and rows[0].get("epoch") == 0:
        return [{**row, "epoch": row["epoch"] + 1} for row in rows]
    return rows


class CSVLogger(Callback):
    """One row per epoch (epoch counted from 1, then the logs) in a CSV file, rewritten whole
    after every epoch through a temporary file and a rename: a crash leaves the rows of the
    finished epochs, never a cut row. (Keras's CSVLogger counts from 0; minicnn counts every
    epoch it shows or writes from 1.)"""

    def __init__(self, path):
        self.path = os.fspath(path)

    def on_train_begin(self):
        self._rows = []

    def on_epoch_end(self, epoch, logs):
        self._rows.append({"epoch": epoch + 1, **logs})
        self._write()

    def get_state(self):
        return {"rows": [dict(row) for row in self._rows]}

    def set_state(self, state):
        """Take the rows back and rewrite the file with them (it may hold a row more)."""
        self._rows = numbered_from_one([dict(row) for row in state["rows"]])
        if self._rows:
            self._write()
        elif os.path.exists(self.path):
            os.remove(self.path)

    def _write(self):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, list(self._rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self._rows)
        atomic_write(self.path, buffer.getvalue().encode("utf-8"))


def _all_finite(logs, weights):
    """True when every logged number and every weight array is finite (no NaN, no inf)."""
    return (all(math.isfinite(v) for v in logs.values())
            and all(np.isfinite(w).all() for w in weights))


class DivergenceGuard(Callback):
    """Stop training when it diverges, and keep the weights of the last finite epoch.

    An epoch counts as finite when every logged value (loss, accuracy, val_...) and every
    weight is finite; its weights are then copied. Training has diverged when an epoch is not
    finite, or when ``fit`` stopped in the middle of an epoch because the loss stopped being
    finite. Then ``diverged`` is True, ``diverged_epoch`` is the 0-based epoch it happened in,
    ``last_finite_epoch`` the 0-based epoch whose weights :meth:`restore` puts back (None when
    not even the first epoch was finite), and ``reason`` says so in words. With
    ``restore_on_divergence`` the weights are put back at the end of training.

    A stop in the middle of an epoch is read from ``model.nonfinite_loss``, so the guard
    may sit anywhere in ``callbacks``.
    """

    def __init__(self, restore_on_divergence=True):
        self.restore_on_divergence = restore_on_divergence

    def on_train_begin(self):
        self.diverged, self.diverged_epoch, self.last_finite_epoch = False, None, None
        self.reason, self._weights, self._epochs = None, None, 0

    def on_epoch_end(self, epoch, logs):
        self._epochs = epoch + 1
        weights = self.model.get_weights()
        if _all_finite(logs, weights):
            self.last_finite_epoch, self._weights = epoch, [w.copy() for w in weights]
        else:
            self._diverge(epoch)
            self.model.stop_training = True

    def on_train_end(self):
        if self.model.nonfinite_loss is not None and not self.diverged:
            self._diverge(self._epochs)       # fit stopped inside an epoch: a non-finite loss
        if self.diverged and self.restore_on_divergence:
            self.restore()

    def _diverge(self, epoch):
        self.diverged, self.diverged_epoch = True, epoch
        kept = ("no epoch was finite" if self.last_finite_epoch is None else
                f"the last finite epoch is {self.last_finite_epoch + 1}")
        self.reason = (f"training diverged in epoch {epoch + 1} (the loss or the weights "
                       f"stopped being finite); {kept}")

    def get_state(self):
        weights = None if self._weights is None else [w.copy() for w in self._weights]
        return {"diverged": self.diverged, "diverged_epoch": self.diverged_epoch,
                "last_finite_epoch": self.last_finite_epoch, "reason": self.reason,
                "epochs": self._epochs, "weights": weights}

    def set_state(self, state):
        self.diverged, self.diverged_epoch = bool(state["diverged"]), state["diverged_epoch"]
        self.last_finite_epoch, self.reason = state["last_finite_epoch"], state["reason"]
        self._epochs = int(state["epochs"])
        weights = state["weights"]
        self._weights = None if weights is None else [np.array(w) for w in weights]

    def restore(self):
        """Put back the weights of the last finite epoch; False when there is none."""
        if self._weights is None:
            return False
        self.model.set_weights(self._weights)
        return True


class StopOnSignal(Callback):
    """Ctrl-C (SIGINT) or SIGTERM ends training at the end of the current batch or epoch,
    with a KeyboardInterrupt, so the last epoch's checkpoint stays whole; a second signal
    interrupts at once.

    Use it as a context manager around ``fit`` and put it after the checkpoint callback: the
    handlers are installed only inside the ``with`` block, and only in the main thread
    (elsewhere signals cannot be caught; the callback then does nothing). A signal that came
    after the last batch is acted on when the block ends.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested, self._previous = None, {}

    def __enter__(self):
        self.requested = None
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, exc_type, exc, tb):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
        if exc_type is None:
            self._stop_if_requested()

    def _handle(self, signum, frame):
        if self.requested is not None:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def _stop_if_requested(self):
        if self.requested is not None:
            raise KeyboardInterrupt(f"stopped by {self.requested}")

    def on_batch_end(self, batch, logs):
        self._stop_if_requested()

    def on_epoch_end(self, epoch, logs):
        self._stop_if_requested()


class WeightAverage(Callback):
    """Validate and keep an exponential moving average of the weights (Polyak averaging).

    After every training batch t = 1, 2, ...: s_t = decay * s_{t-1} + (1 - decay) * w_t
    (s_0 = 0, every array of ``get_weights``, BatchNormalization's moving statistics included,
    summed in float64); the average is s_t / (1 - decay ** t), bias-corrected as Adam's
    moments, so the initial weights do not count. Before validation the model gets the
    average (so validation, early stopping's best weights and the kept model are averaged
    ones); at the next epoch's start it gets its trained weights back.
    """

    def __init__(self, decay):
        if not 0 <= decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = float(decay)

    def on_train_begin(self):
        self.steps, self._sum, self._trained = 0, None, None

    def on_batch_end(self, batch, logs):
        weights = self.model.get_weights()
        if self._sum is None:
            self._sum = [np.zeros(w.shape, np.float64) for w in weights]
        for total, w in zip(self._sum, weights):
            total *= self.decay
            total += (1 - self.decay) * w
        self.steps += 1

    def average(self):
        """The bias-corrected average of the weights so far (float64 arrays), or None."""
        if self._sum is None:
            return None
        return [total / (1 - self.decay ** self.steps) for total in self._sum]

    def before_validation(self, epoch):
        self._trained = self.model.get_weights()
        self.model.set_weights(self.average())

    def on_epoch_begin(self, epoch):
        if self._trained is not None:
            self.model.set_weights(self._trained)
            self._trained = None

    def get_state(self):
        return {"steps": self.steps, "sum": _copies(self._sum),
                "trained": _copies(self._trained)}

    def set_state(self, state):
        self.steps, self._sum = int(state["steps"]), _copies(state["sum"])
        self._trained = _copies(state["trained"])


def _copies(arrays):
    """Copies of a list of arrays (as NumPy arrays), or None for None."""
    return None if arrays is None else [np.array(a) for a in arrays]


class RecomputeBatchNorm(Callback):
    """Before validation, recompute every BatchNormalization layer's moving statistics on
    images ``x`` (N, H, W, C) (the training images without augmentation):
    :func:`minicnn.layers.normalization.recompute_batchnorm`."""

    def __init__(self, x, batch_size=32):
        self.x, self.batch_size = x, batch_size

    def before_validation(self, epoch):
        recompute_batchnorm(self.model, self.x, self.batch_size)
