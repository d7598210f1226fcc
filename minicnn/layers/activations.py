"""Named activations used inside layers: None (identity), "relu", "sigmoid", "softmax"."""
from .. import kernels


def _identity(z):
    return z


def _identity_backward(y, dy):
    return dy


#: name -> (forward(z) -> y, backward(y, dy) -> dz). Every backward is given the activation's
#: *output* y: sigmoid and softmax need only y, and for ReLU y > 0 exactly where z > 0, so y
#: can stand in for ``relu_backward``'s x. A layer may then compute y without keeping z.
ACTIVATIONS = {
    None: (_identity, _identity_backward),
    "relu": (kernels.relu, kernels.relu_backward),
    "sigmoid": (kernels.sigmoid, kernels.sigmoid_backward),
    "softmax": (kernels.softmax, kernels.softmax_backward),
}


class Activation:
    """An activation phi with ``forward(z) -> y`` and ``backward(y, dy) -> dz``.

    phi is applied after the layer's own operation, y = phi(z) (thesis eq. (2)); any shape,
    softmax over the last axis.
    """

    def __init__(self, name=None):
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; choose one of {tuple(ACTIVATIONS)}")
        self.name = name
        self.forward, self.backward = ACTIVATIONS[name]

    def __repr__(self):
        return f"Activation({self.name!r})"
