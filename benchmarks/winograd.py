"""Time Winograd 3x3 convolution (minicnn/kernels/winograd.py) against the numba tier's im2col
+ BLAS on the thesis CNN's 64-channel layers: forward, input gradient dx, kernel gradient dk.

Each layer's calls run interleaved (numba tier, then Winograd, then again) so that both see
the same load on a shared machine; the table gives the median of --repeats runs and the
effective rate in direct-convolution GFLOPS, 2 * N * Ho * Wo * 9 * C * F / time, beside the
machine's sgemm rate on (16384 x 576) @ (576 x 64) measured in the same run. Numba compile
(or cache load) time is the first call on a tiny input, reported on its own.

    python benchmarks/winograd.py [--repeats 7] [--tiles 4 2] [--cases 150px/32 64px/32]
    python benchmarks/winograd.py --accuracy     # float32 errors against a float64 reference
"""
import argparse
import contextlib
import os
import platform
import time

import numba
import numpy as np

import minicnn
from minicnn.kernels import conv, winograd

# the thesis CNN's three Conv2D(64, 3x3) layers on 64-channel inputs: input side per image size
LAYERS = {150: (("conv2d_1", 74), ("conv2d_2", 36), ("conv2d_3", 17)),
          64: (("conv2d_1", 31), ("conv2d_2", 14), ("conv2d_3", 6))}
CASES = {"150px/32": (150, 32), "150px/8": (150, 8), "64px/32": (64, 32)}


@contextlib.contextmanager
def im2col_only():
    """The numba tier's im2col + BLAS path even where the tier itself would use Winograd
    (conv.py sends 3x3 stride-1 layers there once it has a ``_winograd_fits`` test)."""
    fits = getattr(conv, "_winograd_fits", None)
    if fits is not None:
        conv._winograd_fits = lambda *args: False
    try:
        yield
    finally:
        if fits is not None:
            conv._winograd_fits = fits


def im2col(call):
    """``call`` run with :func:`im2col_only`."""
    def run():
        with im2col_only():
            return call()
    return run


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def median_ms(times):
    return 1e3 * float(np.median(times))


def sgemm_gflops(repeats):
    rng = np.random.default_rng(0)
    a, b = rng.random((16384, 576), np.float32), rng.random((576, 64), np.float32)
    out = np.empty((16384, 64), np.float32)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - start)
    return 2 * 16384 * 576 * 64 / (median_ms(times) * 1e6)


def first_calls(tiles):
    """Seconds of the first call of each compiled path (compile, or load from Numba's cache)."""
    rng = np.random.default_rng(0)
    xp, k = rng.random((1, 7, 7, 2), np.float32), rng.random((3, 3, 2, 2), np.float32)
    seconds = {}
    for m in tiles:
        start = time.perf_counter()
        winograd.winograd_conv3x3(xp, k, np.zeros(2, np.float32), relu=True, m=m)
        winograd.winograd_conv3x3_input_grad(xp[:, :5, :5], k, m=m)
        seconds[f"winograd m={m}"] = time.perf_counter() - start
    start = time.perf_counter()
    with im2col_only():
        conv._forward_numba(xp, k, np.zeros(2, np.float32), 1, 1, 5, 5, True)
        conv._backward_numba(xp, k, xp[:, :5, :5], 1, 1, True)
    seconds["numba tier (im2col)"] = time.perf_counter() - start
    return seconds


def time_layer(n, side, tiles, repeats):
    """Median ms of each way to compute one layer's forward and dx, interleaved."""
    rng = np.random.default_rng(1)
    xp = rng.standard_normal((n, side, side, 64), np.float32)
    kernel = (rng.standard_normal((3, 3, 64, 64), np.float32) * 0.06).astype(np.float32)
    bias = np.zeros(64, np.float32)
    ho = side - 2
    dy = rng.standard_normal((n, ho, ho, 64), np.float32)
    calls = {
        "forward im2col": im2col(lambda: conv._forward_numba(xp, kernel, bias, 1, 1, ho, ho, True)),
        "backward im2col dx+dk": im2col(lambda: conv._backward_numba(xp, kernel, dy, 1, 1, True)),
        "dk im2col (no dx)": im2col(lambda: conv._backward_numba(xp, kernel, dy, 1, 1, False))}
    for m in tiles:
        calls[f"forward F({m},3)"] = (
            lambda m=m: winograd.winograd_conv3x3(xp, kernel, bias, relu=True, m=m))
        calls[f"dx F({m},3)"] = lambda m=m: winograd.winograd_conv3x3_input_grad(dy, kernel, m=m)
        calls[f"dk F({m},3)"] = lambda m=m: winograd.winograd_conv3x3_kernel_grad(xp, dy, m=m)
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    ms = {name: median_ms(t) for name, t in times.items()}
    ms["dx im2col (dx+dk - dk)"] = ms["backward im2col dx+dk"] - ms["dk im2col (no dx)"]
    return ms, 2 * n * ho * ho * 9 * 64 * 64


