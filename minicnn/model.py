"""Sequential: a stack of layers trained like a Keras model (compile, fit, evaluate, predict).

Shapes: inputs x (N, *input_shape) float; labels y (N,) integers for
sparse_categorical_crossentropy, (N,) or (N, D) in [0, 1] for binary_crossentropy.
"""
import math
import warnings

import numpy as np
from tqdm.auto import tqdm

from . import layers as layers_module
from . import losses as losses_module
from . import optimizers as optimizers_module
from .callbacks import Callback, History
from .io import read_arrays, write_arrays


class _NonFiniteLoss(Exception):
    pass


class Sequential:
    """A linear stack of layers: ``Sequential([Input((150, 150, 1)), Conv2D(...), ...])``."""

    def __init__(self, layers=None, name="sequential", seed=None):
        self.name, self.seed = name, seed
        self.layers, self.input_shape = [], None
        self.loss = self.optimizer = None
        self.stop_training = False
        for layer in layers or []:
            self.add(layer)

    # -- building -------------------------------------------------------------------------
    def add(self, layer):
        """Append a layer; an ``Input`` sets the input shape instead of becoming a layer."""
        if isinstance(layer, layers_module.Input):
            if self.layers:
                raise ValueError("Input must come before every other layer")
            self.input_shape = layer.shape
            return
        if not isinstance(layer, layers_module.Layer):
            raise TypeError(f"expected a minicnn layer, got {type(layer).__name__}")
        if any(layer.name == other.name for other in self.layers):
            raise ValueError(f"a layer named {layer.name!r} is already in the model")
        self.layers.append(layer)

    @property
    def built(self):
        return bool(self.layers) and all(layer.built for layer in self.layers)

    def build(self, input_shape=None, seed=None):
        """Create every layer's weights for inputs of ``input_shape`` (no batch axis);
        ``seed`` (default: the model's) makes the initial weights reproducible."""
        if input_shape is not None:
            self.input_shape = tuple(int(d) for d in input_shape)
        if self.input_shape is None:
            raise ValueError("the input shape is unknown: start the model with Input(shape) "
                             "or call build(input_shape)")
        if not self.layers:
            raise ValueError("the model has no layers")
        rng = np.random.default_rng(self.seed if seed is None else seed)
        shape = self.input_shape
        for layer in self.layers:
            shape = layer.build(shape, rng)
        return shape

    def _ensure_built(self):
        if not self.built:
            self.build()

    @property
    def output_shape(self):
        self._ensure_built()
        return self.layers[-1].output_shape

    def count_params(self):
        """Number of scalar weights (the thesis CNN: 1,033,218)."""
        self._ensure_built()
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print):
        """Print a table of layer name, type, output shape and parameters, with the total."""
        self._ensure_built()
        rows = [(f"{layer.name} ({type(layer).__name__})",
                 str((None,) + layer.output_shape), f"{layer.count_params():,}")
                for layer in self.layers]
        head = ("Layer (type)", "Output Shape", "Param #")
        widths = [max(len(r[i]) for r in rows + [head]) + 3 for i in range(3)]
        line = "-" * sum(widths)

        def fmt(r):
            return "".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
        text = [f'Model: "{self.name}"', line, fmt(head), "=" * sum(widths)]
        text += [fmt(r) for r in rows]
        text += ["=" * sum(widths), f"Total params: {self.count_params():,}", line]
        print_fn("\n".join(text))

    # -- weights --------------------------------------------------------------------------
    def _weight_slots(self):
        """(layer, key) for every weight, in Keras's order: layer by layer, kernel then bias."""
        self._ensure_built()
        return [(layer, key) for layer in self.layers for key in layer.params]

    def get_weights(self):
        """Copies of all weights, Keras's order and layouts (conv kernels (KH, KW, C_in,
        C_out), dense kernels (in, out), biases (out,))."""
        return [layer.params[key].copy() for layer, key in self._weight_slots()]

    def set_weights(self, weights):
        """Set all weights from a list like :meth:`get_weights` (e.g. a Keras model's)."""
        slots = self._weight_slots()
        weights = list(weights)
        if len(weights) != len(slots):
            raise ValueError(f"the model has {len(slots)} weight arrays, got {len(weights)}")
        for (layer, key), w in zip(slots, weights):
            if np.shape(w) != layer.params[key].shape:
                raise ValueError(f"layer {layer.name!r} {key}: expected shape "
                                 f"{layer.params[key].shape}, got {np.shape(w)}")
        for (layer, key), w in zip(slots, weights):
            layer.params[key] = np.array(w, dtype=layer.params[key].dtype)

    # -- passes ---------------------------------------------------------------------------
    def _check_x(self, x):
        self._ensure_built()
        x = np.asarray(x)
        if x.shape[1:] != self.input_shape or x.ndim != len(self.input_shape) + 1:
            raise ValueError(f"the model expects inputs of shape (N, "
                             f"{', '.join(map(str, self.input_shape))}), got {x.shape}")
        return x

    def _check_xy(self, x, y):
        x = self._check_x(x)
        y = np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"x and y have different lengths: {len(x)} samples and "
                             f"{len(y)} labels")
        return x, y

    def forward(self, x, training=False):
        """Run every layer; x (N, *input_shape) -> (N, *output_shape)."""
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, dy):
        """Backpropagate dL/doutput through every layer; returns dL/dx."""
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    # -- compiling and loss ---------------------------------------------------------------
    def compile(self, optimizer="adam", loss="sparse_categorical_crossentropy",
                metrics=None):
        """Set the optimizer and loss (objects or Keras's names); metrics: None or
        ["accuracy"] (accuracy is always reported)."""
        for metric in metrics or []:
            if metric not in ("accuracy", "acc"):
                raise ValueError(f"unknown metric {metric!r}; only 'accuracy' is supported")
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = losses_module.get(loss)
        self._logits_loss = type(self.loss)(from_logits=True)   # used when _fused

    def _require_compiled(self):
        if self.loss is None:
            raise RuntimeError("the model must be compiled before training or evaluating: "
                               "call model.compile(optimizer, loss)")

    @property
    def _fused(self):
        """True when the last activation is the loss's own (softmax with categorical,
        sigmoid with binary cross-entropy): the loss then works on the logits, as Keras."""
        return (not self.loss.from_logits
                and self.layers[-1].activation.name == self.loss.activation)

    def _loss_and_gradient(self, y, probs, sample_weight):
        """Loss value and dL/d(last layer's logits or output), plus which one it is."""
        if self._fused:
            logits_loss = self._logits_loss
            z = self.layers[-1].logits
            return (logits_loss(y, z, sample_weight),
                    logits_loss.gradient(y, z, sample_weight))
        return self.loss(y, probs, sample_weight), self.loss.gradient(y, probs, sample_weight)

    def _check_labels(self, y, probs):
        if isinstance(self.loss, losses_module.SparseCategoricalCrossentropy):
            losses_module.check_labels(y, probs.shape[1], len(probs))

    def _accuracy(self, y, probs):
        y = np.asarray(y)
        if isinstance(self.loss, losses_module.SparseCategoricalCrossentropy):
            return float(np.mean(probs.argmax(axis=1) == y.reshape(-1)))
        if self.loss.from_logits:
            probs = 1 / (1 + np.exp(-probs))
        return float(np.mean((probs > 0.5) == (y.reshape(probs.shape) > 0.5)))

    @staticmethod
    def _sample_weight(y, sample_weight, class_weight):
        if class_weight is None:
            return sample_weight
        y = np.asarray(y).reshape(len(y), -1)[:, 0].astype(int)
        missing = set(np.unique(y).tolist()) - set(class_weight)
        if missing:
            raise ValueError(f"class_weight has no weight for classes {sorted(missing)}")
        w = np.array([class_weight[c] for c in y], dtype=np.float64)
        return w if sample_weight is None else w * np.asarray(sample_weight)

    # -- one batch ------------------------------------------------------------------------
    def gradients(self, x, y, sample_weight=None):
        """``(loss, grads)`` for one batch, grads aligned with :meth:`get_weights`; no update."""
        self._require_compiled()
        x, y = self._check_xy(x, y)
        loss, _ = self._forward_backward(x, y, sample_weight, training=False)
        return loss, [layer.grads[key].copy() for layer, key in self._weight_slots()]

    def _forward_backward(self, x, y, sample_weight, training):
        probs = self.forward(x, training=training)
        self._check_labels(y, probs)
        loss, grad = self._loss_and_gradient(y, probs, sample_weight)
        if not math.isfinite(loss):
            raise _NonFiniteLoss(loss)
        # Backpropagate down to the first layer with weights; nobody needs dL/dx there.
        first = next((i for i, layer in enumerate(self.layers) if layer.params), 0)
        for i in range(len(self.layers) - 1, first - 1, -1):
            layer, need_dx = self.layers[i], i > first
            if i == len(self.layers) - 1 and self._fused:
                grad = layer.backward_from_logits(grad, need_dx)
            else:
                grad = layer.backward(grad, need_dx)
        return loss, probs

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        """One optimizer step on one batch; returns [loss, accuracy] measured before the step."""
        self._require_compiled()
        x, y = self._check_xy(x, y)
        sample_weight = self._sample_weight(y, sample_weight, class_weight)
        try:
            loss, probs = self._forward_backward(x, y, sample_weight, training=True)
        except _NonFiniteLoss as exc:
            raise FloatingPointError(f"the loss is not finite ({exc.args[0]}); no update was "
                                     f"made") from None
        slots = self._weight_slots()
        self.optimizer.apply_gradients((layer.grads[key], layer.params[key])
                                       for layer, key in slots)
        return [loss, self._accuracy(y, probs)]

    def test_on_batch(self, x, y, sample_weight=None):
        """[loss, accuracy] on one batch, no update."""
        self._require_compiled()
        x, y = self._check_xy(x, y)
        probs = self.forward(x)
        self._check_labels(y, probs)
        loss = (self._logits_loss(y, self.layers[-1].logits, sample_weight)
                if self._fused else self.loss(y, probs, sample_weight))
        return [loss, self._accuracy(y, probs)]

    # -- whole data sets ------------------------------------------------------------------
    def predict(self, x, batch_size=32):
        """Outputs (probabilities) for x (N, *input_shape), computed in batches."""
        x = self._check_x(x)
        out = [self.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(out) if out else np.empty((0,) + self.output_shape, np.float32)

    def evaluate(self, x, y, batch_size=32, sample_weight=None):
        """[loss, accuracy] over the whole set (each batch weighted by its size, as Keras)."""
        self._require_compiled()
        x, y = self._check_xy(x, y)
        total_loss = total_acc = 0.0
        for i in range(0, len(x), batch_size):
            sw = None if sample_weight is None else np.asarray(sample_weight)[i:i + batch_size]
            loss, acc = self.test_on_batch(x[i:i + batch_size], y[i:i + batch_size], sw)
            n = len(x[i:i + batch_size])
            total_loss, total_acc = total_loss + loss * n, total_acc + acc * n
        return [total_loss / len(x), total_acc / len(x)]

    def fit(self, x, y, batch_size=32, epochs=1, validation_data=None, shuffle=True,
            class_weight=None, callbacks=None, verbose=1, seed=None, augment=None):
        """Train for ``epochs`` passes over (x, y); returns a History.

        ``history.history`` holds per-epoch "loss", "accuracy" and, with validation_data
        (x_val, y_val), "val_loss", "val_accuracy". ``seed`` fixes the shuffling (same seed,
        same machine and backend: bit-identical weights). ``augment``: optional function
        ``(x_batch, rng) -> x_batch`` applied to training batches only. Training stops with a
        warning naming the epoch and batch if the loss stops being finite.
        """
        self._require_compiled()
        x, y = self._check_xy(x, y)
        if len(x) == 0:
            raise ValueError("fit needs at least one sample")
        if validation_data is not None:
            validation_data = self._check_xy(*validation_data)
        history = History()
        callbacks = [history] + list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback objects, got {type(cb).__name__}")
            cb.set_model(self)
            cb.on_train_begin()
        rng = np.random.default_rng(seed)
        self.stop_training = False
        try:
            for epoch in range(epochs):
                logs = self._fit_epoch(x, y, batch_size, epoch, epochs, shuffle, class_weight,
                                       verbose, rng, augment)
                if logs is None:             # non-finite loss: stop without logging the epoch
                    break
                if validation_data is not None:
                    val_loss, val_acc = self.evaluate(*validation_data, batch_size=batch_size)
                    logs.update(val_loss=val_loss, val_accuracy=val_acc)
                for cb in callbacks:
                    cb.on_epoch_end(epoch, dict(logs))
                if verbose:
                    tqdm.write(f"Epoch {epoch + 1}/{epochs}: " + ", ".join(
                        f"{k} {v:.4f}" for k, v in logs.items()))
                if self.stop_training:
                    break
        finally:
            for cb in callbacks:
                cb.on_train_end()
        return history

    def _fit_epoch(self, x, y, batch_size, epoch, epochs, shuffle, class_weight, verbose, rng,
                   augment):
        order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
        starts = range(0, len(x), batch_size)
        seen = loss_sum = acc_sum = 0.0
        bar = tqdm(starts, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch",
                   disable=not verbose, leave=False)
        for batch, start in enumerate(bar):
            idx = order[start:start + batch_size]
            xb = x[idx] if augment is None else augment(x[idx], rng)
            try:
                loss, acc = self.train_on_batch(xb, y[idx], class_weight=class_weight)
            except FloatingPointError as exc:
                warnings.warn(f"training stopped at epoch {epoch + 1}, batch {batch + 1}: "
                              f"{exc}", RuntimeWarning, stacklevel=3)
                self.stop_training = True
                bar.close()
                return None
            seen += len(idx)
            loss_sum, acc_sum = loss_sum + loss * len(idx), acc_sum + acc * len(idx)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", accuracy=f"{acc_sum / seen:.4f}")
        bar.close()
        return {"loss": loss_sum / seen, "accuracy": acc_sum / seen}

    # -- files ----------------------------------------------------------------------------
    def get_config(self):
        """Architecture: input shape and each layer's class and constructor arguments."""
        return {"name": self.name, "input_shape": list(self.input_shape or ()),
                "layers": [{"class": type(layer).__name__, "config": layer.get_config()}
                           for layer in self.layers]}

    @classmethod
    def from_config(cls, config):
        model = cls(name=config.get("name", "sequential"))
        for entry in config["layers"]:
            layer_class = getattr(layers_module, entry["class"], None)
            if not (isinstance(layer_class, type) and issubclass(layer_class, layers_module.Layer)):
                raise ValueError(f"unknown layer class {entry['class']!r} in the model config")
            model.add(layer_class(**entry["config"]))
        if config.get("input_shape"):
            model.build(config["input_shape"])
        return model

    def save_weights(self, path):
        """Write the weights (and the architecture, to check against) atomically."""
        write_arrays(path, {"kind": "weights", "model": self.get_config()}, self.get_weights())

    def load_weights(self, path):
        """Read weights saved by :meth:`save_weights` or :meth:`save`; every shape is checked."""
        _, weights = read_arrays(path)
        self.set_weights(weights)

    def save(self, path):
        """Write architecture and weights to one file, atomically (load with load_model)."""
        write_arrays(path, {"kind": "model", "model": self.get_config()}, self.get_weights())


def load_model(path):
    """Rebuild a model saved with :meth:`Sequential.save` (weights included, uncompiled)."""
    config, weights = read_arrays(path)
    model = Sequential.from_config(config["model"])
    model.set_weights(weights)
    return model
