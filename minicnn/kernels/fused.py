"""The first block of the thesis CNN in one pass: Conv2D (stride 1) + bias + ReLU followed by
MaxPooling2D(2x2, stride 2, 'valid').

Shapes: x (N, H, W, C), kernel (KH, KW, C, F), bias (F,); the convolution's map z is
(N, H_out, W_out, F) and the block's output y (N, H_out // 2, W_out // 2, F):

    y[n, p, q, f] = max over (di, dj) in {0, 1}^2 of relu(z[n, 2p + di, 2q + dj, f])

with z from eq. (1) of the thesis (see ``conv.py``). Done layer by layer, z is written to
memory (for the thesis CNN at batch 32: 32 x 148 x 148 x 64 float32, 179 MB), read back by
the pooling, and the same again backward: the block is memory-bound while doing 5% of the
network's arithmetic. Here z lives only in an (8, F) buffer in cache (two neighbouring
windows at a time); forward writes y and one byte per output, ``argmax``: the offset
2 di + dj of the window's first maximum (row-major, as the max-pooling kernels choose), or
:data:`NO_GRADIENT` when the maximum is not positive (ReLU's derivative is 0 there, also
for NaN). Backward needs only x, ``argmax`` and dy:

    dkernel[a, e, c, f] = sum over (n, p, q) with argmax = 2 di + dj of
                          x[n, 2p + di + a, 2q + dj + e, c] * dy[n, p, q, f]
    dbias[f] = sum of dy[n, p, q, f] where argmax < NO_GRADIENT

It is the gradient of the two layers (eqs. (4)-(7) of the thesis, chain rule through the
max and the ReLU), without the map dz in between. The first layer needs no dx; when a caller
wants it, :func:`unpool_gradient` rebuilds dz for the ordinary convolution backward.

One tier (Numba): the unfused layers are the readable reference, and the tests compare the
two. The direct loops suit a few input channels (a gray or RGB image), as in ``conv.py``.
Wider blocks (64 channels) convolve by Winograd (``winograd.py``) and pool each 4x4 output
tile, four 2x2 windows, while it is in cache (:func:`conv_relu_maxpool`); where Winograd
does not apply, :func:`relu_maxpool` pools the convolution's map.
"""
import numba
import numpy as np

from . import buffers, conv
from ._checks import as_float_arrays, check_rank
from .conv import _DIRECT_MAX_CHANNELS
from .geometry import pad_hw
from .winograd import _check as check_winograd
from .winograd import (_output_tile_2, _output_tile_4, _tile_origin, run_convolution,
                       tile_grid)
from .workers import ROWS_PER_CHUNK, over_chunks

NO_GRADIENT = 4                 # argmax value of a window whose maximum is 0 or less (or NaN)
MAX_CHANNELS = _DIRECT_MAX_CHANNELS   # as the convolution's direct loops; wider inputs go
                                      # through Winograd or im2col + BLAS


@numba.njit(cache=True)
def _window_convs(xp, kernel, bias, b, i, j, z, windows):
    """Eq. (1) at the output pixels of ``windows`` (1 or 2) side-by-side pooling windows
    whose top left is (i, j): z[4 w + 2 di + dj] = bias + the window sum at pixel
    (i + di, j + 2 w + dj). The filters are the innermost, vectorised loop; two windows per
    call share the loops' fixed costs (1.4x faster single-threaded, docs/kernels.md)."""
    kh, kw, c, f = kernel.shape
    for o in range(4 * windows):
        z[o] = bias
    for a in range(kh):
        for e in range(kw):
            for ch in range(c):
                w, top, low = kernel[a, e, ch], xp[b, i + a], xp[b, i + a + 1]
                v0, v1 = top[j + e, ch], top[j + e + 1, ch]
                v2, v3 = low[j + e, ch], low[j + e + 1, ch]
                if windows == 1:
                    for k in range(f):
                        wk = w[k]
                        z[0, k] += v0 * wk
                        z[1, k] += v1 * wk
                        z[2, k] += v2 * wk
                        z[3, k] += v3 * wk
                    continue
                u0, u1 = top[j + e + 2, ch], top[j + e + 3, ch]
                u2, u3 = low[j + e + 2, ch], low[j + e + 3, ch]
                for k in range(f):
                    wk = w[k]
                    z[0, k] += v0 * wk
                    z[1, k] += v1 * wk
                    z[2, k] += v2 * wk
                    z[3, k] += v3 * wk
                    z[4, k] += u0 * wk
                    z[5, k] += u1 * wk
                    z[6, k] += u2 * wk
                    z[7, k] += u3 * wk


