"""Arrays a model's training and prediction calls reuse from one step to the next.

A training step of the thesis CNN (batch 32, 150 px) allocates and frees the same arrays
every batch. Three of them (42.8, 42.8 and 40.5 MiB) are larger than glibc ever serves from
its heap (32 MiB), so each is a fresh ``mmap`` whose pages the system zero-fills again on
every step; freeing the smaller ones trims the heap, with the same effect on a smaller
scale. ``runtime.configure()`` avoids it by changing glibc's thresholds for the whole
process; this module avoids it with no process setting at all.

Inside ``Sequential.fit``, ``predict``, ``evaluate``, ``train_on_batch`` and
``test_on_batch`` (:meth:`Buffers.reusing`), the Numba tier's kernels take their outputs
and work arrays of ``POOLED_FROM_BYTES`` or more from the model's :class:`Buffers`. An array
is handed out again only when nothing else refers to it any more: its reference count says
that no layer's cache, no view and no caller holds it. So a kernel's result never changes
under anyone who kept it. Outside those calls (a student calling a kernel or a layer
directly), in the naive and numpy tiers, and with ``MINICNN_RUNTIME=stock``, :func:`empty`
is ``np.empty``. The worker threads of :mod:`minicnn.kernels.workers` take their scratch
arrays from the buffers of the call that started them (:func:`lent`).
"""
import contextlib
import math
import sys
import threading

import numpy as np

__all__ = ["Buffers", "empty", "zeros", "empty_like", "zeros_like", "active", "lent",
           "POOLED_FROM_BYTES"]

#: Arrays smaller than this are left to malloc (the heap serves them without new pages).
POOLED_FROM_BYTES = 256 * 1024
_ACTIVE = threading.local()         # .buffers: the Buffers of the call running in this thread


def _references(held):
    for array in held:
        return sys.getrefcount(array)


#: An array's reference count inside Buffers._take's loop when only the pool holds it (the
#: list's, the loop variable's and getrefcount's own), measured the same way.
_UNREFERENCED = _references([np.empty(0)])


class Buffers:
    """One model's reusable arrays, by (shape, dtype). Pickled or copied, it starts empty."""

    def __init__(self):
        self._held = {}             # (shape, dtype) -> [arrays]
        self._taken = set()         # the keys asked for in the current call
        self._lock = threading.Lock()   # the call's worker threads take arrays too

    def __reduce__(self):
        return Buffers, ()

    @property
    def nbytes(self):
        """Bytes held, in use or not."""
        return sum(a.nbytes for arrays in self._held.values() for a in arrays)

    @contextlib.contextmanager
    def reusing(self):
        """Kernels called in this thread inside the block take their arrays from here. A
        nested block (evaluate calls test_on_batch) keeps the outer one. At the end, arrays
        of a shape the call did not ask for (an earlier batch size) are let go."""
        from ..runtime import stock
        if active() is not None or stock():
            yield
            return
        _ACTIVE.buffers, self._taken = self, set()
        try:
            yield
        finally:
            _ACTIVE.buffers = None
            self._held = {key: arrays for key, arrays in self._held.items()
                          if key in self._taken}

    def _take(self, shape, dtype):
        key = (shape, dtype)
        with self._lock:
            self._taken.add(key)
            held = self._held.setdefault(key, [])
            for array in held:
                if sys.getrefcount(array) == _UNREFERENCED:
                    return array
            array = np.empty(shape, dtype)
            held.append(array)
            return array


def active():
    """The Buffers this thread's kernels take their arrays from, or None."""
    return getattr(_ACTIVE, "buffers", None)


@contextlib.contextmanager
def lent(buffers):
    """This thread takes its arrays from ``buffers`` (a worker thread, from the Buffers of the
    call that started it) for the time of the block; ``None`` lends nothing."""
    _ACTIVE.buffers = buffers
    try:
        yield
    finally:
        _ACTIVE.buffers = None


def empty(shape, dtype=np.float32):
    """``np.empty(shape, dtype)``, or inside :meth:`Buffers.reusing` a free array of that
    shape from the model's buffers (contents arbitrary, as np.empty's)."""
    shape, dtype = tuple(int(s) for s in shape), np.dtype(dtype)
    buffers = active()
    if buffers is None or math.prod(shape) * dtype.itemsize < POOLED_FROM_BYTES:
        return np.empty(shape, dtype)
    return buffers._take(shape, dtype)


def zeros(shape, dtype=np.float32):
    """:func:`empty`, filled with zeros."""
    array = empty(shape, dtype)
    array.fill(0)
    return array


def empty_like(a):
    """:func:`empty` of ``a``'s shape and dtype."""
    return empty(a.shape, a.dtype)


def zeros_like(a):
    """:func:`zeros` of ``a``'s shape and dtype."""
    return zeros(a.shape, a.dtype)
