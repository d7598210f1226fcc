"""The grader runs the student's code in a child process: an exit, a hang, a BaseException
or a replaced ``np.allclose`` fails that exercise only, and the others are still judged."""
import pickle
from pathlib import Path

import numpy as np
import pytest

from minicnn import exercises
from minicnn.exercises import catalog, isolated, solutions

RELU_BACKWARD = "def relu_backward(x, dy):\n    return dy * (x > 0)\n"
DENSE = "def dense_forward(x, kernel, bias):\n    return x @ kernel + bias\n"
LIMIT = 1.5

HOSTILE = {   # code: words the hint must contain
    "sys.exit(0)": "called sys.exit(0)",
    "raise SystemExit(0)": "raised SystemExit",
    "os._exit(0)": "os._exit",
    "raise BaseException('no')": "raised BaseException: no",
    "while True:\n        pass": f"took longer than {LIMIT:g} s: an endless loop?",
}


def grade(folder, names, limit=LIMIT):
    return {r.name: r for r in exercises.check_folder(folder, names, limit=limit)}


@pytest.mark.parametrize("code", sorted(HOSTILE))
def test_a_function_that_exits_hangs_or_raises_fails_alone(tmp_path, code):
    (tmp_path / "activations.py").write_text(
        f"import os, sys\n\ndef relu_forward(x):\n    {code}\n\n{RELU_BACKWARD}")
    results = grade(tmp_path, ["relu_forward", "relu_backward"])
    bad = results["relu_forward"]
    assert bad.status == "FAIL" and HOSTILE[code] in bad.hint["en"], exercises.format_result(bad)
    assert results["relu_backward"].status == "PASS"      # judged after the child ended


@pytest.mark.parametrize("code", sorted(HOSTILE))
def test_a_file_that_exits_hangs_or_raises_at_import_fails_its_exercises(tmp_path, code):
    top = code.replace("\n        ", "\n    ")
    (tmp_path / "activations.py").write_text(f"import os, sys\n{top}\n\n{RELU_BACKWARD}")
    (tmp_path / "dense.py").write_text(DENSE)
    results = grade(tmp_path, ["relu_backward", "dense_forward"])
    bad = results["relu_backward"]
    assert bad.status == "FAIL", exercises.format_result(bad)
    assert "activations.py could not be imported" in bad.hint["en"]
    assert HOSTILE[code].removeprefix("raised ").rstrip("?") in bad.hint["en"]
    assert results["dense_forward"].status == "PASS"


def test_replacing_numpy_or_the_checker_changes_only_the_child(tmp_path):
    (tmp_path / "activations.py").write_text(
        "import numpy as np\nimport minicnn.exercises.checks as checks\n"
        "import minicnn.gradcheck as gradcheck\n"
        "np.allclose = lambda *a, **k: True\nnp.max = lambda *a, **k: 0.0\n"
        "np.abs = lambda x: x * 0\nchecks._err = lambda got, want: 0.0\n"
        "checks.relative_error = gradcheck.relative_error = lambda a, b: 0.0\n"
        "checks.TOL = float('inf')\n\n"
        "def relu_forward(x):\n    return x * 0\n")
    result = grade(tmp_path, ["relu_forward"])["relu_forward"]
    assert result.status == "FAIL" and result.error == 1.0, exercises.format_result(result)


def test_the_command_exits_1_when_a_solution_exits_0(tmp_path, capsys):
    (tmp_path / "activations.py").write_text("import sys\n\ndef relu_forward(x):\n"
                                             "    sys.exit(0)\n")
    assert exercises.run(type("Args", (), {
        "exercises_command": "check", "dir": str(tmp_path), "names": ["relu_forward"],
        "data": None, "time_limit": LIMIT, "lang": None})()) == 1
    assert "0 of 1 pass" in capsys.readouterr().out


class _Reduces:
    def __reduce__(self):
        return (int, ("3",))            # any callable: the parent must never call it


def test_what_the_child_sends_back_is_read_as_plain_values_only(tmp_path):
    assert isolated._loads(pickle.dumps(("ok", _Reduces())))[0] == "fail"
    (tmp_path / "activations.py").write_text(
        "class Sneaky:\n    def __reduce__(self):\n        import os\n"
        "        return (os._exit, (0,))\n\ndef relu_forward(x):\n    return Sneaky()\n")
    result = grade(tmp_path, ["relu_forward"])["relu_forward"]
    assert result.status == "FAIL" and result.error == float("inf")    # and this process lives


def test_a_hang_while_training_fails_the_training_only(tmp_path, monkeypatch):
    """Functions that pass their checks, but relu_forward loops forever on a training batch
    of 16: small_cnn fails with the time-limit hint, in the parent, on made-up X-rays."""
    from minicnn.exercises import small_cnn
    rng = np.random.default_rng(0)
    monkeypatch.setattr(small_cnn, "xray_sample", lambda data=None, seed=0: (
        rng.random((32, 12, 12, 1)), np.arange(32) % 2, rng.random((8, 12, 12, 1)),
        np.arange(8) % 2))
    source = Path(solutions.__file__).read_text().replace(
        "    return np.maximum(x, 0)",
        "    while len(x) == 16:\n        pass\n    return np.maximum(x, 0)")
    (tmp_path / "answers.py").write_text(source)
    results = grade(tmp_path, catalog.NAMES)
    assert all(results[name].status == "PASS" for name in catalog.NAMES[:-1])
    training = results[catalog.TRAINING]
    assert training.status == "FAIL", exercises.format_result(training)
    assert training.hint["en"] == f"while training: took longer than {LIMIT:g} s: an endless loop?"
