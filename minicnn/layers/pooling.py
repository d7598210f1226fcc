"""Pooling layers: MaxPooling2D (the thesis's), AveragePooling2D, GlobalAveragePooling2D."""
from .. import kernels
from ..validation import int_pair, padding as check_padding
from .base import Layer, Window, register


class _Pooling2D(Layer):
    """A window slid over (H, W), channel by channel: x (N, H, W, C) -> (N, H_out, W_out, C);
    strides default to pool_size."""

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None, dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        self.pool_size = int_pair(pool_size, f"{self.name}: pool_size")
        self.strides = (self.pool_size if strides is None
                        else int_pair(strides, f"{self.name}: strides"))
        self.padding = check_padding(padding)

    @property
    def window(self):
        return Window(self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape):
        self._require_rank(input_shape, 3, "(H, W, C)")
        return self._window_output_hw(input_shape) + (input_shape[2],)

    def _op_forward(self, x, training):
        return self.kernel_forward(x, self.pool_size, self.strides, self.padding)

    def _op_backward(self, x, dz, need_dx):
        return self.kernel_backward(x, dz, self.pool_size, self.strides, self.padding)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding}


@register
class MaxPooling2D(_Pooling2D):
    """Max-pooling: each output is the largest value of its window (the thesis's pooling)."""

    name_prefix = "max_pooling2d"
    kernel_forward = staticmethod(kernels.maxpool2d_forward)
    kernel_backward = staticmethod(kernels.maxpool2d_backward)


@register
class AveragePooling2D(_Pooling2D):
    """Average pooling: each output is the mean of its window's cells inside the image
    ('same' padding never averages in the padding, as Keras)."""

    name_prefix = "average_pooling2d"
    kernel_forward = staticmethod(kernels.avgpool2d_forward)
    kernel_backward = staticmethod(kernels.avgpool2d_backward)


@register
class GlobalAveragePooling2D(Layer):
    """The mean of each feature map: x (N, H, W, C) -> (N, C). In place of Flatten it turns
    (15, 15, 64) maps into 64 numbers instead of 14,400."""

    name_prefix = "global_average_pooling2d"

    def __init__(self, name=None, dtype="float32"):
        super().__init__(name=name, dtype=dtype)

    def compute_output_shape(self, input_shape):
        self._require_rank(input_shape, 3, "(H, W, C)")
        return (input_shape[2],)

    def _op_forward(self, x, training):
        return kernels.global_avgpool2d_forward(x)

    def _op_backward(self, x, dz, need_dx):
        return kernels.global_avgpool2d_backward(x, dz)
