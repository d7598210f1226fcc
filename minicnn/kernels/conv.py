"""2-D convolution (as in every CNN library: cross-correlation, the kernel is not flipped).

Shapes (channels-last, Keras layouts):
    x (N, H, W, C_in), kernel (KH, KW, C_in, C_out), bias (C_out,) -> y (N, H_out, W_out, C_out)

    y[n, i, j, f] = sum_{a, e, c} x_pad[n, i*sh + a, j*sw + e, c] * kernel[a, e, c, f] + bias[f]

which is the thesis's activation value, eq. (1), z = sum_i w_i x_i + b, evaluated for every
window position, and its 6x6 worked example (top-left output -5) for N = C_in = C_out = 1.

Three tiers with one signature each work on the already padded input ``xp``:
- naive: loops over images and output pixels, the window sum written out;
- numpy: shift-and-add, one matrix multiply per kernel offset (KH * KW of them), so no
  im2col copy KH * KW times the input's size is ever built;
- numba: im2col (each window a row of a matrix) built by Numba a few thousand windows at a
  time, then one BLAS matrix multiply per chunk; col2im scatters the input gradient back.
  Inputs with few channels use direct loops instead, vectorised over the filters, and
  large 3x3 stride-1 layers Winograd (winograd.py): F(4x4, 3x3) for y, F(2x2, 3x3) for dx
  and dkernel.
"""
import numba
import numpy as np

from ..backend import resolve
from . import buffers
from ._checks import as_float_arrays, check_rank
from ..validation import int_pair, padding as check_padding
from .geometry import crop_hw, pad_hw, shifted_view, window_plan
from .winograd import (winograd_conv3x3, winograd_conv3x3_input_grad,
                       winograd_conv3x3_kernel_grad)
from .workers import ROWS_PER_CHUNK, over_chunks


# ---------------------------------------------------------------------------------- naive
def _forward_naive(xp, kernel, bias, sh, sw, ho, wo, relu):
    n, kh, kw = xp.shape[0], kernel.shape[0], kernel.shape[1]
    y = np.empty((n, ho, wo, kernel.shape[3]), xp.dtype)
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                window = xp[b, i * sh:i * sh + kh, j * sw:j * sw + kw, :]  # (KH, KW, C_in)
                # eq. (1) for every filter f: sum of window * kernel[..., f], plus bias[f]
                y[b, i, j, :] = np.tensordot(window, kernel, axes=3) + bias
    return np.maximum(y, 0, out=y) if relu else y


def _backward_naive(xp, kernel, dy, sh, sw, need_dx):
    n, ho, wo, _ = dy.shape
    kh, kw = kernel.shape[:2]
    dxp = np.zeros_like(xp) if need_dx else None
    dkernel = np.zeros_like(kernel)
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
                g = dy[b, i, j, :]                                   # (C_out,)
                dkernel += xp[b, rows, cols, :, None] * g            # dy/dkernel = window
                if need_dx:
                    dxp[b, rows, cols, :] += kernel @ g              # dy/dwindow = kernel
    return dxp, dkernel


# ---------------------------------------------------------------------------------- numpy
def _matmul(a, b, out):
    """a (M, K) @ b (K, F) into ``out``; for K = 1 (a gray first layer) an outer product,
    which NumPy's broadcasting multiply does about ten times faster than its matmul."""
    return np.multiply(a, b, out=out) if a.shape[1] == 1 else np.matmul(a, b, out=out)


def _forward_numpy(xp, kernel, bias, sh, sw, ho, wo, relu):
    kh, kw, c, f = kernel.shape
    y = np.empty((xp.shape[0] * ho * wo, f), xp.dtype)
    y[:] = bias
    product = np.empty_like(y)                  # reused: one (N*H_out*W_out, C_out) buffer
    for a in range(kh):
        for e in range(kw):
            y += _matmul(shifted_view(xp, a, e, sh, sw, ho, wo).reshape(-1, c), kernel[a, e],
                         product)
    if relu:
        np.maximum(y, 0, out=y)
    return y.reshape(xp.shape[0], ho, wo, f)


