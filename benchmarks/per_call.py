"""Per-call costs of the Winograd blocks at small batches and small images (issue 26, "every
size"), each "before" and "after" interleaved in one process:

- what one Winograd call starts (Python threads, Numba's threads) and what each fixed piece
  costs: the thread pool, threadpoolctl's BLAS limit, the kernel transform U = G g Gᵀ and
  dkernel's Gᵀ dU G (einsum, as before, against two BLAS products, as now);
- a 64-channel block's forward: the convolution's map written, then pooled (before), against
  the pooling done in Winograd's output transform (now), with the bytes that saves;
- the thesis CNN's predict and train_on_batch with both levers off and on.

Run it single-threaded so that the two columns see the same (shared) cores:

    NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/per_call.py [--repeats 15]

Prints median and min CPU ms (or µs) per variant (process time: a shared machine's other
programs inflate wall time, not this), the load average before each table, and the
effective direct-convolution GFLOPS beside one thread's sgemm rate (CPU time too). The
thread-pool rows are wall time (starting a thread is mostly waiting for the scheduler):
read their minimum, the median is the machine's load.
"""
import argparse
import contextlib
import itertools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from minicnn.kernels import conv, fused, winograd
from minicnn.models import thesis_cnn
from minicnn.runtime import blas_controller

# (name, batch, input side, filters) of the fused 64-channel blocks that go through Winograd
BLOCKS = {"150px/32": (("conv2d_1", 32, 74), ("conv2d_2", 32, 36)),
          "150px/8": (("conv2d_1", 8, 74), ("conv2d_2", 8, 36)),
          "64px/32": (("conv2d_1", 32, 31), ("conv2d_2", 32, 14))}
MODELS = (("150px/32", 32, 150), ("150px/8", 8, 150), ("64px/32", 32, 64))


def einsum_sandwich(left, x, right):
    """The code before: the same left @ x @ rightᵀ on x's first two axes, by einsum."""
    return np.einsum("ia,ab...,jb->ij...", left, x, right, optimize=True)


def conv_then_pool(x, kernel, bias, strides=1, padding="valid"):
    """The code before: the convolution writes its map, relu_maxpool reads it back."""
    return fused.relu_maxpool(conv.conv2d_forward(x, kernel, bias, strides, padding,
                                                  relu=True))


@contextlib.contextmanager
def before(sandwich=True, pooling=True):
    """Run the code as it was before the chosen levers (module attributes swapped back)."""
    saved = winograd._sandwich, fused.conv_relu_maxpool
    if sandwich:
        winograd._sandwich = einsum_sandwich
    if pooling:
        fused.conv_relu_maxpool = conv_then_pool
    try:
        yield
    finally:
        winograd._sandwich, fused.conv_relu_maxpool = saved


def interleaved(calls, repeats, clock=time.process_time):
    """{name: (median s, min s)} of each call, run in turn ``repeats`` times after a warm-up.
    By default the process's CPU time (single-threaded, it leaves out the time other
    programs held the core; on a shared machine wall time mostly measures them)."""
    times = {name: [] for name in calls}
    for name, call in itertools.chain(calls.items(), *[calls.items()] * repeats):
        start = clock()
        call()
        times[name].append(clock() - start)
    return {name: (float(np.median(t[1:])), min(t[1:])) for name, t in times.items()}


def sgemm_gflops(repeats):
    """One thread's float32 (16384x576)@(576x64) rate in GFLOPS of CPU time (median)."""
    rng = np.random.default_rng(0)
    a, b = rng.random((16384, 576), np.float32), rng.random((576, 64), np.float32)
    (med, _), = interleaved({"sgemm": lambda: a @ b}, repeats).values()
    return 2 * 16384 * 576 * 64 / med / 1e9


def header(title):
    print(f"\n{title}  (load average {os.getloadavg()[0]:.2f})")


def threads_started():
    """OS threads before Numba's first parallel loop, after it and after a second (its pool
    is started once and kept), then the Python threads each of two Winograd forwards starts
    (the code before this change started and joined them in every call)."""
    def os_threads():
        return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else -1

    counts = [os_threads()]
    for _ in range(2):
        fused.relu_maxpool(np.ones((2, 4, 4, 64), np.float32))       # a Numba parallel loop
        counts.append(os_threads())
    rng = np.random.default_rng(0)
    xp = rng.standard_normal((32, 16, 16, 64), np.float32)
    kernel, bias = rng.standard_normal((3, 3, 64, 64), np.float32), np.zeros(64, np.float32)
    started, start = [], threading.Thread.start

    def counting_start(thread):
        started.append(thread.name)
        return start(thread)
    per_call = []
    threading.Thread.start = counting_start
    try:
        for _ in range(2):
            winograd.winograd_conv3x3(xp, kernel, bias, relu=True)
            per_call.append(len(started) - sum(per_call))
    finally:
        threading.Thread.start = start
    print(f"OS threads before Numba's first parallel loop, after it, after a second: {counts} "
          f"(threading layer {numba.threading_layer()}); Python threads started by the first "
          f"and the second Winograd forward on {numba.get_num_threads()} Numba threads: "
          f"{per_call}")


