"""Fully connected layer: z = x . W + b, the thesis's activation value, eq. (1), per neuron.

Shapes (Keras layout): x (N, in), kernel (in, out), bias (out,) -> z (N, out).
Tiers: naive loops over samples and neurons (one eq. (1) sum each); numpy and numba are the
same NumPy matrix multiply (BLAS), see below.
"""
import numpy as np

from ..backend import resolve
from ._checks import as_float_arrays, check_rank


# ---------------------------------------------------------------------------------- naive
def _forward_naive(x, kernel, bias):
    z = np.empty((x.shape[0], kernel.shape[1]), x.dtype)
    for n in range(x.shape[0]):
        for j in range(kernel.shape[1]):
            z[n, j] = np.dot(kernel[:, j], x[n]) + bias[j]        # eq. (1): sum_i w_ij x_i + b_j
    return z


def _backward_naive(x, kernel, dz):
    dx = np.zeros_like(x)
    dkernel = np.zeros_like(kernel)
    for n in range(x.shape[0]):
        for j in range(kernel.shape[1]):
            dx[n] += dz[n, j] * kernel[:, j]            # dz_j/dx_i = w_ij
            dkernel[:, j] += dz[n, j] * x[n]            # dz_j/dw_ij = x_i
    return dx, dkernel


# ---------------------------------------------------------------------------------- numpy
def _forward_numpy(x, kernel, bias):
    return x @ kernel + bias


def _backward_numpy(x, kernel, dz):
    return dz @ kernel.T, x.T @ dz


# ---------------------------------------------------------------------------------- numba
# A dense layer is one matrix product, which BLAS does best; Numba's own np.dot would call a
# second BLAS library (SciPy's) with its own threads competing for the same cores. So the
# numba tier is NumPy's BLAS, as the numpy tier.
_forward_numba, _backward_numba = _forward_numpy, _backward_numpy


_FORWARD = {"naive": _forward_naive, "numpy": _forward_numpy, "numba": _forward_numba}
_BACKWARD = {"naive": _backward_naive, "numpy": _backward_numpy, "numba": _backward_numba}


def _check(x, kernel):
    check_rank(x, 2, "x", "(N, in)")
    check_rank(kernel, 2, "kernel", "(in, out)")
    if x.shape[1] != kernel.shape[0]:
        raise ValueError(f"x has {x.shape[1]} features (shape {x.shape}) but the kernel "
                         f"expects {kernel.shape[0]} (kernel shape {kernel.shape})")


def dense_forward(x, kernel, bias, backend=None):
    """z = x . kernel + bias (thesis eq. (1)).

    x (N, in), kernel (in, out), bias (out,) -> (N, out)."""
    x, kernel, bias = as_float_arrays(x, kernel, bias, names=("x", "kernel", "bias"))
    _check(x, kernel)
    if bias.shape != kernel.shape[1:]:
        raise ValueError(f"bias must have shape ({kernel.shape[1]},), got {bias.shape}")
    return _FORWARD[resolve(backend)](x, kernel, bias)


def dense_backward(x, kernel, dz, backend=None):
    """Gradients ``(dx, dkernel, dbias)`` of :func:`dense_forward` given dz (N, out)."""
    x, kernel, dz = as_float_arrays(x, kernel, dz, names=("x", "kernel", "dz"))
    _check(x, kernel)
    if dz.shape != (x.shape[0], kernel.shape[1]):
        raise ValueError(f"dz must have shape {(x.shape[0], kernel.shape[1])}, got {dz.shape}")
    dx, dkernel = _BACKWARD[resolve(backend)](x, kernel, dz)
    return dx, dkernel, dz.sum(axis=0)
