"""Two process settings that make the kernels fast, applied when minicnn is imported.

1. Freed memory is kept for reuse. A training step allocates and frees the same few hundred
   megabytes of activations and gradients every batch; glibc serves blocks that large with a
   fresh ``mmap`` and unmaps them on ``free``, so the system zero-fills every page again each
   batch. Raising glibc's mmap and trim thresholds lets freed blocks be reused, as
   TensorFlow's own allocator does. The price is a higher peak: the heap keeps blocks that
   a fresh mapping would have given back.
2. Idle OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE`` unless already
   set). Numba's parallel loops and OpenBLAS's matrix multiplies take turns on the same cores;
   threads spinning after one would slow the other down.

The effect of each is measured in docs/benchmarks.md. ``MINICNN_RUNTIME=stock`` leaves the
process as it is. Settings the platform lacks (no glibc) are skipped.
"""
import ctypes
import ctypes.util
import os

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_LIMIT = 1 << 30
ENV_SET_HERE = []           # environment variables configure() set (so they can be undone)


def retain_freed_memory():
    """Ask glibc to keep freed blocks under 1 GiB for reuse; returns True when it agreed."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _LIMIT)
                    and libc.mallopt(_M_TRIM_THRESHOLD, _LIMIT))
    except (OSError, AttributeError):       # not glibc (macOS, Windows, musl): leave it
        return False


def configure():
    """Apply both settings unless ``MINICNN_RUNTIME=stock``; must run before Numba's first
    parallel loop (which starts the OpenMP threads)."""
    if os.environ.get("MINICNN_RUNTIME", "").lower() == "stock":
        return
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        ENV_SET_HERE.append("OMP_WAIT_POLICY")
    retain_freed_memory()