def fixed_pieces(repeats):
    header("fixed costs per call, µs (median / min)")
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 3, 64, 64)).astype(np.float32)
    pool = ThreadPoolExecutor(2)

    def noop():
        return None

    def fresh_pool():
        with ThreadPoolExecutor(2) as fresh:
            [job.result() for job in [fresh.submit(noop) for _ in range(2)]]

    def blas_limit():
        with blas_controller().limit(limits=1, user_api="blas"):
            pass
    calls = {"2 threads started and joined (wall; each call does)": fresh_pool,
             "2 jobs on a persistent pool (wall)": lambda: [j.result() for j in
                                                     [pool.submit(noop) for _ in range(2)]],
             "threadpoolctl BLAS limit, enter and exit": blas_limit}
    for m in (4, 2):
        _, gm, _ = winograd.TRANSFORMS[m]
        du = rng.standard_normal((m + 2, m + 2, 64, 64))
        calls[f"U = G g Gᵀ, m={m}, einsum (before)"] = (
            lambda gm=gm: einsum_sandwich(gm, kernel.astype(np.float64), gm))
        calls[f"U = G g Gᵀ, m={m}, two BLAS products (now)"] = (
            lambda m=m: winograd.kernel_transform(kernel, m))
        calls[f"dK = Gᵀ dU G, m={m}, einsum (before)"] = (
            lambda gm=gm, du=du: einsum_sandwich(gm.T, du, gm.T))
        calls[f"dK = Gᵀ dU G, m={m}, two BLAS products (now)"] = (
            lambda gm=gm, du=du: winograd._sandwich(gm.T, du, gm.T))
    pieces = interleaved(calls, repeats * 20)
    threads = interleaved({name: calls.pop(name) for name in list(calls)[:2]}, repeats * 20,
                          time.perf_counter)
    for name, (med, low) in {**threads, **pieces}.items():
        print(f"  {name:52s} {1e6 * med:9.1f} {1e6 * low:9.1f}")
    pool.shutdown()


def blocks(repeats, sgemm):
    header("64-channel block forward (Winograd F(4x4) + ReLU + 2x2 max-pool), ms "
           "(median / min), direct-conv GFLOPS of the median")
    rng = np.random.default_rng(1)
    kernel = (rng.standard_normal((3, 3, 64, 64)) * 0.06).astype(np.float32)
    bias = np.zeros(64, np.float32)
    for case, layers in BLOCKS.items():
        for name, n, side in layers:
            x = np.maximum(rng.standard_normal((n, side, side, 64)), 0).astype(np.float32)
            ho = side - 2
            calls = {"map written, then pooled": lambda x=x: conv_then_pool(x, kernel, bias),
                     "pooled in the output transform": (
                         lambda x=x: fused.conv_relu_maxpool(x, kernel, bias))}
            flops, saved = 2 * n * ho * ho * 9 * 64 * 64, 2 * n * ho * ho * 64 * 4
            print(f"  {case} {name} (input {n}x{side}x{side}x64; map {saved / 2e6:.1f} MB not "
                  f"written nor read back)")
            for label, (med, low) in interleaved(calls, repeats).items():
                print(f"    {label:34s} {1e3 * med:8.2f} {1e3 * low:8.2f}  "
                      f"{flops / med / 1e9:6.1f} GFLOPS = {flops / med / 1e9 / sgemm:.2f}x sgemm")


def models(repeats):
    header("thesis CNN, ms per batch (median / min): both levers off (before) / on (now)")
    for case, n, size in MODELS:
        model = thesis_cnn((size, size, 1), 2, seed=0)
        model.compile("adam", "sparse_categorical_crossentropy")
        rng = np.random.default_rng(2)
        x, y = rng.random((n, size, size, 1), np.float32), rng.integers(0, 2, n)

        def run_before(call):
            def run():
                with before():
                    call()
            return run
        predict, train = (lambda: model.predict(x, batch_size=n)), (
            lambda: model.train_on_batch(x, y))
        calls = {"predict before": run_before(predict), "predict now": predict,
                 "train before": run_before(train), "train now": train}
        result = interleaved(calls, repeats)
        print(f"  {case}: " + "; ".join(f"{name} {1e3 * med:.1f} / {1e3 * low:.1f}"
                                        for name, (med, low) in result.items()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--skip-models", action="store_true")
    args = parser.parse_args()
    sgemm = sgemm_gflops(args.repeats)
    print(f"Numba threads {numba.get_num_threads()}; sgemm (16384x576)@(576x64) on "
          f"{numba.get_num_threads()} thread(s): {sgemm:.0f} GFLOPS")
    threads_started()
    fixed_pieces(args.repeats)
    blocks(args.repeats, sgemm)
    if not args.skip_models:
        models(args.repeats)


if __name__ == "__main__":
    main()
