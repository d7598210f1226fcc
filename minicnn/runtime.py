"""minicnn's process settings: BLAS on one thread during minicnn's own work, always; two
more process-wide ones applied only when asked.

``import minicnn`` changes nothing in the process. :func:`own_work` wraps
``Sequential.fit``, ``predict``, ``evaluate``, ``train_on_batch`` and ``test_on_batch``: while
one of them runs, OpenBLAS is limited to one thread (threadpoolctl, as scikit-learn does),
and its limits are put back when the call returns. minicnn's kernels bring their own threads
(the worker pool of :mod:`minicnn.kernels.workers`, each thread calling BLAS on its own
chunk); after a multi-threaded call OpenBLAS's threads keep spinning for about 0.1 s and take
the cores from them. minicnn starts no OpenMP threads (no Numba parallel loop), so
``OMP_WAIT_POLICY`` does not concern it.

:func:`configure` applies, for the rest of the process, what cannot be undone afterwards:

1. Freed memory is kept for reuse: glibc's mmap and trim thresholds raised, so that blocks
   freed anywhere in the process are reused rather than given back to the system and
   zero-filled again. A model's own calls no longer need it: they reuse their arrays from
   step to step themselves (:mod:`minicnn.kernels.buffers`; benchmarks/page_faults.py: 6
   page faults per step of the thesis CNN at batch 32 without this setting, 37 with it,
   3,119 with neither). glibc has no way to read the thresholds back nor to switch its own
   moving of them on again, so this cannot be scoped to a call.
2. OpenBLAS single-threaded for good, also outside minicnn's calls: a NumPy product in the
   same process then uses one core.

The ``minicnn`` command and ``minicnn bench`` call :func:`configure` because they own their
process; a notebook or script needs neither setting for minicnn's speed.

``MINICNN_RUNTIME=stock`` makes :func:`configure` and :func:`own_work` do nothing. Settings the
platform lacks (no glibc: macOS, Windows, musl) are skipped. The effect of each is measured
in docs/benchmarks.md.
"""
import contextlib
import ctypes
import ctypes.util
import os
import threading

__all__ = ["configure", "own_work", "stock", "retain_freed_memory", "blas_controller",
           "APPLIED"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_LIMIT = 1 << 30
APPLIED = []                # what configure() changed in this process, in order


def _thresholds(size):
    """Set glibc's mmap and trim thresholds to ``size`` bytes; True when it agreed."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, size)
                    and libc.mallopt(_M_TRIM_THRESHOLD, size))
    except (OSError, AttributeError):       # not glibc (macOS, Windows, musl): leave it
        return False


def retain_freed_memory():
    """Ask glibc to keep freed blocks under 1 GiB for reuse; returns True when it agreed."""
    return _thresholds(_LIMIT)


_BLAS = {"controller": None, "limits": None, "depth": 0}   # own_work's state, under _LOCK
_LOCK = threading.Lock()


def blas_controller():
    """threadpoolctl's controller of the BLAS libraries minicnn calls, made once (a limit
    through it costs microseconds, a fresh ``threadpool_limits`` milliseconds): NumPy's, and
    SciPy's, which Numba's compiled kernels call for their matrix products; both are loaded
    first, as threadpoolctl sees only the libraries already loaded. Importing threadpoolctl
    sets KMP_DUPLICATE_LIB_OK in os.environ; that is undone when the user had not set it."""
    if _BLAS["controller"] is None:
        import numpy  # noqa: F401
        import scipy.linalg.cython_blas  # noqa: F401
        had = "KMP_DUPLICATE_LIB_OK" in os.environ
        from threadpoolctl import ThreadpoolController
        if not had:
            os.environ.pop("KMP_DUPLICATE_LIB_OK", None)
        _BLAS["controller"] = ThreadpoolController()
    return _BLAS["controller"]


def _blas_on_one_thread():
    """Limit BLAS to one thread now; returns threadpoolctl's limiter (its
    ``restore_original_limits()`` puts the old limits back)."""
    return blas_controller().limit(limits=1, user_api="blas")


def stock():
    """True when ``MINICNN_RUNTIME=stock`` asks for none of these settings."""
    return os.environ.get("MINICNN_RUNTIME", "").lower() == "stock"


@contextlib.contextmanager
def own_work():
    """BLAS on one thread for the time of a ``with`` block, then its limits put back. Nested
    and concurrent blocks (threads) share one limit: the first to enter sets it, the last to
    leave restores it. Nothing else in the process changes."""
    if stock():
        yield
        return
    with _LOCK:
        if _BLAS["depth"] == 0:
            _BLAS["limits"] = _blas_on_one_thread()
        _BLAS["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _BLAS["depth"] -= 1
            if _BLAS["depth"] == 0:
                _BLAS["limits"].restore_original_limits()
                _BLAS["limits"] = None


def configure():
    """Apply the settings unless ``MINICNN_RUNTIME=stock``; returns the list of what was
    changed (also kept in ``APPLIED``). Call it before the first training step; calling it
    again does nothing more."""
    if stock() or APPLIED:
        return list(APPLIED)
    if retain_freed_memory():
        APPLIED.append("malloc: freed blocks under 1 GiB kept for reuse")
    _blas_on_one_thread()                  # for good: the limit is not undone
    APPLIED.append("BLAS single-threaded")
    return list(APPLIED)
