"""Activation functions and their gradients, any shape (softmax over the last axis).

- ReLU f(x) = max(0, x) (thesis, "unidad lineal rectificada"); f'(0) is taken as 0, as Keras.
- Sigmoid y = 1 / (1 + e^-z), thesis eq. (3); dy/dz = y (1 - y).
- Softmax p_k = e^{z_k} / sum_j e^{z_j} (thesis: turns the last layer into probabilities such
  as [0.6, 0.4]); computed as e^{z_k - max z} so it never overflows.

Tiers: naive (a Python loop per element or row), numpy (vectorised), numba (compiled loops).
Backward functions take the forward's output (sigmoid, softmax; for ReLU its input or its
output, which are positive at the same places) and dy, and return dx of the same shape; they
never change dy.
"""
import math

import numba
import numpy as np

from ..backend import resolve
from . import buffers
from ._checks import as_float_arrays, check_same_shape
from .workers import over_chunks


# ---------------------------------------------------------------------------------- naive
def _relu_naive(x):
    y = np.empty_like(x)
    for i in range(x.size):
        y.flat[i] = 0.0 if x.flat[i] < 0 else x.flat[i]     # max(0, x); NaN stays NaN
    return y


def _relu_backward_naive(x, dy):
    dx = np.empty_like(dy)
    for i in range(x.size):
        dx.flat[i] = dy.flat[i] if x.flat[i] > 0 else 0.0
    return dx


def _sigmoid_naive(z):
    y = np.empty_like(z)
    for i in range(z.size):
        v = z.flat[i]
        # eq. (3); for v < 0 the same value is written e^v / (1 + e^v), so e^-v cannot overflow
        y.flat[i] = 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))
    return y


def _sigmoid_backward_naive(y, dy):
    dz = np.empty_like(dy)
    for i in range(y.size):
        dz.flat[i] = dy.flat[i] * y.flat[i] * (1.0 - y.flat[i])
    return dz


def _softmax_naive(z):
    p = np.empty_like(z)
    for row in np.ndindex(z.shape[:-1]):
        top = max(z[row])
        exps = [math.exp(v - top) for v in z[row]]
        total = sum(exps)
        p[row] = [e / total for e in exps]
    return p


def _softmax_backward_naive(p, dy):
    dz = np.empty_like(dy)
    for row in np.ndindex(p.shape[:-1]):
        inner = sum(d * q for d, q in zip(dy[row], p[row]))       # sum_j dy_j p_j
        dz[row] = [q * (d - inner) for d, q in zip(dy[row], p[row])]
    return dz


# ---------------------------------------------------------------------------------- numpy
def _relu_numpy(x):
    return np.maximum(x, 0)


def _relu_backward_numpy(x, dy):
    return np.where(x > 0, dy, 0).astype(dy.dtype, copy=False)


def _sigmoid_numpy(z):
    e = np.exp(-np.abs(z))                 # <= 1, never overflows
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def _sigmoid_backward_numpy(y, dy):
    return dy * y * (1 - y)


