"""Sequential: a stack of layers trained like a Keras model (compile, fit, evaluate, predict).

fit, evaluate, predict, train_on_batch and test_on_batch run inside
:func:`minicnn.runtime.own_work` (BLAS on one thread while they run, put back on return),
and their kernels reuse the model's arrays from step to step
(:mod:`minicnn.kernels.buffers`).

Shapes: inputs x (N, *input_shape) float (integer arrays, such as 8-bit images, are refused
rather than used unscaled); labels y (N,) integers for
sparse_categorical_crossentropy, (N,) or (N, D) in [0, 1] for binary_crossentropy.
"""
import functools
import math
import warnings

import numpy as np
from tqdm.auto import tqdm

from . import kernels, runtime
from . import layers as layers_module
from . import losses as losses_module
from . import optimizers as optimizers_module
from .callbacks import Callback, History
from .fusion import forward_steps, split_at
from .io import read_arrays, write_arrays
from .kernels.buffers import Buffers
from .validation import ModelFileError, ShapeError, positive_int


class _NonFiniteLoss(Exception):
    pass


def _model_call(method):
    """Decorator: ``method`` runs inside :func:`minicnn.runtime.own_work`, its kernels
    reusing the model's arrays (:meth:`minicnn.kernels.buffers.Buffers.reusing`)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with runtime.own_work(), self.buffers.reusing():
            return method(self, *args, **kwargs)
    return wrapper


class Sequential:
    """A linear stack of layers: ``Sequential([Input((150, 150, 1)), Conv2D(...), ...])``."""

    def __init__(self, layers=None, name="sequential", seed=None):
        self.name, self.seed = name, seed
        self.layers, self.input_shape = [], None
        self.loss = self.optimizer = None
        self.stop_training = False
        self.nonfinite_loss = None     # set by fit when it stops on a non-finite loss
        self._steps = []               # the last forward's steps, (layer index, step)
        self.buffers = Buffers()       # arrays fit, predict, ... reuse from step to step
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

    def layer_index(self, layer):
        """Index in ``layers`` of ``layer``: a Layer of this model, a layer's name, or an int
        (negative counts from the end); ValueError naming what the model has otherwise."""
        if isinstance(layer, layers_module.Layer):
            for i, candidate in enumerate(self.layers):
                if candidate is layer:
                    return i
            raise ValueError(f"layer {layer.name!r} is not in the model")
        if isinstance(layer, str):
            names = [candidate.name for candidate in self.layers]
            if layer not in names:
                raise ValueError(f"no layer named {layer!r}; the model has: {', '.join(names)}")
            return names.index(layer)
        if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
            n = len(self.layers)
            if not -n <= layer < n:
                raise ValueError(f"layer index {layer} is out of range for {n} layers")
            return int(layer) % n
        raise TypeError(f"layer must be a Layer, a layer name or an index, got {layer!r}")

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

    def count_params(self, trainable=None):
        """Number of scalar weights (the thesis CNN: 1,033,218): all (None), trainable only
        (True) or non-trainable only (False), as Keras's summary counts them."""
        self._ensure_built()
        return sum(layer.count_params(trainable) for layer in self.layers)

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
        text += ["=" * sum(widths), f"Total params: {self.count_params():,}",
                 f"Trainable params: {self.count_params(trainable=True):,}",
                 f"Non-trainable params: {self.count_params(trainable=False):,}", line]
        print_fn("\n".join(text))

    # -- weights --------------------------------------------------------------------------
    def _weight_slots(self):
        """(layer, store, key) for every weight in Keras's order: layer by layer, trainable
        (kernel, bias, gamma, beta) then non-trainable (moving_mean, moving_variance)."""
        self._ensure_built()
        return [(layer, store, key) for layer in self.layers for store, key in layer.weights()]

    def _trainable_slots(self):
        """(layer, key) of every trainable weight: what gradients and the optimizer see."""
        self._ensure_built()
        return [(layer, key) for layer in self.layers for key in layer.params]

    def get_weights(self):
        """Copies of all weights, Keras's order and layouts (conv kernels (KH, KW, C_in,
        C_out), dense kernels (in, out), biases (out,), then any non-trainable state)."""
        return [store[key].copy() for _, store, key in self._weight_slots()]

    def set_weights(self, weights):
        """Set all weights from a list like :meth:`get_weights` (e.g. a Keras model's).

        Every array is checked (count, shape, a real-number dtype) before any is replaced,
        so a bad list leaves the model as it was."""
        slots = self._weight_slots()
        weights = list(weights)
        if len(weights) != len(slots):
            raise ShapeError(f"the model has {len(slots)} weight arrays, got {len(weights)}")
        arrays = []
        for (layer, store, key), w in zip(slots, weights):
            w = np.asarray(w)
            if not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
                raise TypeError(f"layer {layer.name!r} {key}: weights must be real numbers, "
                                f"got dtype {w.dtype}")
            if w.shape != store[key].shape:
                raise ShapeError(f"layer {layer.name!r} {key}: expected shape "
                                 f"{store[key].shape}, got {w.shape}")
            arrays.append(w)
        for (layer, store, key), w in zip(slots, arrays):
            store[key] = np.array(w, dtype=store[key].dtype)

    def _generators(self):
        """{(layer name, attribute): np.random.Generator} of every generator a layer holds
        (Dropout's masks): training draws from them, so a checkpoint keeps their states."""
        return {(layer.name, attr): value for layer in self.layers
                for attr, value in vars(layer).items()
                if isinstance(value, np.random.Generator)}

    def get_state(self):
        """What a resumed training needs from the model: copies of the weights, the state of
        every layer's random generator and ``stop_training``."""
        return {"weights": self.get_weights(), "stop_training": self.stop_training,
                "generators": [[name, attr, g.bit_generator.state]
                               for (name, attr), g in self._generators().items()]}

    def set_state(self, state):
        """Put back a :meth:`get_state` of a model with the same layers (the weights are
        checked as :meth:`set_weights` does; a generator the model lacks is a ValueError)."""
        generators = self._generators()
        missing = [f"{name}.{attr}" for name, attr, _ in state["generators"]
                   if (name, attr) not in generators]
        if missing or len(state["generators"]) != len(generators):
            raise ValueError(f"the state's random generators {missing or ''} do not match "
                             f"the model's {sorted(generators)}")
        self.set_weights(state["weights"])
        for name, attr, bit_state in state["generators"]:
            generators[name, attr].bit_generator.state = bit_state
        self.stop_training = bool(state["stop_training"])

    # -- passes ---------------------------------------------------------------------------
    def _check_x(self, x):
        self._ensure_built()
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            hint = (f"; scale 8-bit images to [0, 1] first, x / {np.iinfo(x.dtype).max}"
                    if np.issubdtype(x.dtype, np.integer) else "")
            raise TypeError(f"the model takes float inputs, got dtype {x.dtype}{hint} (minicnn "
                            f"models are trained on images in [0, 1])")
        if x.shape[1:] != self.input_shape or x.ndim != len(self.input_shape) + 1:
            raise ShapeError(f"the model expects inputs of shape (N, "
                             f"{', '.join(map(str, self.input_shape))}), got {x.shape}")
        return x

    def _check_xy(self, x, y, what="a batch"):
        """x and y checked against the model and each other; ``what`` needs >= 1 sample."""
        x = self._check_x(x)
        y = np.asarray(y)
        if len(x) != len(y):
            raise ShapeError(f"x and y have different lengths: {len(x)} samples and "
                             f"{len(y)} labels")
        if len(x) == 0:
            raise ValueError(f"{what} needs at least one sample, got 0")
        return x, y

    def forward(self, x, training=False, keep=False, stop=None):
        """Run the layers in order: x (N, *input_shape) -> (N, *output_shape).

        ``stop``: the index of the last layer to run (default: all). ``keep=True`` returns
        the list of every layer's output instead of the last one. This is the model's one
        forward traversal: fit, evaluate, predict, gradients and explain all use it.
        """
        if not self.built:                       # as Keras: built by the first call
            self.build(None if self.input_shape is not None else np.shape(x)[1:])
        layers = self.layers[:None if stop is None else stop + 1]
        self._steps = list(enumerate(layers)) if keep else forward_steps(layers)
        outputs = []
        for _, step in self._steps:
            x = step.forward(x, training=training)
            if keep:
                outputs.append(x)
        return outputs if keep else x

    def backward(self, grad, from_logits=False, start=0, input_grad=True):
        """Backpropagate from the last layer down to ``layers[start]``; returns the gradient
        with respect to that layer's input (None when ``input_grad`` is False).

        ``grad``: dL/d(model output), or dL/d(last layer's logits) with ``from_logits``
        (the fused softmax/sigmoid + cross-entropy, or a class score for explain). The one
        backward traversal: training and explain both use it; it fills each layer's grads.
        It goes through the steps of the last forward (see ``minicnn.fusion``).
        """
        if not self._steps:
            raise RuntimeError("backward called before forward")
        self._steps = split_at(self._steps, start)
        steps = [step for i, step in self._steps if i >= start]
        for k in range(len(steps) - 1, -1, -1):
            last_from_logits = from_logits and k == len(steps) - 1
            pass_back = steps[k].backward_from_logits if last_from_logits else steps[k].backward
            grad = pass_back(grad, k > 0 or input_grad)
        return grad

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
        self._logits_loss = self.loss.with_logits()             # used when _fused

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

    def _loss(self, y, probs, sample_weight, gradient=False):
        """The loss of the last forward (and, with ``gradient``, dL/d of what it was computed
        from). The one place for the fused case: when the last activation is the loss's own,
        the loss is taken from the logits, as Keras, and its gradient is (p - y) / N."""
        loss, target = ((self._logits_loss, self.layers[-1].logits) if self._fused
                        else (self.loss, probs))
        value = loss(y, target, sample_weight)
        return (value, loss.gradient(y, target, sample_weight)) if gradient else value

    def _check_labels(self, y, probs):
        if isinstance(self.loss, losses_module.SparseCategoricalCrossentropy):
            losses_module.check_labels(y, probs.shape[1], len(probs))

    def _accuracy(self, y, probs):
        y = np.asarray(y)
        if isinstance(self.loss, losses_module.SparseCategoricalCrossentropy):
            return float(np.mean(probs.argmax(axis=1) == y.reshape(-1)))
        if self.loss.from_logits:
            probs = kernels.sigmoid(probs)
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
    def gradients(self, x, y, sample_weight=None, training=False):
        """``(loss, grads)`` for one batch, no update. grads: one per trainable weight, in
        :meth:`get_weights` order with the non-trainable state left out (for a model
        without BatchNormalization, aligned with get_weights). ``training=True`` runs
        Dropout and BatchNormalization as in training (their masks and moving statistics
        move)."""
        self._require_compiled()
        x, y = self._check_xy(x, y)
        loss, _ = self._forward_backward(x, y, sample_weight, training)
        return loss, [layer.grads[key].copy() for layer, key in self._trainable_slots()]

    def _forward_backward(self, x, y, sample_weight, training):
        probs = self.forward(x, training=training)
        self._check_labels(y, probs)
        loss, grad = self._loss(y, probs, sample_weight, gradient=True)
        if not math.isfinite(loss):
            raise _NonFiniteLoss(loss)
        # Down to the first layer with weights; nobody needs dL/dx there.
        first = next((i for i, layer in enumerate(self.layers) if layer.params), 0)
        self.backward(grad, from_logits=self._fused, start=first, input_grad=False)
        return loss, probs

    @_model_call
    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        """One optimizer step on one batch; returns [loss, accuracy] measured before the step."""
        self._require_compiled()
        x, y = self._check_xy(x, y)
        sample_weight = self._sample_weight(y, sample_weight, class_weight)
        states = [{k: v.copy() for k, v in layer.state.items()} for layer in self.layers]
        try:
            loss, probs = self._forward_backward(x, y, sample_weight, training=True)
        except _NonFiniteLoss as exc:      # the moving statistics go back too: no update at all
            for layer, state in zip(self.layers, states):
                layer.state.update(state)
            raise FloatingPointError(f"the loss is not finite ({exc.args[0]}); no update was "
                                     f"made") from None
        self.optimizer.apply_gradients((layer.grads[key], layer.params[key])
                                       for layer, key in self._trainable_slots())
        return [loss, self._accuracy(y, probs)]

    @_model_call
    def test_on_batch(self, x, y, sample_weight=None):
        """[loss, accuracy] on one batch, no update."""
        self._require_compiled()
        x, y = self._check_xy(x, y)
        probs = self.forward(x)
        self._check_labels(y, probs)
        return [self._loss(y, probs, sample_weight), self._accuracy(y, probs)]

    # -- whole data sets ------------------------------------------------------------------
    @_model_call
    def predict(self, x, batch_size=32):
        """Outputs (probabilities) for x (N, *input_shape), computed in batches."""
        batch_size = positive_int(batch_size, "batch_size")
        x = self._check_x(x)
        out = [self.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        if not out:
            return np.empty((0,) + self.output_shape, self.layers[-1].dtype)
        return np.concatenate(out)

    @_model_call
    def evaluate(self, x, y, batch_size=32, sample_weight=None):
        """[loss, accuracy] over the whole set (each batch weighted by its size, as Keras)."""
        self._require_compiled()
        batch_size = positive_int(batch_size, "batch_size")
        x, y = self._check_xy(x, y, "evaluate")
        total_loss = total_acc = 0.0
        for i in range(0, len(x), batch_size):
            sw = None if sample_weight is None else np.asarray(sample_weight)[i:i + batch_size]
            loss, acc = self.test_on_batch(x[i:i + batch_size], y[i:i + batch_size], sw)
            n = len(x[i:i + batch_size])
            total_loss, total_acc = total_loss + loss * n, total_acc + acc * n
        return [total_loss / len(x), total_acc / len(x)]

    @_model_call
    def fit(self, x, y, batch_size=32, epochs=1, validation_data=None, shuffle=True,
            class_weight=None, callbacks=None, verbose=1, seed=None, augment=None,
            initial_epoch=0):
        """Train for ``epochs`` passes over (x, y); returns a History (also ``model.history``).

        ``history.history`` holds per-epoch "loss", "accuracy" and, with validation_data
        (x_val, y_val), "val_loss", "val_accuracy". ``seed`` fixes the shuffling (same seed,
        same machine and backend: bit-identical weights); it may also be a
        ``np.random.Generator``, used as it is. ``augment``: optional function
        ``(x_batch, rng) -> x_batch`` applied to training batches only. Training stops with a
        warning naming the epoch and batch if the loss stops being finite; that message is
        then in ``model.nonfinite_loss`` (None otherwise). ``initial_epoch``: the epoch
        (0-based) to start at, as Keras, when resuming (:mod:`minicnn.checkpoint`).
        ``verbose``: a line per epoch on stdout, and a progress bar when stderr is a terminal;
        0 for neither; or a function taking each epoch's line instead of stdout (e.g. a
        logger's ``info``), with the bar.
        """
        self._require_compiled()
        batch_size = positive_int(batch_size, "batch_size")
        epochs = positive_int(epochs, "epochs")
        x, y = self._check_xy(x, y, "fit")
        if validation_data is not None:
            validation_data = self._check_xy(*validation_data,
                                             "validation_data (pass None to skip validation)")
        initial_epoch = positive_int(initial_epoch, "initial_epoch", minimum=0)
        self.history = history = History()
        rng = np.random.default_rng(seed)
        self.stop_training, self.nonfinite_loss = False, None
        callbacks = self._start_callbacks([history] + list(callbacks or []))
        try:
            for epoch in range(initial_epoch, epochs):
                if self.stop_training:       # asked for at the last epoch's end
                    break
                for cb in callbacks:
                    cb.on_epoch_begin(epoch)
                logs = self._fit_epoch(x, y, batch_size, (epoch, epochs), shuffle,
                                       class_weight, verbose, rng, augment, callbacks)
                if logs is None:             # non-finite loss: stop without logging the epoch
                    break
                self._validate(epoch, logs, validation_data, batch_size, callbacks)
                for cb in callbacks:
                    cb.on_epoch_end(epoch, dict(logs))
                if verbose:
                    write = verbose if callable(verbose) else tqdm.write
                    write(f"Epoch {epoch + 1}/{epochs}: " + ", ".join(
                        f"{k} {v:.4f}" for k, v in logs.items()))
        finally:
            for cb in callbacks:
                cb.on_train_end()
        return history

    def _validate(self, epoch, logs, validation_data, batch_size, callbacks):
        """The callbacks' ``before_validation``, then val_loss and val_accuracy into logs."""
        for cb in callbacks:
            cb.before_validation(epoch)
        if validation_data is not None:
            val_loss, val_acc = self.evaluate(*validation_data, batch_size=batch_size)
            logs.update(val_loss=val_loss, val_accuracy=val_acc)

    def _start_callbacks(self, callbacks):
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback objects, got {type(cb).__name__}")
            cb.set_model(self)
            cb.on_train_begin()
        return callbacks

    def _fit_epoch(self, x, y, batch_size, when, shuffle, class_weight, verbose, rng, augment,
                   callbacks):
        """One pass over (x, y); ``when`` is (epoch, epochs). Returns the epoch's logs, or None
        when the loss stopped being finite."""
        epoch, epochs = when
        order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
        starts = range(0, len(x), batch_size)
        seen = loss_sum = acc_sum = 0.0
        bar = tqdm(starts, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch",
                   disable=None if verbose else True, leave=False)   # None: a terminal only
        for batch, start in enumerate(bar):
            idx = order[start:start + batch_size]
            xb = x[idx] if augment is None else augment(x[idx], rng)
            try:
                loss, acc = self.train_on_batch(xb, y[idx], class_weight=class_weight)
            except FloatingPointError as exc:
                message = f"training stopped at epoch {epoch + 1}, batch {batch + 1}: {exc}"
                warnings.warn(message, RuntimeWarning, stacklevel=3)
                self.stop_training, self.nonfinite_loss = True, message
                bar.close()
                return None
            seen += len(idx)
            loss_sum, acc_sum = loss_sum + loss * len(idx), acc_sum + acc * len(idx)
            for cb in callbacks:
                cb.on_batch_end(batch, {"loss": loss, "accuracy": acc})
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
    def from_config(cls, config, build=True):
        """The model :meth:`get_config` describes; built (weights allocated) unless
        ``build=False``, which only checks the layers and their shapes."""
        model = cls(name=config.get("name", "sequential"))
        for entry in config["layers"]:
            layer_class = layers_module.LAYERS.get(entry["class"])
            if layer_class is None:
                raise ValueError(f"unknown layer class {entry['class']!r} in the model config; "
                                 f"known: {', '.join(sorted(layers_module.LAYERS))}")
            model.add(layer_class(**entry["config"]))
        if config.get("input_shape"):
            model.input_shape = tuple(int(d) for d in config["input_shape"])
            if build:
                model.build()
        return model

    def weight_shapes(self, input_shape=None):
        """``[(layer name, key, shape), ...]`` of every weight in :meth:`get_weights` order,
        from the architecture alone: nothing is allocated (used to check a model file before
        reading its arrays)."""
        shape = tuple(input_shape or self.input_shape)
        out = []
        for layer in self.layers:
            out += [(layer.name, w.name, tuple(w.shape)) for w in layer.weight_specs(shape)]
            shape = tuple(layer.compute_output_shape(shape))
        return out

    def _described_shapes(self):
        """``[("layer 'conv2d' kernel", shape), ...]`` for reading model files."""
        return [(f"layer {name!r} {key}", shape) for name, key, shape in self.weight_shapes()]

    def save_weights(self, path):
        """Write the weights (and the architecture, to check against) atomically."""
        write_arrays(path, {"kind": "weights", "model": self.get_config()}, self.get_weights())

    def load_weights(self, path):
        """Read weights saved by :meth:`save_weights` or :meth:`save`; every shape is checked
        against this model before the weights are read."""
        _, weights = read_arrays(path, lambda config: self._described_shapes())
        self.set_weights(weights)

    def save(self, path):
        """Write architecture and weights to one file, atomically (load with load_model)."""
        write_arrays(path, {"kind": "model", "model": self.get_config()}, self.get_weights())


class Ensemble:
    """Several trained models with one input shape as one model: :meth:`predict` gives the
    mean of the members' outputs (N, K), in float64. ``members``: the models; ``layers``
    and ``input_shape`` are the first member's (what a layer-by-layer view can show)."""

    def __init__(self, members):
        members = list(members)
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 models, got {len(members)}")
        shapes = sorted({tuple(member.input_shape) for member in members})
        if len(shapes) > 1:
            raise ShapeError(f"the models of an ensemble must take one input shape, got "
                             f"{', '.join(map(str, shapes))}")
        self.members, self.name = members, f"ensemble of {len(members)}"
        self.input_shape = tuple(members[0].input_shape)
        self.built = True

    @property
    def layers(self):
        return self.members[0].layers

    def predict(self, x, batch_size=32):
        """The mean over the members of ``member.predict(x)`` (each cast to float64)."""
        return np.mean([member.predict(x, batch_size).astype(np.float64)
                        for member in self.members], axis=0)


def load_model(path):
    """Rebuild a model saved with :meth:`Sequential.save` (weights included, uncompiled).

    The architecture is checked, and each weight's shape compared with it, before any weight
    is read or allocated; a file that does not fit raises ModelFileError naming the file."""
    models = []

    def expected_shapes(config):
        models.append(_model_from_file_config(config, path))
        return models[0]._described_shapes()

    _, weights = read_arrays(path, expected_shapes)
    model = models[0]
    model.build()
    model.set_weights(weights)
    return model


def _model_from_file_config(config, path):
    """The unbuilt model a file's config describes; ModelFileError naming the file when the
    config is malformed (missing keys, unknown layers, bad arguments or shapes)."""
    try:
        model = Sequential.from_config(config["model"], build=False)
        if model.input_shape is None:
            raise ValueError("no input shape")
        model.weight_shapes()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(f"{path}: the architecture it describes is unusable "
                             f"({type(exc).__name__}: {exc})") from None
    return model
