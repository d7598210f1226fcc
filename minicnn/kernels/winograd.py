"""Winograd convolution for 3x3 stride-1 kernels: fewer multiplies per output pixel.

It computes the same window sums as ``conv.py`` (the thesis's eq. (1), z = sum w x + b, at
every output pixel), only grouped by tiles of outputs.

A 3x3 'valid' cross-correlation of an (m+2)x(m+2) input tile d with a 3x3 kernel g gives an
m x m output tile Y. Winograd's minimal filtering algorithm F(m x m, 3 x 3) computes it as

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A          (⊙: elementwise product)

with the small constant matrices below (α = m + 2 is the transformed tile size):

    m = 2: Bᵀ (4x4), G (4x3), Aᵀ (2x4)   -> 16 products per tile (direct: 4 * 9 = 36)
    m = 4: Bᵀ (6x6), G (6x3), Aᵀ (4x6)   -> 36 products per tile (direct: 16 * 9 = 144)

With C input channels and F filters the elementwise product becomes, for each of the α²
positions k of the transformed tile, a matrix product over the channels:

    M[k] = V[k] @ U[k],   V = Bᵀ d B  (α², T, C),  U = G g Gᵀ  (α², C, F),  M (α², T, F)

for T tiles at once, so the layer is α² BLAS products (T, C) @ (C, F) between two cheap
transforms: the input transform (per tile and channel) and the output transform Aᵀ M A
(per tile and filter), which also adds the bias and applies the ReLU.

Shapes (channels-last, as the rest of minicnn.kernels):
    xp (N, Hp, Wp, C) already padded, kernel (3, 3, C, F), bias (F,) -> y (N, Hp-2, Wp-2, F)

The gradients reuse the same pieces: dx is the forward convolution of dy padded by 2 with the
kernel rotated 180 degrees (channel axes swapped); dK = Gᵀ dU G with dU[k] = Σ V[k]ᵀ W[k],
W = A dY Aᵀ per tile.

The larger tile saves more multiplies but its transforms have larger constants (up to 8 in
Aᵀ, 5 in Bᵀ, 1/24 in G), which costs some float32 accuracy; docs/kernels.md measures it.
"""
import numba
import numpy as np

from . import buffers
from .workers import run_workers

# ------------------------------------------------------------------ the transform matrices
# F(2x2, 3x3): interpolation points 0, 1, -1 and infinity.
BT_2 = np.array([[1, 0, -1, 0],
                 [0, 1, 1, 0],
                 [0, -1, 1, 0],
                 [0, 1, 0, -1]], dtype=np.float64)
G_2 = np.array([[1, 0, 0],
                [1 / 2, 1 / 2, 1 / 2],
                [1 / 2, -1 / 2, 1 / 2],
                [0, 0, 1]], dtype=np.float64)
AT_2 = np.array([[1, 1, 1, 0],
                 [0, 1, -1, -1]], dtype=np.float64)

# F(4x4, 3x3): interpolation points 0, 1, -1, 2, -2 and infinity.
BT_4 = np.array([[4, 0, -5, 0, 1, 0],
                 [0, -4, -4, 1, 1, 0],
                 [0, 4, -4, -1, 1, 0],
                 [0, -2, -1, 2, 1, 0],
                 [0, 2, -1, -2, 1, 0],
                 [0, 4, 0, -5, 0, 1]], dtype=np.float64)
G_4 = np.array([[1 / 4, 0, 0],
                [-1 / 6, -1 / 6, -1 / 6],
                [-1 / 6, 1 / 6, -1 / 6],
                [1 / 24, 1 / 12, 1 / 6],
                [1 / 24, -1 / 12, 1 / 6],
                [0, 0, 1]], dtype=np.float64)
AT_4 = np.array([[1, 1, 1, 1, 1, 0],
                 [0, 1, -1, 2, -2, 0],
                 [0, 1, 1, 4, 4, 0],
                 [0, 1, -1, 8, -8, 1]], dtype=np.float64)

