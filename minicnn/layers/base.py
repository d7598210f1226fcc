"""The Layer base class: the contract every minicnn layer follows.

A layer computes y = phi(op(x)): its own operation ``op`` (a convolution, a pooling, a
normalisation, a reshape, or the identity) followed by an activation phi (thesis eq. (2); the
identity when None). Shapes given to ``build`` leave out the batch axis; arrays passed to
``forward`` have it first.

Weights come in two dicts, keyed with Keras's names:

- ``params``: trainable ("kernel", "bias", "gamma", "beta"); ``backward`` fills ``grads``
  with the same keys, and only these reach the optimizer;
- ``state``: non-trainable ("moving_mean", "moving_variance"), changed by the forward pass
  in training mode, saved with the model and part of ``get_weights``.

A layer declares its weights in :meth:`Layer.weight_specs` and its output shape in
:meth:`Layer.compute_output_shape`; ``build`` creates the arrays. Both work from shapes alone,
so a model file can be checked before any array is allocated. ``docs/adding_a_layer.md``
has the checklist for a new layer.
"""
import itertools
from collections import defaultdict, namedtuple
from typing import Protocol, runtime_checkable

import numpy as np

from ..kernels.geometry import output_length
from ..validation import ShapeError
from .activations import Activation

#: One weight of a layer: its key, shape, ``initializer(shape, rng, dtype) -> array`` and
#: whether the optimizer trains it.
Weight = namedtuple("Weight", ["name", "shape", "initializer", "trainable"])

#: A sliding window's geometry, (rows, cols) pairs and 'valid' / 'same'; read by
#: :mod:`minicnn.explain` to place each output cell over the input.
Window = namedtuple("Window", ["size", "strides", "padding"])

#: Every layer kind by class name (filled by :func:`register`): model files and Keras
#: conversion look classes up here, and the test suite runs its checks on each.
LAYERS = {}

_name_counters = defaultdict(itertools.count)


@runtime_checkable
class Step(Protocol):
    """What ``Sequential``'s forward and backward traversals call on each step: a layer, or
    a fused pair of layers (:mod:`minicnn.fusion`).

    ``forward(x, training)`` returns y and keeps what its backward needs (the step's cache,
    replaced by the next forward); ``backward(dy, need_dx)`` fills the ``grads`` of the
    layers it covers and returns dL/dx (it may return None when ``need_dx`` is False: the
    model's first step); ``backward_from_logits(dz, need_dx)`` does the same from dL/dz at
    the last activation's input, for a softmax or sigmoid followed by its own cross-entropy.
    A step never changes dy. Hooks a fused step may use on the layers it covers:
    :meth:`Layer.check_input`, :meth:`Layer.forget` and the weighted layers' ``store_grads``.
    """

    name: str

    def forward(self, x, training=False): ...

    def backward(self, dy, need_dx=True): ...

    def backward_from_logits(self, dz, need_dx=True): ...


def register(cls):
    """Class decorator: make a Layer subclass known to model files and the test suite."""
    LAYERS[cls.__name__] = cls
    return cls


def _unique_name(prefix):
    n = next(_name_counters[prefix])
    return prefix if n == 0 else f"{prefix}_{n}"


