"""Time one forward + backward of Conv2D(64, 3x3) on a (32, 150, 150, 1) float32 batch (the
thesis CNN's first layer) in each kernel tier. Numba compilation is excluded (one warm-up
call on a small batch first) and reported on its own.

    python benchmarks/conv_tiers.py [--repeats 3] [--tiers naive numpy numba]
"""
import argparse
import json
import os
import platform
import time

import numba
import numpy as np

import minicnn
from minicnn import backend, layers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tiers", nargs="+", default=list(backend.BACKENDS))
    args = parser.parse_args()
    x = np.random.default_rng(0).random((args.batch, 150, 150, 1), dtype=np.float32)
    layer = layers.Conv2D(64, 3)
    layer.build(x.shape[1:], rng=0)
    dy = np.random.default_rng(1).normal(size=(args.batch,) + layer.output_shape).astype(
        np.float32)
    results = {}
    for tier in args.tiers:
        with backend.using(tier):
            start = time.perf_counter()
            layer.forward(x[:1])
            layer.backward(dy[:1])
            warmup = time.perf_counter() - start
            times = []
            for _ in range(1 if tier == "naive" else args.repeats):
                start = time.perf_counter()
                layer.forward(x)
                layer.backward(dy)
                times.append(time.perf_counter() - start)
        results[tier] = {"median_s": float(np.median(times)), "runs": len(times),
                         "first_call_s (compile or cache load, batch 1)": warmup}
        print(f"{tier:>6}: forward+backward {np.median(times):8.3f} s (median of {len(times)}),"
              f" first call {warmup:.2f} s", flush=True)
    print(json.dumps({"machine": f"{platform.processor() or platform.machine()}, "
                                 f"{os.cpu_count()} cores",
                      "numpy": np.__version__, "numba": numba.__version__,
                      "threads": numba.get_num_threads(), "minicnn": minicnn.__version__,
                      "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
                      "results": results}, indent=1))


if __name__ == "__main__":
    main()