TRANSFORMS = {2: (BT_2, G_2, AT_2), 4: (BT_4, G_4, AT_4)}   # m -> (Bᵀ, G, Aᵀ)
DEFAULT_TILE = 4
# Tiles per chunk: the chunk's transformed input and products (α² * tiles * channels each)
# stay in the processor's cache between the transforms and the matrix products.
_CHUNK_TILES = {2: 1024, 4: 256}


def winograd_tile_reference(d, g):
    """One tile, one channel, in plain NumPy: Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A.

    d (m+2, m+2) input tile, g (3, 3) kernel -> (m, m), the 'valid' cross-correlation of d
    with g, for m = 2 or 4.
    """
    bt, gm, at = TRANSFORMS[d.shape[0] - 2]
    return at @ ((gm @ g @ gm.T) * (bt @ d @ bt.T)) @ at.T


def _sandwich(left, x, right):
    """left @ x @ rightᵀ on the first two axes of x, for all trailing indices at once:
    x (p, q, ...) float64, left (P, p), right (Q, q) -> (P, Q, ...).

    Two BLAS products, (P, p) @ (p, q·R) then (Q, q) @ (q, R) per row; einsum did the same
    in 3-5x the time (its path search and transposes cost more than the arithmetic at these
    sizes: 0.76 ms against 0.23 ms for a (3, 3, 64, 64) kernel, benchmarks/per_call.py).
    """
    p, q, rest = x.shape[0], x.shape[1], x.shape[2:]
    rows = (left @ x.reshape(p, -1)).reshape(left.shape[0], q, -1)     # (P, q, R)
    return np.matmul(right, rows).reshape(left.shape[0], right.shape[0], *rest)


def kernel_transform(kernel, m=DEFAULT_TILE):
    """U = G g Gᵀ for every (input channel, filter): kernel (3, 3, C, F) -> (α², C, F).

    Computed in float64 and rounded once to the kernel's dtype (G holds 1/6 and 1/24).
    """
    _, gm, _ = TRANSFORMS[m]
    u = _sandwich(gm, kernel.astype(np.float64), gm)
    return np.ascontiguousarray(u.reshape(-1, *kernel.shape[2:]), dtype=kernel.dtype)


# --------------------------------------------------------- 1-D transforms, written out
# Each applies one matrix (Bᵀ or Aᵀ) to a column of the tile; the 2-D transform applies it
# to the columns, then to the rows. Sums are grouped to share work (same values as Bᵀ d).
@numba.njit(cache=True)
def _bt_2(d0, d1, d2, d3):
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


@numba.njit(cache=True)
def _at_2(m0, m1, m2, m3):
    return m0 + m1 + m2, m1 - m2 - m3


@numba.njit(cache=True)
def _twice(x):
    """2x, exactly, in x's own type (a literal 2 would turn float32 arithmetic into float64)."""
    return x + x


@numba.njit(cache=True)
def _bt_4(d0, d1, d2, d3, d4, d5):
    s12, s34 = _twice(_twice(d1 + d2)), d3 + d4                       # 4(d1 + d2), d3 + d4
    t12, t34 = _twice(_twice(d1 - d2)), d4 - d3
    p, q = d4 - d2, _twice(d3 - d1)
    four_d2, four_d3 = _twice(_twice(d2)), _twice(_twice(d3))
    return (_twice(_twice(d0)) - (four_d2 + d2) + d4, s34 - s12, t12 + t34, p + q, p - q,
            _twice(_twice(d1)) - (four_d3 + d3) + d5)


@numba.njit(cache=True)
def _at_4(m0, m1, m2, m3, m4, m5):
    a, b, c, d = m1 + m2, m1 - m2, m3 + m4, m3 - m4
    two_d = _twice(d)
    return m0 + a + c, b + two_d, a + _twice(_twice(c)), b + _twice(_twice(two_d)) + m5


