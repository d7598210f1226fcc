"""2-D pooling, per channel: the largest value (max) or the mean (average) of each
(PH, PW) window, and global average pooling.

Shapes: x (N, H, W, C) -> y (N, H_out, W_out, C), H_out = (H + pad_total - PH) // stride + 1;
global average pooling (N, H, W, C) -> (N, C).

- Max: 'same' padding pads with -inf, so padded cells never win (as Keras). The backward pass
  sends each output's gradient to the first maximum of its window in row-major order;
  overlapping windows (stride < pool size) add up.
- Average: with 'same' padding the mean is over the window's cells inside the image only (as
  Keras): an edge window of 2 real cells divides by 2, not by PH * PW. Backward: each cell of
  a window gets dy / (number of cells averaged).

Tiers (on the padded input ``xp``): naive loops over windows; numpy one shifted view per
window offset (no window copy); numba loops, parallel over the batch.
"""
import numba
import numpy as np

from ..backend import resolve
from . import buffers
from ._checks import as_float_arrays, check_rank
from ..validation import int_pair, padding as check_padding
from .geometry import crop_hw, pad_hw, shifted_view, window_plan
from .workers import ROWS_PER_CHUNK, over_chunks


# ---------------------------------------------------------------------------------- naive
def _forward_naive(xp, ph, pw, sh, sw, ho, wo):
    y = np.empty((xp.shape[0], ho, wo, xp.shape[3]), xp.dtype)
    for b in range(xp.shape[0]):
        for i in range(ho):
            for j in range(wo):
                window = xp[b, i * sh:i * sh + ph, j * sw:j * sw + pw, :]   # (PH, PW, C)
                y[b, i, j, :] = window.max(axis=(0, 1))
    return y


def _backward_naive(xp, dy, ph, pw, sh, sw):
    dxp = np.zeros_like(xp)
    n, ho, wo, c = dy.shape
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                for ch in range(c):
                    window = xp[b, i * sh:i * sh + ph, j * sw:j * sw + pw, ch]
                    a, e = np.unravel_index(np.argmax(window), window.shape)
                    dxp[b, i * sh + a, j * sw + e, ch] += dy[b, i, j, ch]
    return dxp


# ---------------------------------------------------------------------------------- numpy
def _forward_numpy(xp, ph, pw, sh, sw, ho, wo):
    y = shifted_view(xp, 0, 0, sh, sw, ho, wo).copy()
    for a in range(ph):
        for e in range(pw):
            np.maximum(y, shifted_view(xp, a, e, sh, sw, ho, wo), out=y)
    return y


def _backward_numpy(xp, dy, ph, pw, sh, sw):
    _, ho, wo, _ = dy.shape
    y = _forward_numpy(xp, ph, pw, sh, sw, ho, wo)
    dxp = np.zeros_like(xp)
    routed = np.zeros(y.shape, bool)            # windows whose maximum was already found
    for a in range(ph):
        for e in range(pw):
            first = (shifted_view(xp, a, e, sh, sw, ho, wo) == y) & ~routed
            shifted_view(dxp, a, e, sh, sw, ho, wo)[...] += np.where(first, dy, 0)
            routed |= first
    return dxp


# ---------------------------------------------------------------------------------- numba
# Outputs are allocated by NumPy (huge pages: much cheaper to touch than Numba's empty()); the
# innermost loops run over channels, contiguous in memory.
@numba.njit(nogil=True, cache=True)
def _forward_rows(xp, ph, pw, sh, sw, y, t0, t1):
    ho, wo, c = y.shape[1:]
    for t in range(t0, t1):
        b, i = t // ho, t % ho
        for j in range(wo):
            best = y[b, i, j]
            best[:] = xp[b, i * sh, j * sw]
            for a in range(ph):
                for e in range(pw):
                    src = xp[b, i * sh + a, j * sw + e]
                    for ch in range(c):
                        v = src[ch]
                        if v > best[ch] or v != v:      # a NaN wins, as in NumPy
                            best[ch] = v


@numba.njit(cache=True)
def _first_max(xp, b, i0, j0, ph, pw, best, first):
    """Per channel, the window offset a * PW + e of the first maximum of the window whose top
    left corner is (i0, j0), into ``first`` (``best`` is scratch)."""
    c = xp.shape[3]
    best[:] = xp[b, i0, j0]
    first[:] = 0
    for a in range(ph):
        for e in range(pw):
            src = xp[b, i0 + a, j0 + e]
            for ch in range(c):
                if src[ch] > best[ch]:
                    best[ch], first[ch] = src[ch], a * pw + e


@numba.njit(nogil=True, cache=True)
def _backward_images(xp, dy, ph, pw, sh, sw, tiles, dxp, b0, b1):
    # tiles: the windows tile the input (stride == pool), so every covered cell of dxp is
    # written exactly once, its window's dy or 0; otherwise dxp starts at 0 and is added to.
    ho, wo, c = dy.shape[1:]
    for b in range(b0, b1):                   # windows may overlap within an image only
        best, first = np.empty(c, xp.dtype), np.empty(c, np.int32)
        for i in range(ho):
            for j in range(wo):
                _first_max(xp, b, i * sh, j * sw, ph, pw, best, first)
                g = dy[b, i, j]
                for a in range(ph):
                    for e in range(pw):
                        dst = dxp[b, i * sh + a, j * sw + e]
                        for ch in range(c):
                            routed = g[ch] if first[ch] == a * pw + e else 0
                            if tiles:
                                dst[ch] = routed
                            else:
                                dst[ch] += routed


