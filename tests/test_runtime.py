"""minicnn's process settings (minicnn/runtime.py): never applied on import; applied by
``minicnn.runtime.configure()`` and the ``minicnn`` command, never overriding a user's own."""
import os
import subprocess
import sys

import pytest

# Records every lookup of glibc's mallopt through ctypes, whoever makes it.
SPY = """
import ctypes, os, sys
MALLOPT = []
class Spy(ctypes.CDLL):
    def __getattr__(self, name):
        if name == "mallopt":
            MALLOPT.append(name)
        return super().__getattr__(name)
ctypes.CDLL = Spy
"""


def probe(code, **env):
    """stdout lines of ``code`` run after SPY in a fresh interpreter."""
    base = {k: v for k, v in os.environ.items() if k != "MINICNN_RUNTIME"}
    # scikit-learn sets these two on import (its OpenMP workaround), whoever imports it; set
    # here so that the check sees only minicnn's own changes, in whatever order tests run
    base.update(KMP_DUPLICATE_LIB_OK="True", KMP_INIT_AT_FORK="FALSE")
    done = subprocess.run([sys.executable, "-c", SPY + code], env={**base, **env},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split("\n")


def test_import_leaves_the_environment_and_the_allocator_alone():
    out = probe("before = dict(os.environ)\n"
                "import minicnn, minicnn.cli, minicnn.bench\n"
                "print(dict(os.environ) == before, MALLOPT, minicnn.runtime.APPLIED)")
    assert out[0] == "True [] []"


BLAS_THREADS = ("from threadpoolctl import threadpool_info\n"
                "print([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'])")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings")
def test_configure_keeps_freed_memory_and_blas_on_one_thread_and_leaves_the_environment():
    out = probe("import minicnn\n" + BLAS_THREADS + "\nbefore = dict(os.environ)\n"
                "print(minicnn.runtime.configure())\n"
                "print(dict(os.environ) == before, len(MALLOPT) > 0)\n" + BLAS_THREADS)
    assert out[0] != "[1]"                              # import alone leaves BLAS as it was
    assert "malloc" in out[1] and "BLAS" in out[1]
    assert out[2] == "True True" and set(eval(out[3])) == {1}   # NumPy's and SciPy's BLAS


def test_stock_leaves_the_process_alone():
    code = "import minicnn\nprint(minicnn.runtime.configure(), MALLOPT == [])"
    assert probe(code, MINICNN_RUNTIME="stock")[0] == "[] True"


@pytest.mark.slow
def test_the_minicnn_command_applies_the_settings():
    code = ("from minicnn import cli, runtime\ncli.main(['summary', '--image-size', '40'])\n"
            "print('APPLIED', bool(runtime.APPLIED))")
    line = next(x for x in probe(code) if x.startswith("APPLIED"))
    assert line == "APPLIED True"
    line = next(x for x in probe(code, MINICNN_RUNTIME="stock") if x.startswith("APPLIED"))
    assert line == "APPLIED False"


def test_no_kernel_is_a_numba_parallel_loop():
    """minicnn's kernels run on its own worker threads (minicnn.kernels.workers): no Numba
    parallel loop, so no OpenMP thread, whose idle spinning OMP_WAIT_POLICY governs, is ever
    started, and nothing needs that setting."""
    import gc
    import importlib
    import pkgutil

    from numba.core.registry import CPUDispatcher

    import minicnn
    for module in pkgutil.walk_packages(minicnn.__path__, "minicnn."):
        if module.name.startswith("minicnn.kernels") or module.name.endswith("layers"):
            importlib.import_module(module.name)
    dispatchers = [d for d in gc.get_objects() if isinstance(d, CPUDispatcher)
                   and d.py_func.__module__.startswith("minicnn.")]
    assert len(dispatchers) > 20                    # the kernels were found
    parallel = [d.py_func.__qualname__ for d in dispatchers if d.targetoptions.get("parallel")]
    assert parallel == []


# A plain script: fit, predict, evaluate, train_on_batch and test_on_batch of a small thesis
# CNN, nothing else called.
PLAIN_SCRIPT = """
import numpy as np
import minicnn
from minicnn.callbacks import Callback
INSIDE = []
class Spy(Callback):
    def on_batch_end(self, batch, logs=None):
        INSIDE.append(blas_threads())
model = minicnn.models.thesis_cnn((40, 40, 1), 2, seed=0)
model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
x = np.random.default_rng(0).random((4, 40, 40, 1), dtype=np.float32)
y = np.array([0, 1, 0, 1])
model.fit(x, y, batch_size=2, epochs=1, verbose=0, callbacks=[Spy()])
model.predict(x)
model.evaluate(x, y)
model.train_on_batch(x, y)
model.test_on_batch(x, y)
"""


def test_a_plain_script_leaves_the_environment_and_the_allocator_alone():
    # KMP_DUPLICATE_LIB_OK unset: importing threadpoolctl would set it
    code = ("before = dict(os.environ)\nblas_threads = lambda: None\n" + PLAIN_SCRIPT
            + "print(dict(os.environ) == before, MALLOPT, minicnn.runtime.APPLIED)")
    base = {k: v for k, v in os.environ.items() if k != "KMP_DUPLICATE_LIB_OK"}
    done = subprocess.run([sys.executable, "-c", SPY + code], env=base, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[0] == "True [] []"


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="BLAS runs one thread anyway")
def test_fit_runs_blas_on_one_thread_and_puts_its_limits_back():
    code = ("import numpy\nfrom threadpoolctl import threadpool_info\n"
            "def blas_threads():\n"
            "    return [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']\n"
            "before = threadpool_info()\n" + PLAIN_SCRIPT
            + "after = [i for i in threadpool_info() if i['filepath'] in "
              "{b['filepath'] for b in before}]\n"
            "print(set(x for threads in INSIDE for x in threads), after == before, before[0])")
    inside, unchanged, first = probe(code)[0].split(" ", 2)
    assert (inside, unchanged) == ("{1}", "True") and "'num_threads': 2" in first