@numba.njit(cache=True)
def _a_2(x0, x1):
    """A (the transpose of Aᵀ) applied to a column of an output-gradient tile."""
    return x0, x0 + x1, x0 - x1, -x1


@numba.njit(cache=True)
def _a_4(x0, x1, x2, x3):
    """A (the transpose of Aᵀ) applied to a column of an output-gradient tile."""
    even, odd = x0 + _twice(_twice(x2)), _twice(x1) + _twice(_twice(_twice(x3)))
    return x0, x0 + x1 + x2 + x3, x0 - x1 + x2 - x3, even + odd, even - odd, x3


# ------------------------------------------------------------- per-tile transforms
# Vectorised over the channels (contiguous in memory). Each innermost loop writes one output
# row: LLVM vectorises that well, and it did not when one loop wrote all α rows at once
# (about 5x slower for m = 4), although the 1-D transform is then evaluated α times.
@numba.njit(cache=True)
def _input_tile_2(src, b, r0, c0, tmp, v, t):
    """v[4*i + k, t, :] = (Bᵀ d B)[i, k] for the 4x4 tile d = src[b, r0:r0+4, c0:c0+4, :]."""
    for j in range(4):                                   # tmp = Bᵀ d, column by column
        for k in range(4):
            for c in range(src.shape[3]):
                tmp[k, j, c] = _bt_2(src[b, r0, c0 + j, c], src[b, r0 + 1, c0 + j, c],
                                     src[b, r0 + 2, c0 + j, c], src[b, r0 + 3, c0 + j, c])[k]
    for i in range(4):                                   # v = (Bᵀ d) B, row by row
        for k in range(4):
            for c in range(src.shape[3]):
                v[4 * i + k, t, c] = _bt_2(tmp[i, 0, c], tmp[i, 1, c], tmp[i, 2, c],
                                           tmp[i, 3, c])[k]


@numba.njit(cache=True)
def _input_tile_4(src, b, r0, c0, tmp, v, t):
    """v[6*i + k, t, :] = (Bᵀ d B)[i, k] for the 6x6 tile d = src[b, r0:r0+6, c0:c0+6, :]."""
    for j in range(6):                                   # tmp = Bᵀ d, column by column
        for k in range(6):
            for c in range(src.shape[3]):
                tmp[k, j, c] = _bt_4(src[b, r0, c0 + j, c], src[b, r0 + 1, c0 + j, c],
                                     src[b, r0 + 2, c0 + j, c], src[b, r0 + 3, c0 + j, c],
                                     src[b, r0 + 4, c0 + j, c], src[b, r0 + 5, c0 + j, c])[k]
    for i in range(6):                                   # v = (Bᵀ d) B, row by row
        for k in range(6):
            for c in range(src.shape[3]):
                v[6 * i + k, t, c] = _bt_4(tmp[i, 0, c], tmp[i, 1, c], tmp[i, 2, c],
                                           tmp[i, 3, c], tmp[i, 4, c], tmp[i, 5, c])[k]


@numba.njit(cache=True)
def _grad_tile_2(src, b, r0, c0, tmp, w, t):
    """w[4*i + k, t, :] = (A dY Aᵀ)[i, k] for the 2x2 tile dY = src[b, r0:r0+2, c0:c0+2, :]."""
    for j in range(2):                                   # tmp = A dY, column by column
        for k in range(4):
            for f in range(src.shape[3]):
                tmp[k, j, f] = _a_2(src[b, r0, c0 + j, f], src[b, r0 + 1, c0 + j, f])[k]
    for i in range(4):                                   # w = (A dY) Aᵀ, row by row
        for k in range(4):
            for f in range(src.shape[3]):
                w[4 * i + k, t, f] = _a_2(tmp[i, 0, f], tmp[i, 1, f])[k]