class Layer:
    """Base layer.

    Attributes: ``params``, ``grads``, ``state`` (see the module docstring; arrays may be
    replaced, e.g. by float64 ones for gradient checks), ``input_shape`` and ``output_shape``
    (without the batch axis), ``name``, ``dtype``, ``activation``.
    ``backward`` overwrites ``grads`` and returns dx; it never changes dy.
    """

    name_prefix = "layer"
    #: True when ``training=True`` computes something else (Dropout, BatchNormalization).
    has_training_mode = False

    def __init__(self, activation=None, name=None, dtype="float32"):
        self.activation = Activation(activation)
        self.name = name or _unique_name(self.name_prefix)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"{self.name}: dtype must be float32 or float64, got {self.dtype}")
        self.params, self.grads, self.state = {}, {}, {}
        self.input_shape = self.output_shape = None
        self._cache = None

    # -- declaring and building -----------------------------------------------------------
    def compute_output_shape(self, input_shape):
        """Output shape (no batch axis) for ``input_shape``; raises ShapeError for inputs the
        layer cannot take. The base keeps the shape."""
        return input_shape

    def weight_specs(self, input_shape):
        """The layer's weights for ``input_shape`` as :data:`Weight` tuples, in Keras's
        ``get_weights`` order (trainable first). The base has none."""
        return []

    @property
    def window(self):
        """The :data:`Window` of a layer that slides one over (H, W), else None."""
        return None

    @property
    def built(self):
        return self.input_shape is not None

    def build(self, input_shape, rng=None):
        """Create the weights for inputs of ``input_shape`` (no batch axis).

        ``rng``: a seed or ``np.random.Generator`` for the initial weights.
        Returns the output shape (no batch axis).
        """
        input_shape = tuple(int(d) for d in input_shape)
        if any(d < 1 for d in input_shape):
            raise ShapeError(f"{self.name}: input shape must be positive, got {input_shape}")
        output_shape = tuple(int(d) for d in self.compute_output_shape(input_shape))
        rng = np.random.default_rng(rng)
        self.params, self.state, self.grads = {}, {}, {}
        for w in self.weight_specs(input_shape):
            store = self.params if w.trainable else self.state
            store[w.name] = w.initializer(w.shape, rng, self.dtype)
        self.input_shape, self.output_shape = input_shape, output_shape
        return output_shape

    def weights(self):
        """``[(store, key), ...]`` for every weight in Keras's order: params, then state."""
        return [(self.params, k) for k in self.params] + [(self.state, k) for k in self.state]

    def count_params(self, trainable=None):
        """Number of scalar weights: all (None), trainable only (True) or the rest (False)."""
        stores = {None: (self.params, self.state), True: (self.params,),
                  False: (self.state,)}[trainable]
        return int(sum(a.size for store in stores for a in store.values()))

    # -- passes ---------------------------------------------------------------------------
    def forward(self, x, training=False):
        """y = phi(op(x)); x (N, *input_shape) -> y (N, *output_shape)."""
        x = self.check_input(x)
        self._training = bool(training)
        z, y = self._forward(x, self._training)
        self._cache = (x, z, y)
        return y

    def backward(self, dy, need_dx=True):
        """dL/dx from dy = dL/dy (N, *output_shape); fills ``grads``.

        ``need_dx=False`` (a model's first layer) may skip dL/dx and return None.
        """
        x, _, y = self._require_cache()
        dy = np.asarray(dy)
        if dy.shape != y.shape:
            raise ShapeError(f"{self.name}: dy has shape {dy.shape}, expected the output "
                             f"shape {y.shape}")
        return self._op_backward(x, self.activation.backward(y, dy), need_dx)

    def backward_from_logits(self, dz, need_dx=True):
        """dL/dx from dz = dL/dz, the gradient at the activation's input (the logits).

        Used when a softmax or sigmoid is followed by its own cross-entropy, whose gradient
        with respect to the logits, (p - y) / N, is simple and exact (as Keras does).
        """
        x = self._require_cache()[0]
        return self._op_backward(x, np.asarray(dz), need_dx)

    @property
    def logits(self):
        """The last forward's activation input z (before phi); None when the layer fused its
        activation into its op (Conv2D with ReLU) and never kept z."""
        return None if self._cache is None else self._cache[1]

    def forget(self):
        """Drop what the last forward kept for backward (x, z, y): a step that ran this
        layer's work itself calls it, so that nothing stale (or large) is kept behind."""
        self._cache = None

    def _require_cache(self):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        return self._cache

    def _forward(self, x, training):
        """``(z, y)``: z = op(x) and y = phi(z). Layers may fuse the two (z None)."""
        z = self._op_forward(x, training)
        return z, self.activation.forward(z)

    def _op_forward(self, x, training):
        """The layer's own operation z = op(x), before the activation; the identity here."""
        return x

    def _op_backward(self, x, dz, need_dx):
        """dL/dx from dz = dL/dz, filling ``grads``; the identity here."""
        return dz

    # -- helpers --------------------------------------------------------------------------
    def _compute_dtype(self, x):
        """The parameters' dtype, or the input's own float dtype for layers without any."""
        if self.params:
            return next(iter(self.params.values())).dtype
        return x.dtype if x.dtype in (np.float32, np.float64) else self.dtype

    def check_input(self, x):
        """x as an array of the compute dtype, checked against the built input shape (the
        layer is built on first use); ShapeError/TypeError naming the layer. Public for
        steps that run a layer's work themselves (:mod:`minicnn.fusion`)."""
        x = np.asarray(x)
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise TypeError(f"{self.name}: input must hold numbers, got dtype {x.dtype}")
        if not self.built:
            if x.ndim < 2:
                raise ShapeError(f"{self.name}: input needs a batch axis, got shape {x.shape}")
            self.build(x.shape[1:])
        expected = (x.shape[0],) + self.input_shape
        if x.shape != expected:
            hint = ""
            if x.ndim == len(expected) and x.shape[-1] != expected[-1]:
                hint = (f" (it has {x.shape[-1]} channels/features where the layer was built "
                        f"for {expected[-1]})")
            elif x.ndim != len(expected):
                hint = f" (rank {x.ndim} where {len(expected)} is expected)"
            raise ShapeError(f"{self.name}: expected input of shape (N, "
                             f"{', '.join(map(str, self.input_shape))}), got {x.shape}{hint}")
        return x.astype(self._compute_dtype(x), copy=False)

    def _window_output_hw(self, input_shape):
        """(H_out, W_out) of a windowed layer for (H, W, C) inputs; ShapeError naming it."""
        size, strides, padding = self.window
        try:
            return tuple(output_length(n, k, s, padding)
                         for n, k, s in zip(input_shape[:2], size, strides))
        except ValueError as exc:
            raise ShapeError(f"{self.name}: {exc}") from None

    def _require_rank(self, input_shape, rank, layout, hint=""):
        """ShapeError naming the layer unless ``input_shape`` has ``rank`` axes."""
        if len(input_shape) != rank:
            raise ShapeError(f"{self.name}: {type(self).__name__} needs inputs of shape "
                             f"{layout} per sample, got {input_shape}{hint}")

    def get_config(self):
        """Constructor arguments, enough to rebuild the layer (weights excluded). Subclasses
        extend this dict."""
        return {"name": self.name, "dtype": self.dtype.name}

    def __repr__(self):
        return (f"{type(self).__name__}(name={self.name!r}, input_shape={self.input_shape}, "
                f"output_shape={self.output_shape})")