def _backward_numpy(xp, kernel, dy, sh, sw, need_dx):
    n, ho, wo, f = dy.shape
    kh, kw, c, _ = kernel.shape
    dxp = np.zeros_like(xp) if need_dx else None
    dkernel = np.empty_like(kernel)
    g = dy.reshape(-1, f)
    for a in range(kh):
        for e in range(kw):
            dkernel[a, e] = shifted_view(xp, a, e, sh, sw, ho, wo).reshape(-1, c).T @ g
            if need_dx:
                shifted_view(dxp, a, e, sh, sw, ho, wo)[...] += (g @ kernel[a, e].T).reshape(
                    n, ho, wo, c)
    return dxp, dkernel


# ---------------------------------------------------------------------------------- numba
# im2col: every window becomes one row of a matrix, so the layer is a matrix multiply (BLAS)
# with the kernel as a (KH*KW*C_in, C_out) matrix. Numba builds the rows (and scatters them
# back for dx) for a chunk of output rows at a time. The forward's chunk is fastest while it
# fits in cache; the backward's kernel gradient sums over the windows, so it wants long ones.
_CHUNK_ROWS = {"forward": 3072, "backward": 16384}          # windows per matrix multiply
# Inputs with this many channels or fewer (a gray or RGB image) are convolved by direct loops:
# their window matrix is too thin for BLAS (about 3x faster for the thesis CNN's first layer).
_DIRECT_MAX_CHANNELS = 4


@numba.njit(nogil=True, cache=True)
def _im2col_rows(xp, t0, kh, kw, sh, sw, ho, wo, cols, s0, s1):
    """Windows of output rows t0 + s0 <= t < t0 + s1 (t = b * H_out + i), one per row of
    ``cols``: cols[(t - t0)*W_out + j, (a*KW + e)*C + ch] = xp[b, i*sh + a, j*sw + e, ch]."""
    c = xp.shape[3]
    for t in range(t0 + s0, t0 + s1):
        b, i = t // ho, t % ho
        for j in range(wo):
            row = cols[(t - t0) * wo + j]
            for a in range(kh):
                for e in range(kw):
                    src = xp[b, i * sh + a, j * sw + e]
                    base = (a * kw + e) * c
                    for ch in range(c):
                        row[base + ch] = src[ch]


def _im2col(xp, t0, t1, kh, kw, sh, sw, ho, wo, cols):
    """The windows of output rows t0 <= t < t1 into ``cols``, on the worker threads."""
    over_chunks(_im2col_rows, t1 - t0, ROWS_PER_CHUNK, xp, t0, kh, kw, sh, sw, ho, wo, cols)


@numba.njit(nogil=True, cache=True)
def _col2im_rows(dcols, t0, t1, kh, kw, sh, sw, ho, wo, dxp, u0, u1):
    """The adjoint of :func:`_im2col` for the rows u0 <= u < u1 of dxp (counted from image
    t0 // H_out's first): add each window row back where it came from, each row gathering
    from the windows that cover it, so no two threads ever add into the same element."""
    hp, c = dxp.shape[1], dxp.shape[3]
    b0 = t0 // ho
    for u in range(u0, u1):
        b, r = b0 + u // hp, u % hp
        for a in range(kh):
            i = (r - a) // sh
            if r < a or (r - a) % sh != 0 or i >= ho or not t0 <= b * ho + i < t1:
                continue
            for j in range(wo):
                row = dcols[(b * ho + i - t0) * wo + j]
                for e in range(kw):
                    dst = dxp[b, r, j * sw + e]
                    base = (a * kw + e) * c
                    for ch in range(c):
                        dst[ch] += row[base + ch]