@numba.njit(cache=True)
def _grad_tile_4(src, b, r0, c0, tmp, w, t):
    """w[6*i + k, t, :] = (A dY Aᵀ)[i, k] for the 4x4 tile dY = src[b, r0:r0+4, c0:c0+4, :]."""
    for j in range(4):                                   # tmp = A dY, column by column
        for k in range(6):
            for f in range(src.shape[3]):
                tmp[k, j, f] = _a_4(src[b, r0, c0 + j, f], src[b, r0 + 1, c0 + j, f],
                                    src[b, r0 + 2, c0 + j, f], src[b, r0 + 3, c0 + j, f])[k]
    for i in range(6):                                   # w = (A dY) Aᵀ, row by row
        for k in range(6):
            for f in range(src.shape[3]):
                w[6 * i + k, t, f] = _a_4(tmp[i, 0, f], tmp[i, 1, f], tmp[i, 2, f],
                                          tmp[i, 3, f])[k]


@numba.njit(cache=True)
def _finish(z, relu, zero):
    """Bias already added: ReLU when asked (NaN < 0 is false, so NaN stays NaN)."""
    return zero if relu and z < 0 else z


@numba.njit(cache=True)
def _output_tile_2(mm, t, bias, relu, zero, tmp, dst, b, r0, c0):
    """dst[b, r0:r0+2, c0:c0+2, :] = Aᵀ M A + bias (ReLU'd when asked), M = mm[:, t, :]."""
    for j in range(4):                                   # tmp = Aᵀ M, column by column
        for k in range(2):
            for f in range(mm.shape[2]):
                tmp[k, j, f] = _at_2(mm[j, t, f], mm[4 + j, t, f], mm[8 + j, t, f],
                                     mm[12 + j, t, f])[k]
    for i in range(2):                                   # y = (Aᵀ M) A, row by row
        for k in range(2):
            for f in range(mm.shape[2]):
                z = _at_2(tmp[i, 0, f], tmp[i, 1, f], tmp[i, 2, f], tmp[i, 3, f])[k]
                dst[b, r0 + i, c0 + k, f] = _finish(z + bias[f], relu, zero)


@numba.njit(cache=True)
def _output_tile_4(mm, t, bias, relu, zero, tmp, dst, b, r0, c0):
    """dst[b, r0:r0+4, c0:c0+4, :] = Aᵀ M A + bias (ReLU'd when asked), M = mm[:, t, :]."""
    for j in range(6):                                   # tmp = Aᵀ M, column by column
        for k in range(4):
            for f in range(mm.shape[2]):
                tmp[k, j, f] = _at_4(mm[j, t, f], mm[6 + j, t, f], mm[12 + j, t, f],
                                     mm[18 + j, t, f], mm[24 + j, t, f], mm[30 + j, t, f])[k]
    for i in range(4):                                   # y = (Aᵀ M) A, row by row
        for k in range(4):
            for f in range(mm.shape[2]):
                z = _at_4(tmp[i, 0, f], tmp[i, 1, f], tmp[i, 2, f], tmp[i, 3, f],
                          tmp[i, 4, f], tmp[i, 5, f])[k]
                dst[b, r0 + i, c0 + k, f] = _finish(z + bias[f], relu, zero)


