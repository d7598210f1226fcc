"""Convert models between minicnn and Keras, weights included.

    from minicnn.keras_interop import to_keras, from_keras
    keras_model = to_keras(minicnn_model)      # keras.Sequential, same layers and weights
    model = from_keras(keras_model)            # minicnn Sequential, same layers and weights

Both sides keep inputs channels last, x (N, H, W, C), and the same weight layouts (conv
kernels (KH, KW, C_in, C_out), dense kernels (in, out), biases (out,)), so weights are copied
array by array (BatchNormalization: gamma, beta, moving_mean, moving_variance). Supported
layers: every kind in ``minicnn.layers.LAYERS`` (Conv2D and Dense with or without bias,
MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, BatchNormalization, Flatten, Dropout,
and the activations relu / sigmoid / softmax inside Conv2D and Dense or as layers; Keras's
``Activation(...)`` and ``Softmax`` layers too). Anything minicnn cannot
compute exactly raises a ValueError naming the layer and the option.

TensorFlow/Keras is optional: it is imported only when one of these functions is called.
"""
import warnings

import numpy as np

from . import layers as mc
from .model import Sequential

_INSTALL_HINT = ("install the optional extra from the minicnn checkout: pip install -e "
                 "'.[keras]' (PyPI's 'minicnn' is a different project)")
_KERAS_ACTIVATIONS = {"linear": None, None: None, "relu": "relu", "sigmoid": "sigmoid",
                      "softmax": "softmax"}
_FLOAT_DTYPES = ("float32", "float64")


def _import_keras():
    """The ``keras`` module (Keras 3, from the ``keras`` extra), or a clear ImportError."""
    try:
        import keras
    except ImportError as exc:
        raise ImportError("minicnn.keras_interop needs TensorFlow/Keras, which is not "
                          f"installed; {_INSTALL_HINT}") from exc
    return keras


def _keras_name(name):
    """Keras forbids '/' in layer and model names."""
    return None if name is None else str(name).replace("/", "_")


# -- minicnn -> Keras -------------------------------------------------------------------------
def _window_args(layer):
    return {"strides": layer.strides, "padding": layer.padding}


#: minicnn layer class -> the Keras layer computing the same (weights not yet set); ``kw``
#: holds the name and dtype.
_TO_KERAS = {
    mc.Conv2D: lambda kl, layer, kw: kl.Conv2D(
        layer.filters, layer.kernel_size, activation=layer.activation.name,
        use_bias=layer.use_bias, **_window_args(layer), **kw),
    mc.Dense: lambda kl, layer, kw: kl.Dense(layer.units, activation=layer.activation.name,
                                             use_bias=layer.use_bias, **kw),
    mc.MaxPooling2D: lambda kl, layer, kw: kl.MaxPooling2D(layer.pool_size,
                                                           **_window_args(layer), **kw),
    mc.AveragePooling2D: lambda kl, layer, kw: kl.AveragePooling2D(layer.pool_size,
                                                                   **_window_args(layer), **kw),
    mc.GlobalAveragePooling2D: lambda kl, layer, kw: kl.GlobalAveragePooling2D(**kw),
    mc.BatchNormalization: lambda kl, layer, kw: kl.BatchNormalization(
        momentum=layer.momentum, epsilon=layer.epsilon, center=layer.center,
        scale=layer.scale, **kw),
    mc.Flatten: lambda kl, layer, kw: kl.Flatten(**kw),
    mc.Dropout: lambda kl, layer, kw: kl.Dropout(layer.rate, seed=layer.seed, **kw),
    mc.ReLU: lambda kl, layer, kw: kl.ReLU(**kw),
    mc.Sigmoid: lambda kl, layer, kw: kl.Activation("sigmoid", **kw),
    mc.Softmax: lambda kl, layer, kw: kl.Softmax(axis=-1, **kw),
}


def _to_keras_layer(keras, layer):
    """The Keras layer computing what ``layer`` computes (weights not yet set)."""
    make = _TO_KERAS.get(type(layer))
    if make is None:
        raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}): no Keras equivalent "
                         f"is known to minicnn.keras_interop")
    return make(keras.layers, layer, {"name": _keras_name(layer.name),
                                      "dtype": layer.dtype.name})


