"""Loading time of a run (train/ and test/ decoded or taken from the decode cache, as
``minicnn train`` loads them) in a fresh process: the time a second run of the same data
spends loading once the cache is warm.

    MINICNN_DATA=.../chest_xray MINICNN_CACHE=/tmp/c python benchmarks/loading.py 150 [N]

prints N (default 1) load times in this process, the first one the fresh process's.
"""
import os
import sys
import time
from pathlib import Path

from minicnn import pipeline


def main(size, times=1):
    root = Path(os.environ["MINICNN_DATA"])
    settings = pipeline.settings_for("quick", image_size=size)
    for i in range(times):
        start = time.perf_counter()
        train, test = pipeline._load(settings, root)
        print(f"load {i + 1}: {time.perf_counter() - start:.2f} s  ({len(train)}+{len(test)} "
              f"images, {size} px)", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1)