@numba.njit(cache=True)
def _larger(v, o, m, arg):
    """(v, o) when v beats the maximum m so far (found at offset arg), else (m, arg): the
    first maximum in row-major order wins a tie and a NaN wins, as in the pooling layer."""
    return (v, o) if v > m or (v != v and m == m) else (m, arg)


@numba.njit(cache=True)
def _pool_window(z, o0, best, first):
    """One 2x2 window, per filter: best (F,) = the largest of its four sums z[o0:o0 + 4]
    (row-major offsets 0..3) after ReLU; first (F,) the offset of the first largest, or
    NO_GRADIENT when it is not positive."""
    for k in range(best.shape[0]):
        m, arg = _larger(z[o0 + 1, k], 1, z[o0, k], 0)
        m, arg = _larger(z[o0 + 2, k], 2, m, arg)
        m, arg = _larger(z[o0 + 3, k], 3, m, arg)
        best[k] = 0 if m < 0 else m                # ReLU after the max: the same (monotone)
        first[k] = arg if m > 0 else NO_GRADIENT


@numba.njit(nogil=True, cache=True)
def _forward_rows(xp, kernel, bias, y, argmax, t0, t1):
    """The block's output rows t0 <= t < t1, row t = (image t // Hq, pooled row t % Hq)."""
    hq, wq, f = y.shape[1:]
    z = np.empty((8, f), y.dtype)
    for t in range(t0, t1):
        b, p = t // hq, t % hq
        for q in range(0, wq, 2):
            windows = min(2, wq - q)
            _window_convs(xp, kernel, bias, b, 2 * p, 2 * q, z, windows)
            for w in range(windows):
                _pool_window(z, 4 * w, y[b, p, q + w], argmax[b, p, q + w])


@numba.njit(nogil=True, cache=True)
def _kernel_grad_rows(xp, argmax, dy, t0, t1, dk, db):
    """dk (KH, KW, C, F) and db (F,) = the share of dkernel and dbias of the output rows
    t0 <= t < t1. Vectorised over the filters: for each of the 4 window offsets, dy masked
    to the filters whose maximum sat there, times the window at that offset."""
    hq, wq, f = dy.shape[1:]
    kh, kw, c, _ = dk.shape
    dk[:] = 0
    db[:] = 0
    g = np.empty(f, dy.dtype)
    for t in range(t0, t1):
        b, p = t // hq, t % hq
        for q in range(wq):
            for o in range(4):
                for k in range(f):
                    g[k] = dy[b, p, q, k] if argmax[b, p, q, k] == o else 0
                    db[k] += g[k]
                i, j = 2 * p + o // 2, 2 * q + o % 2
                for a in range(kh):
                    for e in range(kw):
                        src = xp[b, i + a, j + e]
                        for ch in range(c):
                            v, dst = src[ch], dk[a, e, ch]
                            for k in range(f):
                                dst[k] += v * g[k]


def _rows(kernel, rows, *args):
    """``kernel(*args, t0, t1)`` over the output rows 0 <= t < ``rows``, on the workers."""
    over_chunks(kernel, rows, ROWS_PER_CHUNK, *args)


def _kernel_grad_chunk(xp, argmax, dy, dkernel_parts, dbias_parts, t0, t1):
    """The chunk starting at row t0 writes its own part (so the sum over parts, in order,
    does not depend on which thread took which chunk: the same gradient every run)."""
    part = t0 // ROWS_PER_CHUNK
    _kernel_grad_rows(xp, argmax, dy, t0, t1, dkernel_parts[part], dbias_parts[part])


def _pooled_hw(x_shape, kernel_shape):
    """(Hq, Wq) of the block for x (N, H, W, C) and kernel (KH, KW, C, F); ValueError naming
    the sizes when they do not fit."""
    if len(x_shape) != 4 or len(kernel_shape) != 4:
        raise ValueError(f"x must be (N, H, W, C) and the kernel (KH, KW, C, F); got shapes "
                         f"{x_shape} and {kernel_shape}")
    if x_shape[3] != kernel_shape[2]:
        raise ValueError(f"x has {x_shape[3]} channels (shape {x_shape}) but the kernel "
                         f"expects {kernel_shape[2]} (kernel shape {kernel_shape})")
    ho, wo = x_shape[1] - kernel_shape[0] + 1, x_shape[2] - kernel_shape[1] + 1
    if ho < 2 or wo < 2:
        raise ValueError(f"the convolution's output {ho}x{wo} (input {x_shape[1:3]}, kernel "
                         f"{kernel_shape[:2]}) is smaller than the 2x2 pooling window")
    return ho // 2, wo // 2


