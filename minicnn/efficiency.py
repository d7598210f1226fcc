"""Machine-independent speed figures: arithmetic per layer, the machine's own ceilings, and
how close a measured time comes to them.

A benchmark's images per second depend on the CPU (Keras's oneDNN runs about 3x faster with
AVX-512 than without); the fraction of the machine's own matrix-multiply rate a network
reaches does much less. So every figure here is a ratio to a ceiling measured on the same
machine, in the same process:

- **FLOPs** are counted as direct convolution does them (one multiply and one add per kernel
  weight per output): a Conv2D forward costs 2 N H_out W_out KH KW C_in C_out, its backward
  the same again for dkernel and once more for dx (skipped for the first layer); a Dense
  2 N in out forward, twice that backward. A method that multiplies less (Winograd) shows up
  as more *effective* GFLOPS, possibly above the ceiling.
- **sgemm ceiling**: NumPy's float32 matrix multiply (the machine's BLAS) on a
  (16384 x 576) @ (576 x 64) product: one 3x3, 64-channel convolution's im2col shape.
- **copy bandwidth**: bytes read plus written per second by a large ``np.copyto``.
- **roofline bound** of a step: the larger of its memory time (the bytes it must read and
  write, at the copy bandwidth) and its compute time (its FLOPs at the sgemm rate).
"""
import time

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from .layers import Conv2D, Dense

SGEMM_SHAPE = (16384, 576, 64)          # (M, K, N): im2col rows, 3*3*64, filters


def layer_flops(layer, batch, first=False):
    """``(forward, backward)`` FLOPs of a built layer for ``batch`` images (direct count;
    0 for layers without multiply-adds). ``first``: the model's first layer (no dx)."""
    if isinstance(layer, Conv2D):
        ho, wo, f = layer.output_shape
        forward = 2 * batch * ho * wo * f * int(np.prod(layer.params["kernel"].shape[:3]))
        return forward, forward * (1 if first else 2)
    if isinstance(layer, Dense):
        forward = 2 * batch * layer.params["kernel"].size
        return forward, forward * (1 if first else 2)
    return 0, 0


def model_flops(model, batch):
    """``(predict, train)`` FLOPs of one batch: the forward, and forward plus backward."""
    pairs = [layer_flops(layer, batch, i == 0) for i, layer in enumerate(model.layers)]
    forward = sum(f for f, _ in pairs)
    return forward, forward + sum(b for _, b in pairs)


def median_seconds(run, repeats):
    """Median seconds of ``repeats`` calls of ``run()``, after one untimed warm-up call."""
    run()                                            # warm: threads up, pages touched
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def sgemm_gflops(shape=SGEMM_SHAPE, repeats=7, seed=0):
    """The machine's float32 matrix-multiply rate (GFLOPS) on ``(M, K) @ (K, N)``, BLAS on
    as many threads as minicnn's kernels use (even after ``runtime.configure()`` made it
    single-threaded)."""
    m, k, n = shape
    rng = np.random.default_rng(seed)
    a, b = rng.random((m, k), np.float32), rng.random((k, n), np.float32)
    out = np.empty((m, n), np.float32)
    with threadpool_limits(limits=numba.get_num_threads(), user_api="blas"):
        seconds = median_seconds(lambda: np.matmul(a, b, out=out), repeats)
    return 2 * m * k * n / seconds / 1e9


def copy_gb_per_s(megabytes=256, repeats=7):
    """Bytes read plus written per second (GB/s) copying a ``megabytes`` float32 array."""
    src = np.ones(megabytes * 2**20 // 4, np.float32)
    dst = np.empty_like(src)
    return 2 * src.nbytes / median_seconds(lambda: np.copyto(dst, src), repeats) / 1e9


def roofline_ms(flops, nbytes, gflops, gb_per_s):
    """The least time (ms) a step can take: max(memory time, compute time)."""
    return 1e3 * max(nbytes / (gb_per_s * 1e9), flops / (gflops * 1e9))


def first_block_bytes(batch, size, filters=64, kernel=3, itemsize=4):
    """``(forward, backward)`` bytes the fused first block (conv + ReLU + 2x2 max-pool on a
    gray ``size`` x ``size`` image) must move: forward reads x and writes y and one argmax
    byte per output; backward reads x, argmax and dy (dkernel is a few KB)."""
    x = batch * size * size * itemsize
    pooled = batch * ((size - kernel + 1) // 2) ** 2 * filters
    return x + pooled * (itemsize + 1), x + pooled * (1 + itemsize)


def ceilings():
    """The machine's sgemm GFLOPS and copy GB/s, measured now."""
    return {"sgemm_gflops": sgemm_gflops(), "copy_gb_per_s": copy_gb_per_s(),
            "sgemm_shape": list(SGEMM_SHAPE)}