def _forward_numba(xp, ph, pw, sh, sw, ho, wo):
    y = buffers.empty((xp.shape[0], ho, wo, xp.shape[3]), xp.dtype)
    over_chunks(_forward_rows, y.shape[0] * ho, ROWS_PER_CHUNK, xp, ph, pw, sh, sw, y)
    return y


def _backward_numba(xp, dy, ph, pw, sh, sw):
    tiles = (sh, sw) == (ph, pw)
    dxp = buffers.empty_like(xp) if tiles else buffers.zeros_like(xp)
    over_chunks(_backward_images, dy.shape[0], 1, xp, dy, ph, pw, sh, sw, tiles, dxp)
    if tiles:                                   # rows and columns no window reaches
        dxp[:, dy.shape[1] * sh:] = 0
        dxp[:, :, dy.shape[2] * sw:] = 0
    return dxp


_FORWARD = {"naive": _forward_naive, "numpy": _forward_numpy, "numba": _forward_numba}
_BACKWARD = {"naive": _backward_naive, "numpy": _backward_numpy, "numba": _backward_numba}


# ------------------------------------------------------------------------ average: naive
# Average-pooling tiers take the zero-padded input ``xp`` and ``counts`` (H_out, W_out): how
# many cells of each window lie inside the image (PH * PW everywhere for 'valid').
def _avg_forward_naive(xp, counts, ph, pw, sh, sw):
    n, c = xp.shape[0], xp.shape[3]
    ho, wo = counts.shape
    y = np.empty((n, ho, wo, c), xp.dtype)
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                window = xp[b, i * sh:i * sh + ph, j * sw:j * sw + pw, :]   # padding adds 0
                y[b, i, j, :] = window.sum(axis=(0, 1)) / counts[i, j]
    return y


def _avg_backward_naive(xp, counts, dy, ph, pw, sh, sw):
    dxp = np.zeros_like(xp)
    n, ho, wo, _ = dy.shape
    for b in range(n):
        for i in range(ho):
            for j in range(wo):          # every cell of the window had weight 1 / count
                dxp[b, i * sh:i * sh + ph, j * sw:j * sw + pw, :] += dy[b, i, j] / counts[i, j]
    return dxp


# ------------------------------------------------------------------------ average: numpy
def _avg_forward_numpy(xp, counts, ph, pw, sh, sw):
    ho, wo = counts.shape
    y = shifted_view(xp, 0, 0, sh, sw, ho, wo).copy()
    for a in range(ph):
        for e in range(pw):
            if a or e:
                y += shifted_view(xp, a, e, sh, sw, ho, wo)
    return y / counts[:, :, None].astype(xp.dtype)


def _avg_backward_numpy(xp, counts, dy, ph, pw, sh, sw):
    ho, wo = counts.shape
    share = dy / counts[:, :, None].astype(dy.dtype)
    dxp = np.zeros_like(xp)
    for a in range(ph):
        for e in range(pw):
            shifted_view(dxp, a, e, sh, sw, ho, wo)[...] += share
    return dxp


# ------------------------------------------------------------------------ average: numba
@numba.njit(nogil=True, cache=True)
def _avg_forward_rows(xp, counts, ph, pw, sh, sw, y, t0, t1):
    ho, wo, c = y.shape[1:]
    for t in range(t0, t1):
        b, i = t // ho, t % ho
        for j in range(wo):
            acc = y[b, i, j]
            acc[:] = 0
            for a in range(ph):
                for e in range(pw):
                    src = xp[b, i * sh + a, j * sw + e]
                    for ch in range(c):
                        acc[ch] += src[ch]
            for ch in range(c):
                acc[ch] /= counts[i, j]


@numba.njit(nogil=True, cache=True)
def _avg_backward_images(counts, dy, ph, pw, sh, sw, dxp, b0, b1):
    ho, wo, c = dy.shape[1:]
    for b in range(b0, b1):                   # windows may overlap within an image only
        for i in range(ho):
            for j in range(wo):
                g = dy[b, i, j]
                for a in range(ph):
                    for e in range(pw):
                        dst = dxp[b, i * sh + a, j * sw + e]
                        for ch in range(c):
                            dst[ch] += g[ch] / counts[i, j]


def _avg_forward_numba(xp, counts, ph, pw, sh, sw):
    y = buffers.empty((xp.shape[0],) + counts.shape + (xp.shape[3],), xp.dtype)
    over_chunks(_avg_forward_rows, y.shape[0] * y.shape[1], ROWS_PER_CHUNK, xp,
                counts.astype(xp.dtype), ph, pw, sh, sw, y)
    return y