def to_keras(model):
    """The equivalent ``keras.Sequential`` of a minicnn ``Sequential``, weights copied.

    ``keras.Input(model.input_shape)`` comes first, then one Keras layer per minicnn layer
    with the same name, type and arguments. Inputs x (N, *input_shape) give the same
    outputs (N, *output_shape) in both, up to float rounding. The Keras model is not
    compiled. Builds ``model`` first if needed (with its seed).
    """
    keras = _import_keras()
    if not isinstance(model, Sequential):
        raise TypeError(f"to_keras expects a minicnn Sequential, got {type(model).__name__}")
    if not model.built:
        model.build()
    first_dtype = model.layers[0].dtype.name
    converted = [_to_keras_layer(keras, layer) for layer in model.layers]
    keras_model = keras.Sequential(
        [keras.Input(shape=model.input_shape, dtype=first_dtype)] + converted,
        name=_keras_name(model.name))
    for layer, keras_layer in zip(model.layers, converted):
        if layer.weights():
            keras_layer.set_weights([store[key] for store, key in layer.weights()])
    return keras_model


# -- Keras -> minicnn -------------------------------------------------------------------------
class _Checker:
    """Raises ValueError naming the Keras layer and the option minicnn cannot reproduce."""

    def __init__(self, layer):
        self.layer = layer
        self.config = layer.get_config()

    def fail(self, option, value, why):
        raise ValueError(f"Keras layer {self.layer.name!r} ({type(self.layer).__name__}): "
                         f"{option}={value!r} is not supported by minicnn ({why})")

    def require(self, option, allowed, why):
        value = self.config.get(option, getattr(self.layer, option, None))
        if isinstance(value, list):
            value = tuple(value)
        if value not in allowed:
            self.fail(option, value, why)
        return value

    def activation(self, option="activation"):
        value = self.config.get(option)
        if not isinstance(value, (str, type(None))) or value not in _KERAS_ACTIVATIONS:
            self.fail(option, value, "only relu, sigmoid, softmax and linear are")
        return _KERAS_ACTIVATIONS[value]

    def dtype(self):
        policy = getattr(self.layer, "dtype_policy", None)
        compute = getattr(policy, "compute_dtype", self.layer.dtype)
        variable = getattr(policy, "variable_dtype", self.layer.dtype)
        if compute != variable or compute not in _FLOAT_DTYPES:
            self.fail("dtype", getattr(policy, "name", compute),
                      "float32 or float64 only, no mixed precision")
        return compute

    def weighted(self):
        """Options shared by Conv2D and Dense; returns ``{"use_bias", "dtype"}``."""
        for option in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
            self.require(option, (None,), "regularisers would change the loss")
        for option in ("kernel_constraint", "bias_constraint"):
            self.require(option, (None,), "constraints would change training")
        if getattr(self.layer, "lora_enabled", False):
            self.fail("lora_rank", getattr(self.layer, "lora_rank", None), "no LoRA")
        mode = getattr(self.layer, "quantization_mode", None)
        if mode:
            self.fail("quantization_mode", mode, "float weights only")
        return {"use_bias": bool(self.layer.use_bias), "dtype": self.dtype()}

    def window(self):
        """Options shared by the pooling layers; returns their minicnn arguments."""
        self.channels_last()
        return {"pool_size": tuple(self.layer.pool_size), "strides": tuple(self.layer.strides),
                "padding": self.layer.padding, "dtype": self.dtype()}

    def channels_last(self):
        self.require("data_format", ("channels_last", None),
                     "inputs are (N, H, W, C), channels last")

    def common(self):
        if not self.layer.trainable:
            warnings.warn(f"Keras layer {self.layer.name!r} is frozen (trainable=False); "
                          f"minicnn trains every layer", UserWarning, stacklevel=4)


def _conv2d(layer, check):
    check.channels_last()
    check.require("dilation_rate", ((1, 1), 1), "no dilated convolutions")
    check.require("groups", (1,), "no grouped convolutions")
    return mc.Conv2D(layer.filters, tuple(layer.kernel_size), strides=tuple(layer.strides),
                     padding=layer.padding, activation=check.activation(), **check.weighted())


def _batch_normalization(layer, check):
    axis = check.config.get("axis", -1)
    last = len(layer.input.shape) - 1 if hasattr(layer, "input") else None
    if axis not in (-1, [-1], last, [last]):
        check.fail("axis", axis, "channels last (axis=-1) only")
    for option in ("renorm", "synchronized"):
        check.require(option, (False, None), "plain batch normalisation only")
    for option in ("beta_regularizer", "gamma_regularizer", "beta_constraint",
                   "gamma_constraint"):
        check.require(option, (None,), "regularisers and constraints would change training")
    return mc.BatchNormalization(momentum=layer.momentum, epsilon=layer.epsilon,
                                 center=layer.center, scale=layer.scale, dtype=check.dtype())


