"""What a training step costs the memory system, in figures that do not depend on how busy
the machine is: minor page faults (pages the system had to map and zero-fill), system CPU
seconds, and the peak resident memory, per ``train_on_batch`` of the thesis CNN.

    python benchmarks/page_faults.py [--batch 32] [--size 150] [--steps 8]

Each way runs in its own fresh process (glibc's settings cannot be undone):
- ``plain``: a script that calls nothing special (the model reuses its arrays,
  ``minicnn.kernels.buffers``);
- ``no reuse``: the same with the model's array reuse switched off (every array from malloc);
- ``configure``: ``minicnn.runtime.configure()`` first (glibc keeps freed memory).
"""
import argparse
import json
import resource
import subprocess
import sys
import time

WAYS = ("plain", "no reuse", "configure")


def measure(way, batch, size, steps):
    """One way, in this process; returns its figures per step."""
    import numpy as np

    from minicnn import runtime
    from minicnn.kernels import buffers
    from minicnn.models import thesis_cnn
    if way == "configure":
        runtime.configure()
    if way == "no reuse":
        buffers.POOLED_FROM_BYTES = float("inf")
    model = thesis_cnn(input_shape=(size, size, 1), seed=0)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((batch, size, size, 1), dtype=np.float32)
    y = rng.integers(0, 2, batch)
    for _ in range(3):                          # Numba's cache, the first allocations
        model.train_on_batch(x, y)
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - start
    return {"way": way, "faults": (after.ru_minflt - before.ru_minflt) / steps,
            "system_s": (after.ru_stime - before.ru_stime) / steps,
            "user_s": (after.ru_utime - before.ru_utime) / steps, "wall_s": wall / steps,
            "peak_mib": after.ru_maxrss / 1024, "buffers_mib": model.buffers.nbytes / 2**20}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=150)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--way", choices=WAYS, help=argparse.SUPPRESS)   # the child process
    args = parser.parse_args()
    if args.way:
        print(json.dumps(measure(args.way, args.batch, args.size, args.steps)))
        return
    print(f"thesis CNN, batch {args.batch}, {args.size} px, per train_on_batch "
          f"(mean of {args.steps} steps after 3 warm-up steps, one process per way)")
    print("| way | minor faults | system CPU ms | user CPU ms | wall ms | peak MiB | "
          "model's buffers MiB |\n|---|---|---|---|---|---|---|")
    for way in WAYS:
        out = subprocess.run([sys.executable, __file__, "--way", way, "--batch",
                              str(args.batch), "--size", str(args.size), "--steps",
                              str(args.steps)], check=True, capture_output=True, text=True)
        r = json.loads(out.stdout.splitlines()[-1])
        print(f"| {way} | {r['faults']:.0f} | {1e3 * r['system_s']:.1f} | "
              f"{1e3 * r['user_s']:.0f} | {1e3 * r['wall_s']:.0f} | {r['peak_mib']:.0f} | "
              f"{r['buffers_mib']:.0f} |")


if __name__ == "__main__":
    main()
