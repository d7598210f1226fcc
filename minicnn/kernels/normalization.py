"""Batch normalisation over the last axis (Ioffe & Szegedy, 2015), as Keras computes it.

Shapes: x (..., C) of any rank >= 2 (a batch of feature maps (N, H, W, C) or of vectors
(N, C)); gamma, beta, mean, variance (C,). With m = the number of values per channel
(N * H * W for maps):

    mean_c = sum x / m,   var_c = sum (x - mean_c)^2 / m      (biased, as Keras)
    x_hat  = (x - mean_c) / sqrt(var_c + epsilon)
    y      = gamma_c * x_hat + beta_c

Training uses the batch's own mean and variance; inference the moving ones. The backward pass
through the batch statistics (every x moves mean_c and var_c) simplifies to

    dx = gamma_c / sqrt(var_c + epsilon) * (dy - mean(dy) - x_hat * mean(dy * x_hat)),

means over the m values of each channel; dgamma = sum dy * x_hat, dbeta = sum dy. With fixed
(moving) statistics it is just dx = gamma_c * dy / sqrt(var_c + epsilon).

Tiers: naive (a loop over channels, the formulas above written out), numpy (vectorised over
(rows, C)), numba (one pass over the rows per sum, channels innermost).
"""
import numba
import numpy as np

from ..backend import resolve
from . import buffers
from ._checks import as_float_arrays


# ---------------------------------------------------------------------------------- naive
def _moments_naive(x2):
    mean, var = np.empty(x2.shape[1], x2.dtype), np.empty(x2.shape[1], x2.dtype)
    for c in range(x2.shape[1]):
        column = x2[:, c]
        mean[c] = column.sum() / len(column)
        var[c] = ((column - mean[c]) ** 2).sum() / len(column)
    return mean, var


def _backward_naive(x2, gamma, dy2, mean, var, eps, batch_stats):
    dx, dgamma, dbeta = np.empty_like(dy2), np.empty_like(gamma), np.empty_like(gamma)
    for c in range(x2.shape[1]):
        inv_std = 1 / np.sqrt(var[c] + eps)
        x_hat, g = (x2[:, c] - mean[c]) * inv_std, dy2[:, c]
        dbeta[c], dgamma[c] = g.sum(), (g * x_hat).sum()
        if batch_stats:
            dx[:, c] = gamma[c] * inv_std * (g - g.mean() - x_hat * (g * x_hat).mean())
        else:
            dx[:, c] = gamma[c] * inv_std * g
    return dx, dgamma, dbeta


# ---------------------------------------------------------------------------------- numpy
def _moments_numpy(x2):
    mean = x2.mean(axis=0)
    return mean, ((x2 - mean) ** 2).mean(axis=0)


def _backward_numpy(x2, gamma, dy2, mean, var, eps, batch_stats):
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x2 - mean) * inv_std
    dbeta, dgamma = dy2.sum(axis=0), (dy2 * x_hat).sum(axis=0)
    m = len(x2)
    if batch_stats:
        dx = gamma * inv_std * (dy2 - dbeta / m - x_hat * (dgamma / m))
    else:
        dx = gamma * inv_std * dy2
    return dx.astype(dy2.dtype, copy=False), dgamma, dbeta


# ---------------------------------------------------------------------------------- numba
@numba.njit(cache=True)
def _moments_numba_into(x2, mean, var):
    m, k = x2.shape
    total, squares = np.zeros(k), np.zeros(k)           # float64 sums
    for r in range(m):
        for c in range(k):
            total[c] += x2[r, c]
    for c in range(k):
        mean[c] = total[c] / m
    for r in range(m):
        for c in range(k):
            d = x2[r, c] - mean[c]
            squares[c] += d * d
    for c in range(k):
        var[c] = squares[c] / m


