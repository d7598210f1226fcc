"""Seconds per training step of the thesis CNN (batch 32, 150 px) in one process: with no
process settings (``stock``), with ``minicnn.runtime.configure()`` for the whole process, or
inside ``minicnn.runtime.scoped()`` as a sweep task applies them; and the BLAS thread count
before and after.

    python benchmarks/scoped_settings.py stock|configure|scoped
"""
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info

from minicnn import runtime
from minicnn.models import thesis_cnn


def blas_threads():
    return sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})


def seconds_per_step(model, x, y, steps=8):
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (time.perf_counter() - start) / steps


def main(mode):
    if mode == "configure":
        runtime.configure()
    model = thesis_cnn(input_shape=(150, 150, 1), seed=0)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((32, 150, 150, 1), dtype=np.float32)
    y = rng.integers(0, 2, 32)
    model.train_on_batch(x, y)                      # warm-up: Numba's cache, first allocations
    if mode == "scoped":
        with runtime.scoped():
            inside, step = blas_threads(), seconds_per_step(model, x, y)
        print(f"scoped: {step:.3f} s/step; BLAS threads inside {inside}, after "
              f"{blas_threads()}")
    else:
        step = seconds_per_step(model, x, y)
        print(f"{mode}: {step:.3f} s/step; BLAS threads {blas_threads()}")


if __name__ == "__main__":
    main(sys.argv[1])
