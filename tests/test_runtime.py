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
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "MINICNN_RUNTIME")}
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
def test_configure_sets_passive_openmp_keeps_freed_memory_and_blas_on_one_thread():
    out = probe("import minicnn\n" + BLAS_THREADS + "\nprint(minicnn.runtime.configure())\n"
                "print(os.environ.get('OMP_WAIT_POLICY'), len(MALLOPT) > 0)\n" + BLAS_THREADS)
    assert out[0] != "[1]"                              # import alone leaves BLAS as it was
    assert "OMP_WAIT_POLICY=PASSIVE" in out[1] and "malloc" in out[1]
    assert out[2] == "PASSIVE True" and out[3] == "[1]"


def test_a_users_own_setting_wins_and_stock_leaves_the_process_alone():
    code = ("import minicnn\nminicnn.runtime.configure()\n"
            "print(os.environ.get('OMP_WAIT_POLICY'), MALLOPT == [])")
    assert probe(code, OMP_WAIT_POLICY="ACTIVE")[0].split()[0] == "ACTIVE"
    assert probe(code, MINICNN_RUNTIME="stock")[0] == "None True"


@pytest.mark.slow
def test_the_minicnn_command_applies_the_settings():
    code = ("from minicnn import cli, runtime\ncli.main(['summary', '--image-size', '40'])\n"
            "print('APPLIED', os.environ.get('OMP_WAIT_POLICY'), bool(runtime.APPLIED))")
    line = next(x for x in probe(code) if x.startswith("APPLIED"))
    assert line == "APPLIED PASSIVE True"
    line = next(x for x in probe(code, MINICNN_RUNTIME="stock") if x.startswith("APPLIED"))
    assert line == "APPLIED None False"
