"""``minicnn warmup``: compile minicnn's Numba kernels now, once, instead of in the first
training step of every new installation (or after Numba's cache was emptied).

Numba compiles each kernel the first time it runs and keeps the machine code in its cache
(``__pycache__`` beside minicnn's sources, or ``$NUMBA_CACHE_DIR``); later processes load it
in a fraction of a second. This runs one training step and one prediction of every network
the presets build (the thesis CNN at 150 and 64 px, and with batch normalization and global
pooling) on random images, so that every kernel those use is compiled and cached.
"""
import time

#: (image side, batch normalization and global pooling) of each network warmed up
NETWORKS = ((150, False), (64, False), (150, True))
BATCH = 32                                   # the thesis's: the same code paths as training


def warmup(progress=print):
    """Compile (or load from the cache) every kernel the presets' networks use in training
    and prediction; returns the seconds it took."""
    import numpy as np

    from .models import thesis_cnn
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    for size, variants in NETWORKS:
        model = thesis_cnn((size, size, 1), 2, seed=0, batch_norm=variants,
                           global_pool=variants)
        model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        x = rng.random((BATCH, size, size, 1), dtype=np.float32)
        model.train_on_batch(x, np.arange(BATCH) % 2)
        model.predict(x, batch_size=BATCH)
        progress(f"{size} px{', batch normalization, global pooling' if variants else ''}: "
                 f"ready after {time.perf_counter() - start:.1f} s")
    return time.perf_counter() - start


def run(args):
    """``minicnn warmup``; exit code 0."""
    seconds = warmup()
    print(f"minicnn's kernels are compiled and cached ({seconds:.1f} s)")
    return 0
