"""Training speed of the thesis CNN (batch 32, 150 px) three ways, side by side in one run:

- ``model.fit`` from Python after ``import minicnn`` alone (no process settings);
- ``model.fit`` from Python after ``minicnn.runtime.configure()`` (what ``import minicnn``
  used to do by itself);
- ``minicnn train`` (the command applies the settings itself), on a synthetic X-ray folder.

Each way runs in a fresh process, in turn, ``--rounds`` times. Every training step
(``Sequential.train_on_batch``) is timed; the first of each process (Numba's compilation or
cache load) is left out and the median of the rest is reported as images per second.

    python benchmarks/fit_vs_train.py [--batches 6] [--rounds 2]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH, SIZE = 32, 150
MODES = ("fit, import only", "fit, runtime.configure()", "minicnn train")


def _timed_steps():
    """Wrap Sequential.train_on_batch so that every call's duration is recorded."""
    from minicnn.model import Sequential
    original, times = Sequential.train_on_batch, []

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        out = original(self, *args, **kwargs)
        times.append(time.perf_counter() - start)
        return out
    Sequential.train_on_batch = timed
    return times


def child(mode, batches, data_dir):
    """One measurement in this (fresh) process; prints a JSON line."""
    import minicnn
    if mode == MODES[1]:
        minicnn.runtime.configure()
    times = _timed_steps()
    if mode == MODES[2]:
        from minicnn.cli import main
        with tempfile.TemporaryDirectory() as out:
            main(["train", "--preset", "thesis", "--data", data_dir, "--epochs", "1",
                  "--image-size", str(SIZE), "--batch-size", str(BATCH),
                  "--out", str(Path(out) / "run")])
    else:
        rng = np.random.default_rng(0)
        x = rng.random((batches * BATCH, SIZE, SIZE, 1), dtype=np.float32)
        model = minicnn.models.thesis_cnn((SIZE, SIZE, 1), 2, seed=0)
        model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        model.fit(x, np.arange(len(x)) % 2, batch_size=BATCH, epochs=1, verbose=0)
    steps = times[1:]
    print(json.dumps({"mode": mode, "steps": len(steps), "median_s": float(np.median(steps)),
                      "applied": minicnn.runtime.APPLIED}))


def make_data(root, per_class):
    """A synthetic chest_xray folder: ``per_class`` gray 160 px images per class in train/,
    16 per class in test/."""
    from PIL import Image
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", 16)):
        for kind in ("NORMAL", "PNEUMONIA"):
            folder = root / split / kind
            folder.mkdir(parents=True)
            for k in range(n):
                pixels = rng.integers(0, 255, (160, 160), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{kind}-{k:04d}.png")
    return root


def machine():
    """CPU model and its AVX flags (as lscpu shows them), cores and versions."""
    info = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())        # the first CPU's lines
    cpu = info.get("model name", platform.machine())
    flags = sorted(f for f in info.get("flags", "").split() if f.startswith("avx"))
    import numba
    import minicnn
    return {"cpu": cpu, "avx": " ".join(flags), "cores": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "minicnn": minicnn.__version__}


def run(batches, rounds):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "MINICNN_RUNTIME")}
    results = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(Path(tmp) / "chest_xray", batches * BATCH // 2)
        env["MINICNN_CACHE"] = str(Path(tmp) / "cache")
        for _ in range(rounds):
            for mode in MODES:
                done = subprocess.run([sys.executable, __file__, "--child", mode,
                                       "--batches", str(batches), "--data", str(data)],
                                      env=env, capture_output=True, text=True, check=True)
                line = json.loads(done.stdout.strip().splitlines()[-1])
                results[mode].append(BATCH / line["median_s"])
                print(f"{mode:<26} {BATCH / line['median_s']:6.1f} img/s "
                      f"(median of {line['steps']} steps; settings {line['applied']})",
                      file=sys.stderr, flush=True)
    return results


def markdown(results, batches, rounds):
    m = machine()
    lines = [f"Thesis CNN, batch {BATCH}, {SIZE} px; training images/s, median step of "
             f"{batches - 1} timed steps per process, {rounds} rounds in turn.", "",
             "| how | " + " | ".join(f"round {i + 1}" for i in range(rounds)) + " |",
             "|---|" + "---|" * rounds]
    lines += [f"| {mode} | " + " | ".join(f"{v:.1f}" for v in values) + " |"
              for mode, values in results.items()]
    lines += ["", f"Machine: {m['cpu']} ({m['cores']} cores; {m['avx']}); Python "
              f"{m['python']}, NumPy {m['numpy']}, Numba {m['numba']}, minicnn {m['minicnn']}. "
              f"Command: `python benchmarks/fit_vs_train.py --batches {batches} "
              f"--rounds {rounds}`."]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=6, help="training steps per process")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.batches < 2 or args.rounds < 1:
        parser.error("--batches must be >= 2 and --rounds >= 1")
    if args.child:
        child(args.child, args.batches, args.data)
    else:
        print(markdown(run(args.batches, args.rounds), args.batches, args.rounds))


if __name__ == "__main__":
    main()