# ------------------------------------------------------------------ chunk transforms
@numba.njit(cache=True)
def _tile_origin(t, m, tiles_h, tiles_w):
    """Image and top-left pixel (b, r0, c0) of tile t (tiles in row-major order per image)."""
    b, rest = divmod(t, tiles_h * tiles_w)
    return b, m * (rest // tiles_w), m * (rest % tiles_w)


@numba.njit(cache=True)
def _copy_padded_tile(xp, b, r0, c0, tile):
    """tile[0] = xp[b, r0:r0+α, c0:c0+α, :], zeros where the tile runs past xp's edges (r0
    and c0 may be negative: the tile starts in the zero padding above or left of xp)."""
    tile[:] = 0
    for r in range(max(0, -r0), min(tile.shape[1], xp.shape[1] - r0)):
        for s in range(max(0, -c0), min(tile.shape[2], xp.shape[2] - c0)):
            tile[0, r, s, :] = xp[b, r0 + r, c0 + s, :]


@numba.njit(nogil=True, cache=True)
def _input_transform(xp, pad, m, t0, t1, tiles_h, tiles_w, v):
    """v[:, t - t0, :] = Bᵀ d B for the tiles t0 <= t < t1 of xp seen as padded with ``pad``
    zeros on each side of H and W (without copying it); v (α², chunk, C)."""
    alpha, c = m + 2, xp.shape[3]
    tmp = np.empty((alpha, alpha, c), xp.dtype)
    tile = np.empty((1, alpha, alpha, c), xp.dtype)
    for t in range(t0, t1):
        b, r0, c0 = _tile_origin(t, m, tiles_h, tiles_w)
        src, sb, sr, sc = xp, b, r0 - pad, c0 - pad
        if min(sr, sc) < 0 or sr + alpha > xp.shape[1] or sc + alpha > xp.shape[2]:
            _copy_padded_tile(xp, b, sr, sc, tile)               # padding or ragged edge
            src, sb, sr, sc = tile, 0, 0, 0
        if m == 4:
            _input_tile_4(src, sb, sr, sc, tmp, v, t - t0)
        else:
            _input_tile_2(src, sb, sr, sc, tmp, v, t - t0)


@numba.njit(nogil=True, cache=True)
def _output_transform(mm, m, t0, t1, tiles_h, tiles_w, bias, relu, y):
    """y's tiles t0 <= t < t1 = Aᵀ M A + bias (ReLU'd when asked); mm (α², chunk, F)."""
    alpha, f = m + 2, y.shape[3]
    tmp = np.empty((m, alpha, f), y.dtype)
    tile = np.empty((1, m, m, f), y.dtype)
    zero = np.zeros(1, y.dtype)[0]                  # 0 in y's own type
    for t in range(t0, t1):
        b, r0, c0 = _tile_origin(t, m, tiles_h, tiles_w)
        rows, cols = min(m, y.shape[1] - r0), min(m, y.shape[2] - c0)
        dst, db, dr, dc = y, b, r0, c0
        if rows < m or cols < m:                    # the ragged edge: keep the part inside
            dst, db, dr, dc = tile, 0, 0, 0
        if m == 4:
            _output_tile_4(mm, t - t0, bias, relu, zero, tmp, dst, db, dr, dc)
        else:
            _output_tile_2(mm, t - t0, bias, relu, zero, tmp, dst, db, dr, dc)
        if rows < m or cols < m:
            y[b, r0:r0 + rows, c0:c0 + cols, :] = tile[0, :rows, :cols, :]


@numba.njit(nogil=True, cache=True)
def _grad_transform(dy, m, t0, t1, tiles_h, tiles_w, w):
    """w[:, t - t0, :] = A dY Aᵀ for the m x m tiles t0 <= t < t1 of dy; w (α², chunk, F)."""
    alpha, f = m + 2, dy.shape[3]
    tmp = np.empty((alpha, m, f), dy.dtype)
    tile = np.empty((1, m, m, f), dy.dtype)
    for t in range(t0, t1):
        b, r0, c0 = _tile_origin(t, m, tiles_h, tiles_w)
        src, sb, sr, sc = dy, b, r0, c0
        if r0 + m > dy.shape[1] or c0 + m > dy.shape[2]:           # the ragged edge
            _copy_padded_tile(dy, b, r0, c0, tile)
            src, sb, sr, sc = tile, 0, 0, 0
        if m == 4:
            _grad_tile_4(src, sb, sr, sc, tmp, w, t - t0)
        else:
            _grad_tile_2(src, sb, sr, sc, tmp, w, t - t0)


# ------------------------------------------------------------------------- front door
def _convolve_chunks(xp, pad, u, m, tiles_hw, emit, claims, chunk):
    """One worker: claim chunks of tiles (t0 from ``claims``) until none are left; for each,
    input transform, α² matrix products, then ``emit(mm, t0, t1)`` writes its outputs; all
    in work arrays of this thread's own (from the model's buffers inside its calls)."""
    tiles_h, tiles_w = tiles_hw
    tiles = xp.shape[0] * tiles_h * tiles_w
    v = buffers.empty((u.shape[0], chunk, u.shape[1]), xp.dtype)
    mm = buffers.empty((u.shape[0], chunk, u.shape[2]), xp.dtype)
    for t0 in claims:                       # next() on a shared itertools.count is atomic
        if t0 >= tiles:
            return
        t1 = min(tiles, t0 + chunk)
        _input_transform(xp, pad, m, t0, t1, tiles_h, tiles_w, v)
        np.matmul(v[:, :t1 - t0], u, out=mm[:, :t1 - t0])
        emit(mm, t0, t1)


def _kernel_grad_chunks(xp, dy, m, claims, chunk):
    """One worker of :func:`winograd_conv3x3_kernel_grad`: the sum over the chunks it claims
    of V[k]ᵀ @ W[k] (V = Bᵀ d B of xp's tiles, W = A dY Aᵀ of dy's), float64 (α², C, F)."""
    tiles_h, tiles_w = tile_grid(dy.shape[1:3], m)
    tiles = dy.shape[0] * tiles_h * tiles_w
    v = buffers.empty(((m + 2) ** 2, chunk, xp.shape[3]), xp.dtype)
    w = buffers.empty(((m + 2) ** 2, chunk, dy.shape[3]), xp.dtype)
    part = buffers.empty(((m + 2) ** 2, xp.shape[3], dy.shape[3]), xp.dtype)
    total = buffers.zeros(part.shape, np.float64)
    for t0 in claims:
        if t0 >= tiles:
            return total
        t1 = min(tiles, t0 + chunk)
        _input_transform(xp, 0, m, t0, t1, tiles_h, tiles_w, v)
        _grad_transform(dy, m, t0, t1, tiles_h, tiles_w, w)
        total += np.matmul(v[:, :t1 - t0].transpose(0, 2, 1), w[:, :t1 - t0], out=part)
    return total


def _check(xp, kernel, bias, pad=0):
    """Dtype and shapes of a convolution of xp padded by ``pad`` on each side of H and W."""
    if xp.dtype not in (np.float32, np.float64):
        raise TypeError(f"xp must be float32 or float64, got {xp.dtype}")
    if (xp.ndim != 4 or kernel.shape[:3] != (3, 3, xp.shape[3])
            or bias.shape != kernel.shape[3:] or min(xp.shape[1:3]) + 2 * pad < 3):
        raise ValueError(f"need xp (N, Hp>=3, Wp>=3, C), kernel (3, 3, C, F), bias (F,); got "
                         f"{xp.shape}, {kernel.shape}, {bias.shape}")


def winograd_conv3x3(xp, kernel, bias, relu=False, m=DEFAULT_TILE):
    """Valid 3x3 stride-1 cross-correlation of the padded xp by Winograd F(m x m, 3 x 3).

    xp (N, Hp, Wp, C) float32 or float64 (Hp, Wp >= 3), kernel (3, 3, C, F), bias (F,)
    -> y (N, Hp-2, Wp-2, F) of xp's dtype; max(0, y) when ``relu`` (NaN stays NaN).
    ``m`` is the output tile side, 2 or 4. The same numbers as conv2d_forward up to rounding.

    Runs on ``numba.get_num_threads()`` threads, each taking chunks of tiles through all
    three steps with single-threaded BLAS: no thread waits for another between the steps.
    """
    xp, kernel, bias = np.ascontiguousarray(xp), np.asarray(kernel), np.asarray(bias)
    _check(xp, kernel, bias)
    return _convolve(xp, 0, kernel, bias, relu, m)


def _convolve(xp, pad, kernel, bias, relu, m):
    """:func:`winograd_conv3x3` of xp padded by ``pad`` zeros on each side of H and W."""
    n, hp, wp = xp.shape[0], xp.shape[1] + 2 * pad, xp.shape[2] + 2 * pad
    y = buffers.empty((n, hp - 2, wp - 2, kernel.shape[3]), xp.dtype)
    bias, relu, grid = np.ascontiguousarray(bias, xp.dtype), bool(relu), tile_grid(y.shape[1:3], m)

    def emit(mm, t0, t1):
        _output_transform(mm, m, t0, t1, *grid, bias, relu, y)
    run_convolution(xp, pad, kernel, m, emit)
    return y


def tile_grid(out_hw, m):
    """(tiles down, tiles across) covering an output of ``out_hw`` pixels with m x m tiles."""
    return -(-out_hw[0] // m), -(-out_hw[1] // m)


def run_convolution(xp, pad, kernel, m, emit):
    """The products M = V ⊙ U of the 3x3 valid convolution of xp padded by ``pad``, chunk by
    chunk on the worker threads; ``emit(mm, t0, t1)`` turns each chunk's M (α², chunk, F)
    into outputs (the output transform, and whatever follows it while the chunk is in cache).
    """
    tiles_hw = tile_grid((xp.shape[1] + 2 * pad - 2, xp.shape[2] + 2 * pad - 2), m)
    tiles = xp.shape[0] * tiles_hw[0] * tiles_hw[1]
    chunk = min(tiles, _CHUNK_TILES[m])
    u = kernel_transform(kernel.astype(xp.dtype, copy=False), m)
    run_workers(_convolve_chunks, tiles, chunk, xp, pad, u, m, tiles_hw, emit)


def winograd_conv3x3_input_grad(dy, kernel, m=DEFAULT_TILE):
    """Gradient of :func:`winograd_conv3x3` with respect to its padded input.

    dy (N, Ho, Wo, F), kernel (3, 3, C, F) -> dxp (N, Ho+2, Wo+2, C). It is the 'full'
    correlation of dy with the kernel rotated by 180 degrees and its channel axes swapped:
    the forward convolution of dy padded by 2 on each side of H and W (tiles that reach into
    the padding read zeros; no padded copy of dy is made).
    """
    dy = np.ascontiguousarray(dy)
    flipped = np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2), dy.dtype)
    bias = np.zeros(kernel.shape[2], dy.dtype)
    _check(dy, flipped, bias, pad=2)
    return _convolve(dy, 2, flipped, bias, False, m)     # the padding is never copied


