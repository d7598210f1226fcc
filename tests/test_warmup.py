"""`minicnn warmup` compiles what training and prediction need: afterwards a new process
with the same (at first empty) Numba cache compiles nothing in its first step."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT

# The first training step and prediction of a plain script; prints how many kernels Numba
# compiled (a cache load is not a compilation).
FIRST_STEP = """
import numpy as np
from numba.core import event
import minicnn
compiled = []
class Count(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev):
        pass
event.register("numba:compile", Count())
model = minicnn.models.thesis_cnn((150, 150, 1), 2, seed=1)
model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
x = np.random.default_rng(1).random((32, 150, 150, 1), dtype=np.float32)
model.train_on_batch(x, np.arange(32) % 2)
model.predict(x)
print("compiled", sorted(set(compiled)))
"""


@pytest.mark.slow
def test_after_warmup_the_first_step_compiles_nothing(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(tmp_path)}

    def python(*args):
        done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                              timeout=1800)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    assert "compiled and cached" in python("-m", "minicnn", "warmup")
    assert any(tmp_path.rglob("*.nbi")), "nothing was written to the empty cache"
    assert python("-c", FIRST_STEP).splitlines()[-1] == "compiled []"