def _avg_backward_numba(xp, counts, dy, ph, pw, sh, sw):
    dxp = buffers.zeros_like(xp)
    over_chunks(_avg_backward_images, dy.shape[0], 1, counts.astype(dy.dtype), dy, ph, pw,
                sh, sw, dxp)
    return dxp


_AVG_FORWARD = {"naive": _avg_forward_naive, "numpy": _avg_forward_numpy,
                "numba": _avg_forward_numba}
_AVG_BACKWARD = {"naive": _avg_backward_naive, "numpy": _avg_backward_numpy,
                 "numba": _avg_backward_numba}


# ------------------------------------------------------------------------------ front door
def _plan(x, pool_size, strides, padding):
    """Check arguments; return ``((PH, PW), (SH, SW), pads, (H_out, W_out))``."""
    check_rank(x, 4, "x", "(N, H, W, C)")
    pool = int_pair(pool_size, "pool_size")
    strides = pool if strides is None else int_pair(strides, "strides")
    pads, out = window_plan(x.shape, pool, strides, check_padding(padding))
    return pool, strides, pads, out


def maxpool2d_forward(x, pool_size=2, strides=None, padding="valid", backend=None):
    """Max-pooling forward: x (N, H, W, C) -> (N, H_out, W_out, C); strides default to pool_size."""
    (x,) = as_float_arrays(x, names=("x",))
    (ph, pw), (sh, sw), pads, (ho, wo) = _plan(x, pool_size, strides, padding)
    return _FORWARD[resolve(backend)](pad_hw(x, pads, -np.inf), ph, pw, sh, sw, ho, wo)


def maxpool2d_backward(x, dy, pool_size=2, strides=None, padding="valid", backend=None):
    """Max-pooling backward: dL/dx (N, H, W, C) from x and dy (N, H_out, W_out, C)."""
    x, dy = as_float_arrays(x, dy, names=("x", "dy"))
    (ph, pw), (sh, sw), pads, (ho, wo) = _plan(x, pool_size, strides, padding)
    if dy.shape != (x.shape[0], ho, wo, x.shape[3]):
        raise ValueError(f"dy must have the output's shape {(x.shape[0], ho, wo, x.shape[3])}, "
                         f"got {dy.shape}")
    dxp = _BACKWARD[resolve(backend)](pad_hw(x, pads, -np.inf), dy, ph, pw, sh, sw)
    return crop_hw(dxp, pads)


def _window_counts(x, pool, strides, pads, out):
    """(H_out, W_out) int: how many cells of each window lie inside the image."""
    inside = pad_hw(np.ones((1,) + x.shape[1:3] + (1,)), pads, 0.0)
    return _avg_forward_numpy(inside, np.ones(out), *pool, *strides)[0, :, :, 0].astype(int)


def avgpool2d_forward(x, pool_size=2, strides=None, padding="valid", backend=None):
    """Average pooling forward: x (N, H, W, C) -> (N, H_out, W_out, C), each output the mean
    of its window's cells inside the image; strides default to pool_size."""
    (x,) = as_float_arrays(x, names=("x",))
    pool, strides, pads, out = _plan(x, pool_size, strides, padding)
    counts = _window_counts(x, pool, strides, pads, out)
    return _AVG_FORWARD[resolve(backend)](pad_hw(x, pads), counts, *pool, *strides)


def avgpool2d_backward(x, dy, pool_size=2, strides=None, padding="valid", backend=None):
    """Average pooling backward: dL/dx (N, H, W, C) from x and dy (N, H_out, W_out, C).

    Only x's shape matters: the average is linear, each cell's weight 1 / count."""
    x, dy = as_float_arrays(x, dy, names=("x", "dy"))
    pool, strides, pads, (ho, wo) = _plan(x, pool_size, strides, padding)
    if dy.shape != (x.shape[0], ho, wo, x.shape[3]):
        raise ValueError(f"dy must have the output's shape {(x.shape[0], ho, wo, x.shape[3])}, "
                         f"got {dy.shape}")
    counts = _window_counts(x, pool, strides, pads, (ho, wo))
    dxp = _AVG_BACKWARD[resolve(backend)](pad_hw(x, pads), counts, dy, *pool, *strides)
    return crop_hw(dxp, pads)


def global_avgpool2d_forward(x, backend=None):
    """Global average pooling: x (N, H, W, C) -> (N, C), the mean of each feature map.

    One tier only: the mean is a single NumPy reduction (a loop would only be slower)."""
    (x,) = as_float_arrays(x, names=("x",))
    check_rank(x, 4, "x", "(N, H, W, C)")
    resolve(backend)
    return x.mean(axis=(1, 2))


def global_avgpool2d_backward(x, dy, backend=None):
    """dL/dx (N, H, W, C) from x and dy (N, C): every pixel gets dy / (H * W) (x: its shape)."""
    x, dy = as_float_arrays(x, dy, names=("x", "dy"))
    check_rank(x, 4, "x", "(N, H, W, C)")
    n, h, w, c = x.shape
    if dy.shape != (n, c):
        raise ValueError(f"dy must have shape {(n, c)}, got {dy.shape}")
    resolve(backend)
    return np.broadcast_to((dy / dy.dtype.type(h * w))[:, None, None, :], x.shape).copy()