def _col2im_add(dcols, t0, t1, kh, kw, sh, sw, ho, wo, dxp):
    """Add the window rows of output rows t0 <= t < t1 back into dxp, on the worker threads."""
    rows = ((t1 - 1) // ho - t0 // ho + 1) * dxp.shape[1]
    over_chunks(_col2im_rows, rows, ROWS_PER_CHUNK, dcols, t0, t1, kh, kw, sh, sw, ho, wo, dxp)


@numba.njit(nogil=True, cache=True)
def _direct_rows(xp, kernel, bias, sh, sw, relu, y, t0, t1):
    """Window sums of the output rows t0 <= t < t1 (t = b * H_out + i) written out,
    vectorised over the filters, into y (N, H_out, W_out, F)."""
    ho, wo, f = y.shape[1:]
    kh, kw, c, _ = kernel.shape
    for t in range(t0, t1):
        b, i = t // ho, t % ho
        for j in range(wo):
            acc = y[b, i, j]
            acc[:] = bias
            for a in range(kh):
                for e in range(kw):
                    src = xp[b, i * sh + a, j * sw + e]
                    for ch in range(c):
                        v, w = src[ch], kernel[a, e, ch]
                        for k in range(f):
                            acc[k] += v * w[k]
            if relu:
                for k in range(f):
                    if acc[k] < 0:                      # NaN stays NaN
                        acc[k] = 0


def _chunks(n, ho, wo, rows):
    """Output-row ranges [t0, t1) of about ``rows`` windows each (t = b * H_out + i)."""
    step = max(1, rows // wo)
    return [(t0, min(n * ho, t0 + step)) for t0 in range(0, n * ho, step)]


# Winograd (winograd.py) for 3x3 stride-1 kernels on more channels than the direct loops
# take. The forward pass uses F(4x4, 3x3): 4x fewer multiplies than im2col + BLAS, about 3x
# faster on the thesis CNN's 64-channel layers, with float32 rounding about 15x im2col's
# (docs/kernels.md). The gradients use F(2x2, 3x3): 2.25x fewer multiplies, about 2x faster,
# rounding as im2col's; with F(4x4) there too, the weights after three Adam steps drifted
# from Keras's beyond the parity tests' 1e-4 (Adam's first steps move every weight by about
# the learning rate whatever its gradient's size, so a tiny gradient's rounding shows).
# Below about a hundred output tiles (4x4 pixels each, counted over the batch) the fixed
# costs (per-chunk transforms, small products) make Winograd no faster than im2col, which is
# kept there (measured in docs/benchmarks.md).
_WINOGRAD_MIN_TILES = 64
_WINOGRAD_TILE = {"forward": 4, "backward": 2}          # m of F(m x m, 3 x 3)


def _winograd_fits(kernel, sh, sw, n, ho, wo):
    """True when the convolution (N images, H_out x W_out outputs) goes through Winograd."""
    tiles = n * -(-ho // 4) * -(-wo // 4)
    return (kernel.shape[:2] == (3, 3) and (sh, sw) == (1, 1)
            and kernel.shape[2] > _DIRECT_MAX_CHANNELS and tiles >= _WINOGRAD_MIN_TILES)


def _forward_numba(xp, kernel, bias, sh, sw, ho, wo, relu):
    kh, kw, c, f = kernel.shape
    n = xp.shape[0]
    if _winograd_fits(kernel, sh, sw, n, ho, wo):
        return winograd_conv3x3(xp, kernel, bias, relu, _WINOGRAD_TILE["forward"])
    if c <= _DIRECT_MAX_CHANNELS:
        y = buffers.empty((n, ho, wo, f), xp.dtype)
        over_chunks(_direct_rows, n * ho, ROWS_PER_CHUNK, xp, kernel, bias, sh, sw, relu, y)
        return y
    y = buffers.empty((n * ho * wo, f), xp.dtype)
    chunks = _chunks(n, ho, wo, _CHUNK_ROWS["forward"])
    cols = buffers.empty(((chunks[0][1] - chunks[0][0]) * wo, kh * kw * c), xp.dtype)
    for t0, t1 in chunks:
        part, out = cols[:(t1 - t0) * wo], y[t0 * wo:t1 * wo]
        _im2col(xp, t0, t1, kh, kw, sh, sw, ho, wo, part)
        np.matmul(part, kernel.reshape(-1, f), out=out)
        out += bias                                      # while the chunk is still in cache
        if relu:
            np.maximum(out, 0, out=out)
    return y.reshape(n, ho, wo, f)


def _backward_numba(xp, kernel, dy, sh, sw, need_dx):
    if _winograd_fits(kernel, sh, sw, *dy.shape[:3]):
        m = _WINOGRAD_TILE["backward"]
        dxp = winograd_conv3x3_input_grad(dy, kernel, m) if need_dx else None
        return dxp, winograd_conv3x3_kernel_grad(xp, dy, m)
    return _backward_im2col(xp, kernel, dy, sh, sw, need_dx)


def _backward_im2col(xp, kernel, dy, sh, sw, need_dx):
    n, ho, wo, f = dy.shape
    kh, kw, c, _ = kernel.shape
    g = dy.reshape(-1, f)
    dkernel = np.zeros((kh * kw * c, f), kernel.dtype)
    dxp = buffers.zeros_like(xp) if need_dx else None
    chunks = _chunks(n, ho, wo, _CHUNK_ROWS["backward"])
    cols = buffers.empty(((chunks[0][1] - chunks[0][0]) * wo, kh * kw * c), xp.dtype)
    dcols = buffers.empty_like(cols) if need_dx else None
    for t0, t1 in chunks:
        part, g_part = cols[:(t1 - t0) * wo], g[t0 * wo:t1 * wo]
        _im2col(xp, t0, t1, kh, kw, sh, sw, ho, wo, part)
        dkernel += part.T @ g_part                               # dy/dkernel = window
        if need_dx:                                              # dy/dwindow = kernel
            dpart = np.matmul(g_part, kernel.reshape(-1, f).T, out=dcols[:len(part)])
            _col2im_add(dpart, t0, t1, kh, kw, sh, sw, ho, wo, dxp)
    return dxp, dkernel.reshape(kernel.shape)


_FORWARD = {"naive": _forward_naive, "numpy": _forward_numpy, "numba": _forward_numba}
_BACKWARD = {"naive": _backward_naive, "numpy": _backward_numpy, "numba": _backward_numba}


# ------------------------------------------------------------------------------ front door
def _plan(x, kernel, strides, padding):
    """Check shapes and return ``(strides, pads, (H_out, W_out))``."""
    check_rank(x, 4, "x", "(N, H, W, C_in)")
    check_rank(kernel, 4, "kernel", "(KH, KW, C_in, C_out)")
    if x.shape[3] != kernel.shape[2]:
        raise ValueError(f"x has {x.shape[3]} channels (shape {x.shape}) but the kernel "
                         f"expects {kernel.shape[2]} (kernel shape {kernel.shape})")
    strides = int_pair(strides, "strides")
    pads, out = window_plan(x.shape, kernel.shape[:2], strides, check_padding(padding))
    return strides, pads, out


def conv2d_forward(x, kernel, bias, strides=1, padding="valid", backend=None, relu=False):
    """Convolution layer forward pass (thesis eq. (1) at every window position).

    x (N, H, W, C_in), kernel (KH, KW, C_in, C_out), bias (C_out,) -> (N, H_out, W_out, C_out),
    with H_out = (H + pad_total - KH) // stride + 1; padding 'valid' or 'same' (Keras's).
    ``relu=True`` returns max(0, z) instead, computed in the same pass (the numba tier applies
    it while each chunk is in cache): a Conv2D(..., activation="relu").
    """
    x, kernel, bias = as_float_arrays(x, kernel, bias, names=("x", "kernel", "bias"))
    (sh, sw), pads, (ho, wo) = _plan(x, kernel, strides, padding)
    if bias.shape != kernel.shape[3:]:
        raise ValueError(f"bias must have shape ({kernel.shape[3]},) to match the kernel "
                         f"{kernel.shape}, got {bias.shape}")
    return _FORWARD[resolve(backend)](pad_hw(x, pads), kernel, bias, sh, sw, ho, wo, relu)


def conv2d_backward(x, kernel, dy, strides=1, padding="valid", need_dx=True, backend=None):
    """Gradients of :func:`conv2d_forward` given dy = dL/dy (N, H_out, W_out, C_out).

    Returns ``(dx, dkernel, dbias)`` shaped like x, kernel and (C_out,); ``dx`` is None when
    ``need_dx`` is False (the first layer never needs it). ``dy`` is not changed.
    """
    x, kernel, dy = as_float_arrays(x, kernel, dy, names=("x", "kernel", "dy"))
    (sh, sw), pads, (ho, wo) = _plan(x, kernel, strides, padding)
    expected = (x.shape[0], ho, wo, kernel.shape[3])
    if dy.shape != expected:
        raise ValueError(f"dy must have the output's shape {expected}, got {dy.shape}")
    dxp, dkernel = _BACKWARD[resolve(backend)](pad_hw(x, pads), kernel, dy, sh, sw, need_dx)
    dx = crop_hw(dxp, pads) if need_dx else None
    return dx, dkernel, dy.sum(axis=(0, 1, 2))