def winograd_conv3x3_kernel_grad(xp, dy, m=DEFAULT_TILE):
    """Gradient of :func:`winograd_conv3x3` with respect to its kernel.

    xp (N, Ho+2, Wo+2, C), dy (N, Ho, Wo, F) -> dkernel (3, 3, C, F) of xp's dtype:
    dkernel = Gᵀ dU G with dU[k] = sum over tiles of V[k]ᵀ (A dY Aᵀ)[k], the adjoint of
    Y = Aᵀ [U ⊙ V] A (partial sums are added in float64).
    """
    xp, dy = np.ascontiguousarray(xp), np.ascontiguousarray(dy, xp.dtype)
    if xp.ndim != 4 or dy.ndim != 4 or xp.shape[:3] != (dy.shape[0], *np.add(dy.shape[1:3], 2)):
        raise ValueError(f"dy {dy.shape} is not the output shape of xp {xp.shape}")
    n, ho, wo, f = dy.shape
    _check(xp, np.empty((3, 3, xp.shape[3], f)), np.empty(f))
    tiles_h, tiles_w = tile_grid((ho, wo), m)
    tiles = n * tiles_h * tiles_w
    chunk = min(tiles, _CHUNK_TILES[m])
    du = sum(run_workers(_kernel_grad_chunks, tiles, chunk, xp, dy, m))
    _, gm, _ = TRANSFORMS[m]
    du = du.reshape(m + 2, m + 2, xp.shape[3], f)
    return _sandwich(gm.T, du, gm.T).astype(xp.dtype)