@numba.njit(cache=True)
def _backward_numba_into(x2, gamma, dy2, mean, var, eps, batch_stats, dx, dgamma, dbeta):
    m, k = x2.shape
    inv_std = 1 / np.sqrt(var.astype(np.float64) + eps)
    sum_g, sum_gx = np.zeros(k), np.zeros(k)
    for r in range(m):
        for c in range(k):
            g = dy2[r, c]
            sum_g[c] += g
            sum_gx[c] += g * (x2[r, c] - mean[c]) * inv_std[c]
    for r in range(m):
        for c in range(k):
            g = dy2[r, c]
            if batch_stats:
                x_hat = (x2[r, c] - mean[c]) * inv_std[c]
                g = g - sum_g[c] / m - x_hat * sum_gx[c] / m
            dx[r, c] = gamma[c] * inv_std[c] * g
    for c in range(k):
        dgamma[c], dbeta[c] = sum_gx[c], sum_g[c]


def _moments_numba(x2):
    mean, var = np.empty(x2.shape[1], x2.dtype), np.empty(x2.shape[1], x2.dtype)
    _moments_numba_into(x2, mean, var)
    return mean, var


def _backward_numba(x2, gamma, dy2, mean, var, eps, batch_stats):
    dx, dgamma, dbeta = buffers.empty_like(dy2), np.empty_like(gamma), np.empty_like(gamma)
    _backward_numba_into(x2, gamma, dy2, mean, var, eps, batch_stats, dx, dgamma, dbeta)
    return dx, dgamma, dbeta


_MOMENTS = {"naive": _moments_naive, "numpy": _moments_numpy, "numba": _moments_numba}
_BACKWARD = {"naive": _backward_naive, "numpy": _backward_numpy, "numba": _backward_numba}


# ------------------------------------------------------------------------------ front door
def _rows(x, params, names):
    """x as (m, C) rows, and each parameter checked to be (C,)."""
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and a channel axis, got shape {x.shape}")
    for p, name in zip(params, names):
        if p.shape != x.shape[-1:]:
            raise ValueError(f"{name} must have shape ({x.shape[-1]},) for x of shape "
                             f"{x.shape}, got {p.shape}")
    return x.reshape(-1, x.shape[-1])


def batch_moments(x, backend=None):
    """``(mean, variance)`` (C,) of x (..., C) over every axis but the last; biased variance."""
    (x,) = as_float_arrays(x, names=("x",))
    return _MOMENTS[resolve(backend)](_rows(x, (), ()))


def batchnorm_forward(x, gamma, beta, mean, variance, epsilon=1e-3):
    """y = gamma * (x - mean) / sqrt(variance + epsilon) + beta over the last axis.

    x (..., C); gamma, beta, mean, variance (C,): the batch's moments in training (from
    :func:`batch_moments`), the moving ones at inference. One NumPy expression in every tier.
    """
    x, gamma, beta, mean, variance = as_float_arrays(
        x, gamma, beta, mean, variance, names=("x", "gamma", "beta", "mean", "variance"))
    _rows(x, (gamma, beta, mean, variance), ("gamma", "beta", "mean", "variance"))
    scale = gamma / np.sqrt(variance + x.dtype.type(epsilon))
    return (x - mean) * scale + beta


def batchnorm_backward(x, gamma, dy, mean, variance, epsilon=1e-3, batch_stats=True,
                       backend=None):
    """Gradients ``(dx, dgamma, dbeta)`` of :func:`batchnorm_forward` given dy (..., C).

    ``batch_stats=True``: mean and variance were x's own (training), so the gradient also
    flows through them; False: they were fixed (the moving statistics, at inference).
    """
    x, gamma, dy, mean, variance = as_float_arrays(
        x, gamma, dy, mean, variance, names=("x", "gamma", "dy", "mean", "variance"))
    if dy.shape != x.shape:
        raise ValueError(f"dy has shape {dy.shape} but x has shape {x.shape}")
    x2 = _rows(x, (gamma, mean, variance), ("gamma", "mean", "variance"))
    dx, dgamma, dbeta = _BACKWARD[resolve(backend)](
        x2, gamma, dy.reshape(x2.shape), mean, variance, x.dtype.type(epsilon),
        bool(batch_stats))
    return dx.reshape(x.shape), dgamma.astype(x.dtype), dbeta.astype(x.dtype)
