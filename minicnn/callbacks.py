"""Training callbacks, as Keras names them: History, EarlyStopping, ModelCheckpoint, CSVLogger.

A callback gets ``set_model(model)`` once, then ``on_train_begin()``,
``on_epoch_end(epoch, logs)`` after every epoch (logs: "loss", "accuracy", "val_loss",
"val_accuracy") and ``on_train_end()``. Setting ``model.stop_training = True`` ends ``fit``
after the current epoch.
"""
import csv
import math
import os


class Callback:
    model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self):
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


class CSVLogger(Callback):
    """Write one row per epoch (epoch, then the logs) to a CSV file, flushed every epoch."""

    def __init__(self, path):
        self.path = os.fspath(path)

    def on_train_begin(self):
        self._file = open(self.path, "w", newline="")
        self._writer = None

    def on_epoch_end(self, epoch, logs):
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, ["epoch", *logs])
            self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **logs})
        self._file.flush()

    def on_train_end(self):
        self._file.close()
