"""`minicnn --help` and `import minicnn` stay light: they load neither NumPy, Numba,
scikit-learn nor scikit-image, and change nothing in the process's environment."""
import os
import subprocess
import sys

from conftest import ROOT

HEAVY = ("numpy", "numba", "sklearn", "skimage", "scipy", "matplotlib", "threadpoolctl")

PROBE = """
import os, sys
before = dict(os.environ)
{code}
print(sorted(m for m in {heavy!r} if m in sys.modules))
print(dict(os.environ) == before)
"""


def _probe(code):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROBE.format(code=code, heavy=HEAVY)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()[-2:]


def test_import_minicnn_and_its_cli_load_nothing_heavy_and_leave_the_environment():
    assert _probe("import minicnn, minicnn.cli") == ["[]", "True"]


def test_help_lists_the_commands_without_loading_them():
    code = ("import contextlib, io\nfrom minicnn.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "assert 'explore' in out.getvalue() and 'train' in out.getvalue()\n")
    assert _probe(code) == ["[]", "True"]


def test_a_package_name_is_loaded_on_first_use():
    out = _probe("import minicnn\nassert minicnn.Sequential.__name__ == 'Sequential'\n"
                 "assert minicnn.models.thesis_cnn and 'layers' in dir(minicnn)")
    assert "numpy" in out[0] and "numba" in out[0] and out[1] == "True"