def conv_relu_maxpool_forward(x, kernel, bias):
    """Conv2D(stride 1, 'valid') + bias + ReLU + MaxPooling2D(2x2) without the full map.

    x (N, H, W, C), kernel (KH, KW, C, F), bias (F,) -> ``(y, argmax)``: y (N, Hq, Wq, F)
    with Hq = (H - KH + 1) // 2, and argmax (N, Hq, Wq, F) uint8 (see the module docstring).
    Pad x first for a 'same' convolution. (Skipping argmax for inference measured no faster:
    the byte per output is small beside y's four.)
    """
    x, kernel, bias = as_float_arrays(x, kernel, bias, names=("x", "kernel", "bias"))
    hq, wq = _pooled_hw(x.shape, kernel.shape)
    shape = (x.shape[0], hq, wq, kernel.shape[3])
    y = buffers.empty(shape, x.dtype)
    argmax = buffers.empty(shape, np.uint8)
    _rows(_forward_rows, shape[0] * hq, x, kernel, bias, y, argmax)
    return y, argmax


def conv_relu_maxpool_kernel_grad(x, argmax, dy, kernel_size):
    """``(dkernel, dbias)`` of :func:`conv_relu_maxpool_forward` from dy = dL/dy
    (N, Hq, Wq, F) and the forward's ``argmax``; dkernel (KH, KW, C, F), dbias (F,)."""
    x, dy = as_float_arrays(x, dy, names=("x", "dy"))
    kh, kw = kernel_size
    if dy.ndim != 4 or dy.shape[1:3] != _pooled_hw(x.shape, (kh, kw, x.shape[3], dy.shape[3])):
        raise ValueError(f"dy {dy.shape} is not the block's output for x {x.shape} and a "
                         f"{kh}x{kw} kernel")
    if argmax is None or argmax.shape != dy.shape:
        raise ValueError(f"argmax must be the forward's, shaped like dy {dy.shape}")
    rows = dy.shape[0] * dy.shape[1]
    parts = -(-rows // ROWS_PER_CHUNK)
    dkernel_parts = np.empty((parts, kh, kw, x.shape[3], dy.shape[3]), x.dtype)
    dbias_parts = np.empty((parts, dy.shape[3]), x.dtype)
    _rows(_kernel_grad_chunk, rows, x, argmax, dy, dkernel_parts, dbias_parts)
    return dkernel_parts.sum(axis=0), dbias_parts.sum(axis=0)


@numba.njit(nogil=True, cache=True)
def _pool_rows(z, y, argmax, t0, t1):
    hq, wq, f = y.shape[1:]
    for t in range(t0, t1):
        b, p = t // hq, t % hq
        for q in range(wq):
            for k in range(f):
                m, arg = _larger(z[b, 2 * p, 2 * q + 1, k], 1, z[b, 2 * p, 2 * q, k], 0)
                m, arg = _larger(z[b, 2 * p + 1, 2 * q, k], 2, m, arg)
                m, arg = _larger(z[b, 2 * p + 1, 2 * q + 1, k], 3, m, arg)
                y[b, p, q, k] = m
                argmax[b, p, q, k] = arg if m > 0 else NO_GRADIENT


def relu_maxpool(z):
    """2x2 max-pooling of a ReLU's output z (N, H, W, F) -> ``(y, argmax)``, y (N, H // 2,
    W // 2, F) and argmax as :func:`conv_relu_maxpool_forward`'s: the second half of the
    block for convolutions the direct loops do not suit (64 input channels)."""
    check_rank(z, 4, "z", "(N, H, W, F)")
    shape = (z.shape[0], z.shape[1] // 2, z.shape[2] // 2, z.shape[3])
    y, argmax = buffers.empty(shape, z.dtype), buffers.empty(shape, np.uint8)
    _rows(_pool_rows, shape[0] * shape[1], np.ascontiguousarray(z), y, argmax)
    return y, argmax


@numba.njit(nogil=True, cache=True)
def _unpool_rows(argmax, dy, dz, t0, t1):
    hq, wq, f = dy.shape[1:]
    for t in range(t0, t1):
        b, r = t // dz.shape[1], t % dz.shape[1]
        p, di = r // 2, r % 2
        for j in range(dz.shape[2]):
            q, dj = j // 2, j % 2
            for k in range(f):
                inside = p < hq and q < wq
                dz[b, r, j, k] = (dy[b, p, q, k] if inside and argmax[b, p, q, k] == 2 * di + dj
                                  else 0)


def unpool_gradient(argmax, dy, conv_hw):
    """dz = dL/dz (N, H_out, W_out, F), the gradient at the convolution's output, from dy and
    ``argmax``: each dy goes to its window's winning cell, every other cell gets 0."""
    dz = buffers.empty((dy.shape[0],) + tuple(conv_hw) + (dy.shape[3],), dy.dtype)
    _rows(_unpool_rows, dz.shape[0] * dz.shape[1], argmax, np.ascontiguousarray(dy), dz)
    return dz


@numba.njit(nogil=True, cache=True)
def _pooled_output_transform(mm, m, t0, t1, tiles_h, tiles_w, bias, y, argmax):
    """For Winograd's tiles t0 <= t < t1 (mm (α², chunk, F), m even): the m x m output tile
    Aᵀ M A + bias, ReLU'd, in a buffer, then its (m / 2)² pooling windows into y
    (N, Hq, Wq, F) and argmax, as :func:`relu_maxpool` would from the written map."""
    f = y.shape[3]
    tmp, tile = np.empty((m, m + 2, f), y.dtype), np.empty((1, m, m, f), y.dtype)
    z = np.empty((4, f), y.dtype)
    zero = np.zeros(1, y.dtype)[0]
    for t in range(t0, t1):
        b, r0, c0 = _tile_origin(t, m, tiles_h, tiles_w)
        if m == 4:
            _output_tile_4(mm, t - t0, bias, True, zero, tmp, tile, 0, 0, 0)
        else:
            _output_tile_2(mm, t - t0, bias, True, zero, tmp, tile, 0, 0, 0)
        for i in range(0, m, 2):
            for j in range(0, m, 2):
                p, q = (r0 + i) // 2, (c0 + j) // 2
                if p < y.shape[1] and q < y.shape[2]:        # the window is inside the map
                    z[0], z[1] = tile[0, i, j], tile[0, i, j + 1]
                    z[2], z[3] = tile[0, i + 1, j], tile[0, i + 1, j + 1]
                    _pool_window(z, 0, y[b, p, q], argmax[b, p, q])


def winograd_relu_maxpool(xp, kernel, bias, m=4):
    """Valid 3x3 stride-1 convolution of the padded xp (N, Hp, Wp, C) by Winograd
    F(m x m, 3 x 3) (m = 2 or 4), + bias, ReLU, 2x2 max-pool -> ``(y, argmax)`` (N, Hq, Wq, F),
    Hq = (Hp - 2) // 2: the same arrays as relu_maxpool(winograd_conv3x3(xp, kernel, bias,
    relu=True, m=m)), bit for bit, without writing or reading back the convolution's map."""
    xp, kernel, bias = np.ascontiguousarray(xp), np.asarray(kernel), np.asarray(bias)
    check_winograd(xp, kernel, bias)
    n, ho, wo, f = xp.shape[0], xp.shape[1] - 2, xp.shape[2] - 2, kernel.shape[3]
    y = buffers.empty((n, ho // 2, wo // 2, f), xp.dtype)
    argmax = buffers.empty(y.shape, np.uint8)
    bias, grid = np.ascontiguousarray(bias, xp.dtype), tile_grid((ho, wo), m)

    def emit(mm, t0, t1):
        _pooled_output_transform(mm, m, t0, t1, *grid, bias, y, argmax)
    run_convolution(xp, 0, kernel, m, emit)
    return y, argmax


def conv_relu_maxpool(x, kernel, bias, strides=1, padding="valid"):
    """Conv2D(activation='relu') + MaxPooling2D(2x2) on x (N, H, W, C) -> ``(y, argmax)``
    as :func:`relu_maxpool` gives them. Where the numba tier convolves by Winograd, the
    pooling happens in Winograd's output transform (the map is never written); elsewhere the
    convolution runs, then :func:`relu_maxpool`."""
    x, kernel, bias = as_float_arrays(x, kernel, bias, names=("x", "kernel", "bias"))
    (sh, sw), pads, (ho, wo) = conv._plan(x, kernel, strides, padding)
    if bias.shape != kernel.shape[3:] or not conv._winograd_fits(kernel, sh, sw, x.shape[0],
                                                                  ho, wo):
        return relu_maxpool(conv.conv2d_forward(x, kernel, bias, strides, padding, relu=True))
    return winograd_relu_maxpool(pad_hw(x, pads), kernel, bias, conv._WINOGRAD_TILE["forward"])
