"""Layer pairs that the Numba tier runs as one step: Conv2D(relu) followed by
MaxPooling2D(2x2), the thesis CNN's three blocks (the kernels and their equations are in
``minicnn/kernels/fused.py``).

``Sequential.forward`` asks :func:`forward_steps` for its steps; each follows the
:class:`minicnn.layers.Step` contract (a layer does, and so does :class:`ConvReluMaxPool`
through the layers' public hooks ``check_input``, ``forget`` and ``store_grads``). The naive
and numpy tiers, and any pass that needs each layer's output (``keep=True``: explain,
explore), run the layers one by one: they are the reference the fused step is tested
against.
"""
from . import kernels
from .backend import resolve
from .kernels import fused
from .kernels.geometry import pad_hw, window_plan
from .layers import Conv2D, MaxPooling2D


class ConvReluMaxPool:
    """Conv2D(activation='relu') + MaxPooling2D(2, strides=2, 'valid') as one step:
    x (N, H, W, C_in) -> (N, H_out // 2, W_out // 2, filters).

    With at most four input channels and stride 1 (a gray or RGB first layer) one Numba
    pass computes the pooled output and never writes the convolution's map; nor does
    Winograd, which pools each output tile in its output transform. Otherwise (im2col) the
    convolution runs as usual and the pooling follows. Either way the pooling keeps one byte
    per output saying where its maximum was, so backward rebuilds dz from it directly (no
    second search for the maximum, no separate ReLU mask) and the full map is not kept
    between the passes.
    """

    def __init__(self, conv, pool):
        self.conv, self.pool = conv, pool
        self.layers, self.name = (conv, pool), f"{conv.name}+{pool.name}"
        self._x = self._xp = self._pads = self._argmax = None
        self._training = False

    @staticmethod
    def fits(conv, pool):
        """True when the pair is a Conv2D with ReLU and a 2x2, stride-2, 'valid' max-pool."""
        return (isinstance(conv, Conv2D) and isinstance(pool, MaxPooling2D)
                and conv.activation.name == "relu" and conv.built
                and pool.pool_size == pool.strides == (2, 2) and pool.padding == "valid"
                and conv.dtype == pool.dtype)

    @property
    def _direct(self):
        """True when the one-pass kernel applies (few input channels, stride 1)."""
        return self.conv.input_shape[-1] <= fused.MAX_CHANNELS and self.conv.strides == (1, 1)

    def forward(self, x, training=False):
        conv = self.conv
        self._x, self._training = conv.check_input(x), training
        kernel, bias = conv.params["kernel"], conv.bias_or_zeros()
        if self._direct:
            self._pads, _ = window_plan(self._x.shape, conv.kernel_size, conv.strides,
                                        conv.padding)
            self._xp = pad_hw(self._x, self._pads)
            y, self._argmax = fused.conv_relu_maxpool_forward(self._xp, kernel, bias)
        else:
            y, self._argmax = fused.conv_relu_maxpool(self._x, kernel, bias, conv.strides,
                                                      conv.padding)
        conv.forget()                            # nothing stale (or 179 MB) kept behind
        self.pool.forget()
        return y

    def backward(self, dy, need_dx=True):
        conv = self.conv
        if self._argmax is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        if self._direct and not need_dx:         # the first layer: straight to dkernel
            conv.store_grads(*fused.conv_relu_maxpool_kernel_grad(
                self._xp, self._argmax, dy, conv.kernel_size))
            return None
        dz = fused.unpool_gradient(self._argmax, dy, conv.output_shape[:2])
        dx, dkernel, dbias = kernels.conv2d_backward(self._x, conv.params["kernel"], dz,
                                                     conv.strides, conv.padding, need_dx)
        conv.store_grads(dkernel, dbias)
        return dx

    backward_from_logits = backward           # the pooling's activation is the identity

    def layer_by_layer(self, index):
        """Run the last forward again through the two layers (filling their caches) and
        return them as steps ``[(index, conv), (index + 1, pool)]``."""
        self.pool.forward(self.conv.forward(self._x, self._training), self._training)
        return [(index, self.conv), (index + 1, self.pool)]


def forward_steps(layers):
    """``[(index of the step's first layer, step), ...]`` covering ``layers`` in order:
    the layers themselves, except that fusable pairs become one :class:`ConvReluMaxPool`
    (Numba tier only)."""
    steps, i = [], 0
    while i < len(layers):
        if (resolve() == "numba" and i + 1 < len(layers)
                and ConvReluMaxPool.fits(layers[i], layers[i + 1])):
            steps.append((i, ConvReluMaxPool(layers[i], layers[i + 1])))
            i += 2
        else:
            steps.append((i, layers[i]))
            i += 1
    return steps


def split_at(steps, start):
    """``steps`` where a fused step that layer ``start`` falls inside is replaced by its two
    layers, run again (so a backward, e.g. explain's, can stop between them)."""
    out = []
    for i, step in steps:
        if isinstance(step, ConvReluMaxPool) and start == i + 1:
            out += step.layer_by_layer(i)
        else:
            out.append((i, step))
    return out