def accuracy_inputs(kind, rng, n=4, side=74):
    """'random': x, kernel, bias all N(0, 1). 'realistic': the scale of the thesis CNN's
    conv2d_1, post-ReLU inputs and a Glorot-uniform kernel (limit sqrt(6 / (576 + 576)))."""
    if kind == "random":
        return (rng.standard_normal((n, side, side, 64)), rng.standard_normal((3, 3, 64, 64)),
                rng.standard_normal(64))
    limit = np.sqrt(6 / (2 * 9 * 64))
    return (np.maximum(rng.standard_normal((n, side, side, 64)), 0) * 0.5,
            rng.uniform(-limit, limit, (3, 3, 64, 64)), rng.normal(0, 0.01, 64))


def errors(got, want):
    """max |error| / max |want|, and the elementwise |error| / |want| (median, 99th percentile,
    max) over outputs larger than 1e-3 max |want| (smaller ones only cancel to rounding)."""
    err, size = np.abs(got - want), np.abs(want)
    big = size > 1e-3 * size.max()
    rel = err[big] / size[big]
    return (err.max() / size.max(), np.median(rel), np.percentile(rel, 99), rel.max())


def print_accuracy(tiles):
    """float32 forward, dx and dk of conv2d_1 (N = 4) against the float64 numpy tier."""
    print("float32 vs float64 reference, conv2d_1 shape at N=4: max|err|/max|ref|;"
          " elementwise |err|/|ref| median, p99, max (entries > 1e-3 max|ref|)")
    for kind in ("random", "realistic"):
        x, k, b = accuracy_inputs(kind, np.random.default_rng(0))
        dy = np.random.default_rng(1).standard_normal((x.shape[0], 72, 72, 64))
        want = (conv._forward_numpy(x, k, b, 1, 1, 72, 72, False),
                *conv._backward_numpy(x, k, dy, 1, 1, True))
        x32, k32, b32, dy32 = (a.astype(np.float32) for a in (x, k, b, dy))
        with im2col_only():
            got = {"im2col (numba tier)": (
                conv._forward_numba(x32, k32, b32, 1, 1, 72, 72, False),
                *conv._backward_numba(x32, k32, dy32, 1, 1, True))}
        for m in tiles:
            got[f"Winograd F({m}x{m},3x3)"] = (
                winograd.winograd_conv3x3(x32, k32, b32, m=m),
                winograd.winograd_conv3x3_input_grad(dy32, k32, m=m),
                winograd.winograd_conv3x3_kernel_grad(x32, dy32, m=m))
        for name, results in got.items():
            print(f"  {kind:<9} {name:<22}" + "".join(
                f"  {what}: " + " ".join(f"{v:.1e}" for v in errors(r, w))
                for what, r, w in zip(("y", "dx", "dk"), results, want)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--tiles", type=int, nargs="+", default=[4, 2], choices=[2, 4])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--accuracy", action="store_true", help="measure float32 errors only")
    args = parser.parse_args()
    applied = minicnn.runtime.configure()          # as in training: passive OpenMP threads
    if args.accuracy:
        print_accuracy(args.tiles)
        return
    first = first_calls(args.tiles)
    print(f"CPU: {cpu_name()}, {numba.get_num_threads()} threads ({numba.threading_layer()});"
          f" numpy {np.__version__}, numba {numba.__version__}; runtime: {applied}; "
          f"OPENBLAS_THREAD_TIMEOUT={os.environ.get('OPENBLAS_THREAD_TIMEOUT', '(unset)')}")
    print("first calls (s):", {k: round(v, 2) for k, v in first.items()})
    print(f"sgemm (16384x576)@(576x64): {sgemm_gflops(args.repeats):.0f} GFLOPS")
    for case in args.cases:
        size, n = CASES[case]
        for layer, side in LAYERS[size]:
            ms, flops = time_layer(n, side, args.tiles, args.repeats)
            print(f"\n{case} {layer}: ({n},{side},{side},64) -> ({n},{side - 2},{side - 2},64)")
            for name, value in ms.items():
                rate = f"{flops / (value * 1e6):7.0f} GFLOPS (direct count)" \
                    if name.startswith(("forward", "dx", "dk")) else ""
                print(f"  {name:<26} {value:8.2f} ms {rate}")


if __name__ == "__main__":
    main()
