"""The layers of the thesis CNN and friends: Input, Conv2D, MaxPooling2D, Flatten, Dense,
Dropout and the standalone activations ReLU, Sigmoid, Softmax."""
import numpy as np

from .. import kernels
from ..initializers import glorot_uniform, zeros
from ..kernels.geometry import output_length
from ..validation import int_pair, padding as check_padding, positive_int
from .base import Layer


class Input(Layer):
    """Declares the per-sample input shape, e.g. ``Input((150, 150, 1))``; passes x through."""

    name_prefix = "input"

    def __init__(self, shape, name=None):
        super().__init__(name=name)
        self.shape = tuple(positive_int(d, "shape entry") for d in shape)
        self.build(self.shape)

    def get_config(self):
        return {"name": self.name, "shape": list(self.shape)}


class Conv2D(Layer):
    """2-D convolution (cross-correlation) + bias + activation; thesis eq. (1)-(2) per window.

    x (N, H, W, C_in) -> (N, H_out, W_out, filters); kernel (KH, KW, C_in, filters),
    bias (filters,); H_out = (H + pad_total - KH) // stride + 1.
    """

    name_prefix = "conv2d"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None,
                 name=None, dtype="float32"):
        super().__init__(activation, name, dtype)
        self.filters = positive_int(filters, "filters")
        self.kernel_size = int_pair(kernel_size, "kernel_size")
        self.strides = int_pair(strides, "strides")
        self.padding = check_padding(padding)

    def _build(self, input_shape, rng):
        if len(input_shape) != 3:
            raise ValueError(f"{self.name}: Conv2D needs inputs of shape (H, W, C) per sample, "
                             f"got {input_shape}")
        (h, w, c), (kh, kw), (sh, sw) = input_shape, self.kernel_size, self.strides
        out = (output_length(h, kh, sh, self.padding), output_length(w, kw, sw, self.padding))
        self.params = {"kernel": glorot_uniform((kh, kw, c, self.filters), rng, self.dtype),
                       "bias": zeros((self.filters,), dtype=self.dtype)}
        return out + (self.filters,)

    def _forward(self, x, training):
        if self.activation.name != "relu":
            return super()._forward(x, training)
        p = self.params              # conv + bias + ReLU in one pass; z is not kept
        return None, kernels.conv2d_forward(x, p["kernel"], p["bias"], self.strides,
                                            self.padding, relu=True)

    def _forward_linear(self, x, training):
        p = self.params
        return kernels.conv2d_forward(x, p["kernel"], p["bias"], self.strides, self.padding)

    def _backward_linear(self, x, dz, need_dx):
        dx, self.grads["kernel"], self.grads["bias"] = kernels.conv2d_backward(
            x, self.params["kernel"], dz, self.strides, self.padding, need_dx)
        return dx

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding}


class MaxPooling2D(Layer):
    """Max-pooling: x (N, H, W, C) -> (N, H_out, W_out, C); strides default to pool_size."""

    name_prefix = "max_pooling2d"

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None):
        super().__init__(name=name)
        self.pool_size = int_pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else int_pair(strides, "strides")
        self.padding = check_padding(padding)

    def _build(self, input_shape, rng):
        if len(input_shape) != 3:
            raise ValueError(f"{self.name}: MaxPooling2D needs inputs of shape (H, W, C) per "
                             f"sample, got {input_shape}")
        h, w, c = input_shape
        return (output_length(h, self.pool_size[0], self.strides[0], self.padding),
                output_length(w, self.pool_size[1], self.strides[1], self.padding), c)

    def _forward_linear(self, x, training):
        return kernels.maxpool2d_forward(x, self.pool_size, self.strides, self.padding)

    def _backward_linear(self, x, dz, need_dx):
        return kernels.maxpool2d_backward(x, dz, self.pool_size, self.strides, self.padding)

    def get_config(self):
        return {"name": self.name, "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding}


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), row-major like Keras (channels last)."""

    name_prefix = "flatten"

    def __init__(self, name=None):
        super().__init__(name=name)

    def _build(self, input_shape, rng):
        return (int(np.prod(input_shape)),)

    def _forward_linear(self, x, training):
        return x.reshape(x.shape[0], -1)

    def _backward_linear(self, x, dz, need_dx):
        return dz.reshape(x.shape)

    def get_config(self):
        return {"name": self.name}


class Dense(Layer):
    """Fully connected: y = phi(x . kernel + bias), thesis eq. (1)-(2) for each neuron.

    x (N, in) -> (N, units); kernel (in, units), bias (units,).
    """

    name_prefix = "dense"

    def __init__(self, units, activation=None, name=None, dtype="float32"):
        super().__init__(activation, name, dtype)
        self.units = positive_int(units, "units")

    def _build(self, input_shape, rng):
        if len(input_shape) != 1:
            raise ValueError(f"{self.name}: Dense needs flat inputs (features,) per sample, got "
                             f"{input_shape}; put a Flatten layer before it")
        self.params = {"kernel": glorot_uniform((input_shape[0], self.units), rng, self.dtype),
                       "bias": zeros((self.units,), dtype=self.dtype)}
        return (self.units,)

    def _forward_linear(self, x, training):
        return kernels.dense_forward(x, self.params["kernel"], self.params["bias"])

    def _backward_linear(self, x, dz, need_dx):
        dx, self.grads["kernel"], self.grads["bias"] = kernels.dense_backward(
            x, self.params["kernel"], dz)
        return dx

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Dropout(Layer):
    """Inverted dropout: in training each value is zeroed with probability ``rate`` and the
    rest scaled by 1 / (1 - rate); at inference the identity. Any shape."""

    name_prefix = "dropout"

    def __init__(self, rate, seed=None, name=None):
        super().__init__(name=name)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate}")
        self.rate, self.seed = float(rate), seed
        self._rng = np.random.default_rng(seed)
        self._scale = None

    def _build(self, input_shape, rng):
        if self.seed is None:           # inside a model: masks follow the model's seed
            self._rng = np.random.default_rng(rng.integers(2**63))
        return input_shape

    def _forward_linear(self, x, training):
        if not training or self.rate == 0:
            self._scale = None
            return x
        keep = self._rng.random(x.shape) >= self.rate
        self._scale = keep.astype(x.dtype) / x.dtype.type(1 - self.rate)
        return x * self._scale

    def _backward_linear(self, x, dz, need_dx):
        return dz if self._scale is None else dz * self._scale

    def get_config(self):
        return {"name": self.name, "rate": self.rate, "seed": self.seed}


class _ActivationLayer(Layer):
    """A layer that is only its activation."""

    def __init__(self, name=None):
        super().__init__(self.activation_name, name)

    def get_config(self):
        return {"name": self.name}


class ReLU(_ActivationLayer):
    """f(x) = max(0, x), elementwise; any shape."""
    name_prefix = activation_name = "relu"


class Sigmoid(_ActivationLayer):
    """Thesis eq. (3), 1 / (1 + e^-z), elementwise; any shape."""
    name_prefix = activation_name = "sigmoid"


class Softmax(_ActivationLayer):
    """Softmax over the last axis: (N, K) logits -> (N, K) probabilities."""
    name_prefix = activation_name = "softmax"
