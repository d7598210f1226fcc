"""minicnn's process settings (minicnn/_runtime.py): applied on import, never overriding."""
import os
import subprocess
import sys

import pytest

PROBE = ("import os, minicnn; from minicnn import _runtime; "
         "print(os.environ.get('OMP_WAIT_POLICY'), _runtime.retain_freed_memory())")


def probe(**env):
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "MINICNN_RUNTIME")}
    done = subprocess.run([sys.executable, "-c", PROBE], env={**base, **env},
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings")
def test_import_sets_passive_openmp_and_keeps_freed_memory():
    assert probe() == ["PASSIVE", "True"]


def test_a_users_own_setting_wins_and_stock_leaves_the_process_alone():
    assert probe(OMP_WAIT_POLICY="ACTIVE")[0] == "ACTIVE"
    assert probe(MINICNN_RUNTIME="stock")[0] == "None"