def _global_average_pooling2d(layer, check):
    check.channels_last()
    check.require("keepdims", (False,), "(N, C) outputs only")
    return mc.GlobalAveragePooling2D(dtype=check.dtype())


def _relu(layer, check):
    check.require("max_value", (None,), "plain relu only")
    check.require("negative_slope", (0, 0.0), "plain relu only")
    check.require("threshold", (0, 0.0), "plain relu only")
    return mc.ReLU()


def _softmax(layer, check):
    axis = check.config.get("axis", -1)
    try:
        last = len(layer.output.shape) - 1
    except (AttributeError, ValueError, TypeError):
        last = None
    if axis not in (-1, [-1], (-1,), last, [last], (last,)):
        check.fail("axis", axis, "softmax over the last axis only")
    return mc.Softmax()


def _activation(layer, check):
    activation = check.activation()
    if activation is None:
        check.fail("activation", check.config.get("activation"),
                   "a standalone identity activation has no minicnn layer")
    return {"relu": mc.ReLU, "sigmoid": mc.Sigmoid, "softmax": mc.Softmax}[activation]()


def _flatten(layer, check):
    check.channels_last()
    return mc.Flatten()


def _dropout(layer, check):
    check.require("noise_shape", (None,), "dropout masks are elementwise")
    return mc.Dropout(layer.rate, seed=layer.seed)


#: Keras layer class name -> ``convert(layer, check)``, the minicnn layer computing the same.
_FROM_KERAS = {
    "Conv2D": _conv2d,
    "Dense": lambda layer, check: mc.Dense(layer.units, activation=check.activation(),
                                           **check.weighted()),
    "MaxPooling2D": lambda layer, check: mc.MaxPooling2D(**check.window()),
    "AveragePooling2D": lambda layer, check: mc.AveragePooling2D(**check.window()),
    "GlobalAveragePooling2D": _global_average_pooling2d,
    "BatchNormalization": _batch_normalization,
    "Flatten": _flatten,
    "Dropout": _dropout,
    "ReLU": _relu,
    "Softmax": _softmax,
    "Activation": _activation,
}


def _from_keras_layer(keras, layer):
    """The minicnn layer computing what the Keras ``layer`` computes, or None to skip it."""
    kind = type(layer).__name__
    if kind == "InputLayer":
        return None
    convert = _FROM_KERAS.get(kind)
    if convert is None or type(layer) is not getattr(keras.layers, kind, None):
        raise ValueError(f"Keras layer {layer.name!r} ({kind}): this layer type is not "
                         f"supported by minicnn ({', '.join(_FROM_KERAS)} are)")
    check = _Checker(layer)
    check.common()
    converted = convert(layer, check)
    converted.name = layer.name
    return converted


def from_keras(keras_model):
    """The equivalent minicnn ``Sequential`` of a ``keras.Sequential``, weights copied.

    The Keras model must know its input shape (start it with ``keras.Input(shape)`` or
    build it); that shape, (H, W, C) channels last or (features,), becomes minicnn's
    ``Input``. Layer names are kept. The result is built and uncompiled. Raises ValueError
    for a layer type or option minicnn cannot reproduce exactly.
    """
    keras = _import_keras()
    if not isinstance(keras_model, keras.Sequential):
        raise TypeError(f"from_keras expects a keras.Sequential model, got "
                        f"{type(keras_model).__name__}")
    try:
        input_shape = keras_model.input_shape
    except (AttributeError, ValueError) as exc:
        raise ValueError(f"the Keras model {keras_model.name!r} has no input shape yet; start "
                         f"it with keras.Input(shape) or call build()") from exc
    if isinstance(input_shape, list) or any(d is None for d in input_shape[1:]):
        raise ValueError(f"the Keras model {keras_model.name!r} needs one fully known input "
                         f"shape, got {input_shape}")
    converted = [(layer, _from_keras_layer(keras, layer)) for layer in keras_model.layers]
    converted = [(k, m) for k, m in converted if m is not None]
    model = Sequential([mc.Input(tuple(input_shape[1:]))] + [m for _, m in converted],
                       name=keras_model.name)
    model.build()
    weights = []
    for keras_layer, layer in converted:
        weights += [np.asarray(w) for w in keras_layer.get_weights()]
    model.set_weights(weights)
    return model