def _softmax_numpy(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_backward_numpy(p, dy):
    return p * (dy - (dy * p).sum(axis=-1, keepdims=True))


# ---------------------------------------------------------------------------------- numba
# Each kernel fills ``out``, allocated by NumPy: NumPy backs large arrays with huge pages,
# which makes a fresh 100 MB output several times cheaper to touch than Numba's own empty().
@numba.njit(nogil=True, cache=True)
def _relu_range(x, out, i0, i1):
    for i in range(i0, i1):
        v = x[i]
        out[i] = 0 if v < 0 else v                   # max(0, v); NaN stays NaN, as in NumPy


@numba.njit(nogil=True, cache=True)
def _relu_backward_range(x, dy, out, i0, i1):
    for i in range(i0, i1):
        out[i] = dy[i] if x[i] > 0 else 0


ELEMENTS_PER_CHUNK = 1 << 16     # of an elementwise kernel, per claim of a worker thread


def _relu_flat_numba(x, out):
    over_chunks(_relu_range, x.size, ELEMENTS_PER_CHUNK, x, out)


def _relu_backward_flat_numba(x, dy, out):
    over_chunks(_relu_backward_range, x.size, ELEMENTS_PER_CHUNK, x, dy, out)


@numba.njit(cache=True)
def _sigmoid_flat_numba(z, out):
    for i in range(z.size):
        e = np.exp(-abs(z[i]))
        out[i] = 1 / (1 + e) if z[i] >= 0 else e / (1 + e)


@numba.njit(cache=True)
def _sigmoid_backward_flat_numba(y, dy, out):
    for i in range(y.size):
        out[i] = dy[i] * y[i] * (1 - y[i])


@numba.njit(cache=True)
def _softmax_rows_numba(z, out):
    for r in range(z.shape[0]):
        top = z[r].max()
        total = 0.0
        for k in range(z.shape[1]):
            out[r, k] = np.exp(z[r, k] - top)
            total += out[r, k]
        for k in range(z.shape[1]):
            out[r, k] /= total


@numba.njit(cache=True)
def _softmax_backward_rows_numba(p, dy, out):
    for r in range(p.shape[0]):
        inner = 0.0
        for k in range(p.shape[1]):
            inner += dy[r, k] * p[r, k]
        for k in range(p.shape[1]):
            out[r, k] = p[r, k] * (dy[r, k] - inner)


def _flat(fn):
    """Run a 1-D Numba kernel on arrays of any shape, into a new array like the last one."""
    def run(*arrays):
        out = buffers.empty_like(arrays[-1])
        fn(*(a.reshape(-1) for a in arrays), out.reshape(-1))
        return out
    return run


def _rows(fn):
    """Run a (rows, K) Numba kernel on arrays of any shape, rows = all but the last axis."""
    def run(*arrays):
        out = buffers.empty_like(arrays[-1])
        fn(*(a.reshape(-1, a.shape[-1]) for a in arrays), out.reshape(-1, out.shape[-1]))
        return out
    return run


_KERNELS = {
    "relu": {"naive": _relu_naive, "numpy": _relu_numpy, "numba": _flat(_relu_flat_numba)},
    "relu_backward": {"naive": _relu_backward_naive, "numpy": _relu_backward_numpy,
                      "numba": _flat(_relu_backward_flat_numba)},
    "sigmoid": {"naive": _sigmoid_naive, "numpy": _sigmoid_numpy,
                "numba": _flat(_sigmoid_flat_numba)},
    "sigmoid_backward": {"naive": _sigmoid_backward_naive, "numpy": _sigmoid_backward_numpy,
                         "numba": _flat(_sigmoid_backward_flat_numba)},
    "softmax": {"naive": _softmax_naive, "numpy": _softmax_numpy,
                "numba": _rows(_softmax_rows_numba)},
    "softmax_backward": {"naive": _softmax_backward_naive, "numpy": _softmax_backward_numpy,
                         "numba": _rows(_softmax_backward_rows_numba)},
}


def _run(name, backend, *arrays):
    arrays = as_float_arrays(*arrays, names=("x", "dy")[:len(arrays)])
    if len(arrays) == 2:
        check_same_shape(arrays[0], arrays[1], "the forward array", "dy")
    if name.startswith("softmax") and arrays[0].ndim == 0:
        raise ValueError("softmax needs at least one axis (the classes), got a scalar")
    return _KERNELS[name][resolve(backend)](*arrays)


def relu(x, backend=None):
    """ReLU f(x) = max(0, x), elementwise; any shape."""
    return _run("relu", backend, x)


def relu_backward(x, dy, backend=None):
    """dL/dx = dy where x > 0, else 0 (f'(0) taken as 0); x and dy of one shape.

    ``x`` may be the ReLU's input z or its output y = max(0, z): both are > 0 at exactly the
    same places, so layers pass y and need not keep z."""
    return _run("relu_backward", backend, x, dy)


def sigmoid(z, backend=None):
    """Sigmoid y = 1 / (1 + e^-z), thesis eq. (3), elementwise; any shape."""
    return _run("sigmoid", backend, z)


def sigmoid_backward(y, dy, backend=None):
    """dL/dz = dy * y * (1 - y) from the sigmoid's output y; y and dy of one shape."""
    return _run("sigmoid_backward", backend, y, dy)


def softmax(z, backend=None):
    """Softmax over the last axis: z (..., K) -> probabilities (..., K) summing to 1."""
    return _run("softmax", backend, z)


def softmax_backward(p, dy, backend=None):
    """dL/dz = p * (dy - sum(dy * p)) over the last axis, from the softmax's output p (..., K)."""
    return _run("softmax_backward", backend, p, dy)
