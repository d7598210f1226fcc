"""What the first training step costs on a new installation (issue 26, "start-up"): the CPU
seconds Numba spends compiling each kernel in the first ``train_on_batch`` of the thesis
CNN, then the same first step again in a new process that loads them from the cache.

    python benchmarks/cold_compile.py [--batch 32] [--size 150] [--batch-norm]

Each measurement runs in its own process with ``NUMBA_CACHE_DIR`` set to one new, empty
folder (so the first is cold whatever the machine's cache holds, and the second finds what
the first compiled). Times are process CPU seconds (``time.process_time``), which a shared
machine's other programs inflate much less than wall time; a compilation's time is read
from Numba's ``numba:compile`` events, top-level ones only (a kernel that another inlines
is counted in its caller; a cache load is not a compilation).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = "--child"


def first_step(batch, size, batch_norm):
    """Run one train_on_batch and one more; return the per-kernel compile seconds and the
    two steps' CPU seconds (in this process: it must start with the cache it is given)."""
    import numba.core.event as ev
    import numpy as np

    from minicnn.models import thesis_cnn

    compiles, depth = {}, [0]

    class Recorder(ev.Listener):
        def on_start(self, event):
            depth[0] += 1
            if depth[0] == 1:
                self.started = time.process_time()

        def on_end(self, event):
            depth[0] -= 1
            if depth[0] == 0:
                d = event.data["dispatcher"]
                name = f"{d.py_func.__module__.rsplit('.', 1)[-1]}.{d.py_func.__name__}"
                sig = ", ".join(str(a) for a in event.data["args"])
                key = f"{name}({sig})" if len(sig) < 60 else name
                compiles[key] = compiles.get(key, 0.0) + time.process_time() - self.started

    rng = np.random.default_rng(0)
    x = rng.random((batch, size, size, 1), dtype=np.float32)
    y = np.arange(batch) % 2
    model = thesis_cnn((size, size, 1), 2, seed=0, batch_norm=batch_norm)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    steps = []
    with ev.install_listener("numba:compile", Recorder()):
        for _ in range(2):
            start = time.process_time()
            model.train_on_batch(x, y)
            steps.append(time.process_time() - start)
    return {"compiles": compiles, "steps": steps}


def child_run(args, cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    cmd = [sys.executable, __file__, CHILD, "--batch", str(args.batch), "--size", str(args.size)]
    if args.batch_norm:
        cmd.append("--batch-norm")
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1]), time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=150)
    parser.add_argument("--batch-norm", action="store_true")
    parser.add_argument(CHILD, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(first_step(args.batch, args.size, args.batch_norm)))
        return
    with tempfile.TemporaryDirectory(prefix="minicnn-cold-") as cache:
        cold, cold_wall = child_run(args, cache)
        warm, warm_wall = child_run(args, cache)
    total = sum(cold["compiles"].values())
    print(f"thesis CNN, batch {args.batch}, {args.size} px"
          f"{', batch normalization' if args.batch_norm else ''}; load average "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| kernel | compile CPU s | share |\n|---|---|---|")
    for name, sec in sorted(cold["compiles"].items(), key=lambda kv: -kv[1]):
        print(f"| `{name}` | {sec:.2f} | {sec / total:.0%} |")
    print(f"| all ({len(cold['compiles'])} compilations) | {total:.1f} | of "
          f"{cold['steps'][0]:.1f} s CPU for the whole first step |\n")
    print(f"cold cache: first step {cold['steps'][0]:.2f} s CPU, second {cold['steps'][1]:.2f};"
          f" process {cold_wall:.1f} s wall")
    print(f"warm cache: first step {warm['steps'][0]:.2f} s CPU, second {warm['steps'][1]:.2f};"
          f" compiled {len(warm['compiles'])} kernels; process {warm_wall:.1f} s wall")


if __name__ == "__main__":
    main()
