"""minicnn's worker threads: the kernels that split their work run on a thread pool of this
process, kept between calls, each thread claiming chunks (of image rows, of Winograd tiles)
until none are left.

The kernels they run are Numba functions compiled with ``nogil=True`` over a range of the
chunks, not ``parallel=True`` loops: they run in parallel all the same, and compile in about
half the CPU time (benchmarks/cold_compile.py: 7.0 s against 14.7 s for the kernels that
were parallel loops; a parallel loop is compiled as its own function with Numba's scheduler
around it). The number of threads is Numba's,
``numba.get_num_threads()``, so ``numba.set_num_threads`` (and a sweep's
``--threads-per-worker``) sets both kinds.
"""
import itertools
import os
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor

import numba

from ..runtime import blas_controller
from . import buffers

__all__ = ["run_workers", "over_chunks", "ROWS_PER_CHUNK"]

ROWS_PER_CHUNK = 16       # image rows a worker claims at a time from a kernel over rows

_POOL = {}              # os.getpid() -> (threads, the worker pool), kept between calls


def _pool(workers):
    """A thread pool of at least ``workers`` threads, started on first use and kept (starting
    and joining two threads cost each call about 0.2 ms, benchmarks/per_call.py). Threads do
    not survive os.fork(): a child process starts its own pool."""
    size, pool = _POOL.get(os.getpid(), (0, None))
    if size < workers:
        _POOL.clear()
        pool = ThreadPoolExecutor(workers, "minicnn-worker")
        _POOL[os.getpid()] = workers, pool
    return pool


def run_workers(work, items, chunk, *args):
    """``work(*args, claims, chunk)`` on up to ``numba.get_num_threads()`` threads (fewer
    when ``items`` make fewer chunks), sharing ``claims``: the chunk starts 0, chunk,
    2 chunk, ... (``next`` on it is atomic); each ``work`` takes starts until one is >=
    ``items``. BLAS runs single-threaded meanwhile; the threads take their arrays from the
    caller's :mod:`~minicnn.kernels.buffers`. Returns the list of their results."""
    claims = itertools.count(0, chunk)
    workers = min(numba.get_num_threads(), -(-items // chunk))
    with blas_controller().limit(limits=1, user_api="blas"):
        if workers <= 1:
            return [work(*args, claims, chunk)]
        lending = buffers.active()

        def worker():
            with buffers.lent(lending):
                return work(*args, claims, chunk)
        running = [_pool(workers).submit(worker) for _ in range(workers)]
        futures.wait(running)                    # all finished, even if one of them failed
        return [job.result() for job in running]         # re-raises a worker's exception


def over_chunks(kernel, items, chunk, *args):
    """``kernel(*args, t0, t1)`` for the chunks [t0, t1) of ``range(items)``, ``chunk`` long
    (the last shorter), on the worker threads; ``kernel`` a ``nogil`` Numba function."""
    def work(claims, size):
        for t0 in claims:
            if t0 >= items:
                return
            kernel(*args, t0, min(items, t0 + size))
    run_workers(work, items, chunk)
