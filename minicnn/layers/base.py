"""The Layer base class: a thin object over pure kernel functions.

Every layer computes y = phi(linear(x)): a linear part (convolution, dense, pooling, reshape
or the identity) followed by an activation phi (thesis eq. (2); identity when None). Shapes
given to ``build`` leave out the batch axis; arrays passed to ``forward`` have it first.
"""
import itertools
from collections import defaultdict

import numpy as np

from .activations import Activation

_name_counters = defaultdict(itertools.count)


def _unique_name(prefix):
    n = next(_name_counters[prefix])
    return prefix if n == 0 else f"{prefix}_{n}"


class Layer:
    """Base layer.

    Attributes: ``params`` and ``grads`` (dicts keyed "kernel" / "bias" as Keras; the arrays
    may be replaced, e.g. by float64 ones for gradient checks), ``input_shape`` and
    ``output_shape`` (without the batch axis), ``name``, ``activation``.
    ``backward`` overwrites ``grads`` and returns dx; it never changes dy.
    """

    name_prefix = "layer"

    def __init__(self, activation=None, name=None, dtype="float32"):
        self.activation = Activation(activation)
        self.name = name or _unique_name(self.name_prefix)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        self.params, self.grads = {}, {}
        self.input_shape = self.output_shape = None
        self._cache = None

    # -- building -------------------------------------------------------------------------
    @property
    def built(self):
        return self.input_shape is not None

    def build(self, input_shape, rng=None):
        """Create the parameters for inputs of ``input_shape`` (no batch axis).

        ``rng``: a seed or ``np.random.Generator`` for the initial weights.
        Returns the output shape (no batch axis).
        """
        input_shape = tuple(int(d) for d in input_shape)
        if any(d < 1 for d in input_shape):
            raise ValueError(f"{self.name}: input shape must be positive, got {input_shape}")
        self.output_shape = tuple(self._build(input_shape, np.random.default_rng(rng)))
        self.input_shape = input_shape
        return self.output_shape

    def _build(self, input_shape, rng):
        """Create params; return the output shape. Layers without weights only check shapes."""
        return input_shape

    def count_params(self):
        """Number of scalar parameters."""
        return int(sum(p.size for p in self.params.values()))

    # -- passes ---------------------------------------------------------------------------
    def forward(self, x, training=False):
        """y = phi(linear(x)); x (N, *input_shape) -> y (N, *output_shape)."""
        x = self._check_input(x)
        z, y = self._forward(x, training)
        self._cache = (x, z, y)
        return y

    def backward(self, dy, need_dx=True):
        """dL/dx from dy = dL/dy (N, *output_shape); fills ``grads``.

        ``need_dx=False`` (a model's first layer) may skip dL/dx and return None.
        """
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        x, z, y = self._cache
        dy = np.asarray(dy)
        if dy.shape != y.shape:
            raise ValueError(f"{self.name}: dy has shape {dy.shape}, expected the output "
                             f"shape {y.shape}")
        return self._backward_linear(x, self.activation.backward(y, dy), need_dx)

    def backward_from_logits(self, dz, need_dx=True):
        """dL/dx from dz = dL/dz, the gradient at the activation's input (the logits).

        Used when a softmax or sigmoid is followed by its own cross-entropy, whose gradient
        with respect to the logits, (p - y) / N, is simple and exact (as Keras does).
        """
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        return self._backward_linear(self._cache[0], np.asarray(dz), need_dx)

    @property
    def logits(self):
        """The last forward's activation input z (before phi); None when the layer fused its
        activation into the linear part (Conv2D with ReLU) and never kept z."""
        return None if self._cache is None else self._cache[1]

    def _forward(self, x, training):
        """``(z, y)``: the linear part z and y = phi(z). Layers may fuse the two (z None)."""
        z = self._forward_linear(x, training)
        return z, self.activation.forward(z)

    def _forward_linear(self, x, training):
        return x

    def _backward_linear(self, x, dz, need_dx):
        return dz

    # -- helpers --------------------------------------------------------------------------
    def _compute_dtype(self, x):
        """The parameters' dtype, or the input's own float dtype for layers without any."""
        if self.params:
            return next(iter(self.params.values())).dtype
        return x.dtype if x.dtype in (np.float32, np.float64) else self.dtype

    def _check_input(self, x):
        """Array of the compute dtype, checked against the built input shape (built if needed)."""
        x = np.asarray(x)
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise TypeError(f"{self.name}: input must hold numbers, got dtype {x.dtype}")
        if not self.built:
            if x.ndim < 2:
                raise ValueError(f"{self.name}: input needs a batch axis, got shape {x.shape}")
            self.build(x.shape[1:])
        expected = (x.shape[0],) + self.input_shape
        if x.shape != expected:
            hint = ""
            if x.ndim == len(expected) and x.shape[-1] != expected[-1]:
                hint = (f" (it has {x.shape[-1]} channels/features where the layer was built "
                        f"for {expected[-1]})")
            elif x.ndim != len(expected):
                hint = f" (rank {x.ndim} where {len(expected)} is expected)"
            raise ValueError(f"{self.name}: expected input of shape (N, "
                             f"{', '.join(map(str, self.input_shape))}), got {x.shape}{hint}")
        return x.astype(self._compute_dtype(x), copy=False)

    def get_config(self):
        """Constructor arguments, enough to rebuild the layer (weights excluded)."""
        return {"name": self.name, "activation": self.activation.name}

    def __repr__(self):
        return (f"{type(self).__name__}(name={self.name!r}, input_shape={self.input_shape}, "
                f"output_shape={self.output_shape})")
