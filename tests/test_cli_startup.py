"""`minicnn --help` and `import minicnn` stay light: they load neither NumPy, Numba,
scikit-learn nor scikit-image, and change nothing in the process's environment; the
``--help`` of every command loads no scikit-learn, scikit-image, Matplotlib or TensorFlow
and compiles (or loads from Numba's cache) no kernel."""
import argparse
import json
import os
import subprocess
import sys

from conftest import ROOT

from minicnn.cli import build_parser

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


# Runs each command line's --help in turn in one process; after each, the forbidden modules
# loaded so far and the Numba kernels that have a compiled (or cache-loaded) specialisation.
EVERY_HELP = """
import contextlib, gc, io, json, sys
from minicnn.cli import main
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv + ["--help"])
        except SystemExit:
            pass
    compiled = []
    if "numba" in sys.modules:
        from numba.core.dispatcher import Dispatcher
        compiled = [o.py_func.__qualname__ for o in gc.get_objects()
                    if issubclass(type(o), Dispatcher) and o.overloads]
    print(json.dumps([argv, [m for m in {forbidden!r} if m in sys.modules], compiled]))
"""
FORBIDDEN = ("sklearn", "skimage", "matplotlib", "tensorflow", "keras", "torch")


def command_lines(parser=None, prefix=()):
    """Every command and sub-command of ``minicnn``, as argv lists (walked from argparse)."""
    parser = parser or build_parser()
    lines = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                lines += [[*prefix, name], *command_lines(sub, (*prefix, name))]
    return lines


def test_no_commands_help_imports_a_heavy_library_or_compiles_a_kernel():
    lines = command_lines()
    assert ["train"] in lines and ["exercises", "check"] in lines and len(lines) > 12
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", EVERY_HELP.format(forbidden=FORBIDDEN),
                           json.dumps(lines)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = [json.loads(line) for line in done.stdout.splitlines()]
    assert [argv for argv, _, _ in seen] == lines
    heavy = [(argv, modules, kernels) for argv, modules, kernels in seen if modules or kernels]
    assert not heavy, f"first --help that loads or compiles too much: {heavy[0]}"
