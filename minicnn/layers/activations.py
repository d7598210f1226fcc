"""Named activations used inside layers: None (identity), "relu", "sigmoid", "softmax"."""
from .. import kernels

ACTIVATIONS = (None, "relu", "sigmoid", "softmax")


class Activation:
    """An activation phi with ``forward(z) -> y`` and ``backward(z, y, dy) -> dz``.

    phi is applied after the layer's linear part, y = phi(z) (thesis eq. (2)); any shape,
    softmax over the last axis.
    """

    def __init__(self, name=None):
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; choose one of {ACTIVATIONS}")
        self.name = name

    def forward(self, z):
        if self.name is None:
            return z
        return getattr(kernels, self.name)(z)

    def backward(self, z, y, dy):
        if self.name is None:
            return dy
        if self.name == "relu":
            return kernels.relu_backward(z, dy)
        return getattr(kernels, self.name + "_backward")(y, dy)

    def __repr__(self):
        return f"Activation({self.name!r})"
