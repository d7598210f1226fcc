"""Keep freed memory inside the process instead of handing it back to the system each time.

A training step allocates and frees the same few hundred megabytes of activations and
gradients every batch. glibc serves blocks that large with a fresh ``mmap`` and unmaps them on
``free``, so every batch the kernel zero-fills every page again, a large share of a training step
(measured in docs/benchmarks.md). Raising glibc's mmap and trim
thresholds makes freed blocks reusable, as TensorFlow's own allocator does. Peak memory is
unchanged; the process just keeps its peak until it exits. Set ``MINICNN_MALLOC=system`` to
leave the allocator alone. A no-op away from glibc.
"""
import ctypes
import ctypes.util
import os

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_LIMIT = 1 << 30


def retain_freed_memory():
    """Ask glibc to keep freed blocks under 1 GiB for reuse; returns True when it agreed."""
    if os.environ.get("MINICNN_MALLOC", "").lower() == "system":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _LIMIT)
                    and libc.mallopt(_M_TRIM_THRESHOLD, _LIMIT))
    except (OSError, AttributeError):       # not glibc (macOS, Windows, musl): leave it
        return False
