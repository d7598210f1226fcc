"""Named activations used inside layers: None (identity), "relu", "sigmoid", "softmax"."""
from .. import kernels

ACTIVATIONS = (None, "relu", "sigmoid", "softmax")


class Activation:
    """An activation phi with ``forward(z) -> y`` and ``backward(y, dy) -> dz``.

    phi is applied after the layer's linear part, y = phi(z) (thesis eq. (2)); any shape,
    softmax over the last axis. Every backward needs only the output y (for ReLU, y > 0
    exactly where z > 0), so a layer may compute y without keeping z.
    """

    def __init__(self, name=None):
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; choose one of {ACTIVATIONS}")
        self.name = name

    def forward(self, z):
        if self.name is None:
            return z
        return getattr(kernels, self.name)(z)

    def backward(self, y, dy):
        if self.name is None:
            return dy
        return getattr(kernels, self.name + "_backward")(y, dy)

    def __repr__(self):
        return f"Activation({self.name!r})"
