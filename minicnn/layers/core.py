"""The layers of the thesis CNN and friends: Input, Conv2D, Flatten, Dense, Dropout and the
standalone activations ReLU, Sigmoid, Softmax."""
import numpy as np

from .. import kernels
from ..initializers import glorot_uniform, zeros
from ..validation import SettingError, int_pair, padding as check_padding, positive_int
from .base import Layer, Weight, Window, register


class Input:
    """Declares the per-sample input shape, e.g. ``Input((150, 150, 1))``; not a layer of the
    model's list (``Sequential`` takes its shape)."""

    def __init__(self, shape, name=None):
        self.name = name or "input"
        self.shape = tuple(positive_int(d, f"{self.name}: shape entry") for d in shape)

    def get_config(self):
        return {"name": self.name, "shape": list(self.shape)}


class _Weighted(Layer):
    """A layer with a kernel and an optional bias (Conv2D, Dense)."""

    def __init__(self, activation, use_bias, name, dtype):
        super().__init__(activation, name, dtype)
        if not isinstance(use_bias, bool):
            raise TypeError(f"{self.name}: use_bias must be True or False, got {use_bias!r}")
        self.use_bias = use_bias

    def _kernel_and_bias_specs(self, kernel_shape):
        specs = [Weight("kernel", kernel_shape, glorot_uniform, True)]
        if self.use_bias:
            specs.append(Weight("bias", kernel_shape[-1:], zeros, True))
        return specs

    def bias_or_zeros(self):
        """The bias (out,), or zeros when ``use_bias=False`` (the kernels always add one)."""
        kernel = self.params["kernel"]
        return self.params["bias"] if self.use_bias else np.zeros(kernel.shape[-1], kernel.dtype)

    def store_grads(self, dkernel, dbias):
        """Set ``grads`` from dkernel (kernel's shape) and dbias (filters,) (dbias dropped
        without a bias); public for steps that compute them (:mod:`minicnn.fusion`)."""
        self.grads["kernel"] = dkernel
        if self.use_bias:
            self.grads["bias"] = dbias

    def get_config(self):
        return {**super().get_config(), "activation": self.activation.name,
                "use_bias": self.use_bias}


@register
class Conv2D(_Weighted):
    """2-D convolution (cross-correlation) + bias + activation; thesis eq. (1)-(2) per window.

    x (N, H, W, C_in) -> (N, H_out, W_out, filters); kernel (KH, KW, C_in, filters),
    bias (filters,); H_out = (H + pad_total - KH) // stride + 1.
    """

    name_prefix = "conv2d"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None,
                 use_bias=True, name=None, dtype="float32"):
        super().__init__(activation, use_bias, name, dtype)
        self.filters = positive_int(filters, f"{self.name}: filters")
        self.kernel_size = int_pair(kernel_size, f"{self.name}: kernel_size")
        self.strides = int_pair(strides, f"{self.name}: strides")
        self.padding = check_padding(padding)

    @property
    def window(self):
        return Window(self.kernel_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape):
        self._require_rank(input_shape, 3, "(H, W, C)")
        return self._window_output_hw(input_shape) + (self.filters,)

    def weight_specs(self, input_shape):
        return self._kernel_and_bias_specs(self.kernel_size + (input_shape[-1], self.filters))

    def _forward(self, x, training):
        if self.activation.name != "relu":
            return super()._forward(x, training)
        # conv + bias + ReLU in one pass; z is not kept
        return None, kernels.conv2d_forward(x, self.params["kernel"], self.bias_or_zeros(),
                                            self.strides, self.padding, relu=True)

    def _op_forward(self, x, training):
        return kernels.conv2d_forward(x, self.params["kernel"], self.bias_or_zeros(), self.strides,
                                      self.padding)

    def _op_backward(self, x, dz, need_dx):
        dx, dkernel, dbias = kernels.conv2d_backward(x, self.params["kernel"], dz, self.strides,
                                                     self.padding, need_dx)
        self.store_grads(dkernel, dbias)
        return dx

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding}


@register
class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), row-major like Keras (channels last)."""

    name_prefix = "flatten"

    def __init__(self, name=None, dtype="float32"):
        super().__init__(name=name, dtype=dtype)

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def _op_forward(self, x, training):
        return x.reshape(x.shape[0], -1)

    def _op_backward(self, x, dz, need_dx):
        return dz.reshape(x.shape)


@register
class Dense(_Weighted):
    """Fully connected: y = phi(x . kernel + bias), thesis eq. (1)-(2) for each neuron.

    x (N, in) -> (N, units); kernel (in, units), bias (units,).
    """

    name_prefix = "dense"

    def __init__(self, units, activation=None, use_bias=True, name=None, dtype="float32"):
        super().__init__(activation, use_bias, name, dtype)
        self.units = positive_int(units, f"{self.name}: units")

    def compute_output_shape(self, input_shape):
        self._require_rank(input_shape, 1, "(features,)", "; put a Flatten layer before it")
        return (self.units,)

    def weight_specs(self, input_shape):
        return self._kernel_and_bias_specs((input_shape[0], self.units))

    def _op_forward(self, x, training):
        return kernels.dense_forward(x, self.params["kernel"], self.bias_or_zeros())

    def _op_backward(self, x, dz, need_dx):
        dx, dkernel, dbias = kernels.dense_backward(x, self.params["kernel"], dz)
        self.store_grads(dkernel, dbias)
        return dx

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@register
class Dropout(Layer):
    """Inverted dropout: in training each value is zeroed with probability ``rate`` and the
    rest scaled by 1 / (1 - rate); at inference the identity. Any shape."""

    name_prefix = "dropout"
    has_training_mode = True

    def __init__(self, rate, seed=None, name=None, dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        if not 0 <= rate < 1:
            raise SettingError(f"{self.name}: Dropout rate must be in [0, 1), got {rate}")
        self.rate, self.seed = float(rate), seed
        self._rng = np.random.default_rng(seed)
        self._scale = None

    def build(self, input_shape, rng=None):
        rng = np.random.default_rng(rng)
        output_shape = super().build(input_shape, rng)
        if self.seed is None:           # inside a model: masks follow the model's seed
            self._rng = np.random.default_rng(rng.integers(2**63))
        return output_shape

    def _op_forward(self, x, training):
        if not training or self.rate == 0:
            self._scale = None
            return x
        keep = self._rng.random(x.shape) >= self.rate
        self._scale = keep.astype(x.dtype) / x.dtype.type(1 - self.rate)
        return x * self._scale

    def _op_backward(self, x, dz, need_dx):
        return dz if self._scale is None else dz * self._scale

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class _ActivationLayer(Layer):
    """A layer that is only its activation."""

    def __init__(self, name=None, dtype="float32"):
        super().__init__(self.activation_name, name, dtype)


@register
class ReLU(_ActivationLayer):
    """f(x) = max(0, x), elementwise; any shape."""
    name_prefix = activation_name = "relu"


@register
class Sigmoid(_ActivationLayer):
    """Thesis eq. (3), 1 / (1 + e^-z), elementwise; any shape."""
    name_prefix = activation_name = "sigmoid"


@register
class Softmax(_ActivationLayer):
    """Softmax over the last axis: (N, K) logits -> (N, K) probabilities."""
    name_prefix = activation_name = "softmax"
