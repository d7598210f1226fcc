"""The exercise autograder: model answers pass, stubs are TODO, and each usual mistake fails
with its own hint (so the checker can fail, and says why)."""
import argparse
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import real_data_dir
from minicnn import exercises
from minicnn.exercises import catalog, checks, solutions

FUNCTIONS = [e.name for e in catalog.EXERCISES]


def cli(*argv):
    parser = exercises.add_arguments(argparse.ArgumentParser(prog="minicnn exercises"))
    return exercises.run(parser.parse_args([str(a) for a in argv]))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_model_answers_pass(name):
    result = exercises.check_one(solutions, name)
    assert result.status == "PASS", exercises.format_result(result)
    assert result.error < checks.TOL


def every_cell(x, dy, pool_size=2):
    """The pool gradient sent to every cell of its window."""
    up = np.repeat(np.repeat(dy, pool_size, 1), pool_size, 2)
    dx = np.zeros(x.shape)
    dx[:, :up.shape[1], :up.shape[2]] = up
    return dx


def adam_without_correction(param, grad, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999,
                            epsilon=1e-7):
    m = beta_1 * m + (1 - beta_1) * grad
    v = beta_2 * v + (1 - beta_2) * grad ** 2
    return param - lr * m / (np.sqrt(v) + epsilon), m, v


def conv_backward_flipped(x, kernel, dy, stride=1, padding="valid"):
    _, dk, db = solutions.conv2d_backward(x, kernel, dy, stride, padding)
    dx, _, _ = solutions.conv2d_backward(x, kernel[::-1, ::-1], dy, stride, padding)
    return dx, dk, db


def loss_without_mean(logits, labels):
    loss, grad = solutions.softmax_cross_entropy(logits, labels)
    return loss * len(labels), grad * len(labels)


MISTAKES = {   # name: (exercise, broken function, words its hint must contain)
    "flipped kernel": ("conv2d_forward", lambda x, k, b, stride=1, padding="valid":
                       solutions.conv2d_forward(x, k[::-1, ::-1], b, stride, padding),
                       "flipped"),
    "flipped kernel in dx": ("conv2d_backward", conv_backward_flipped, "flipped"),
    "forgotten batch mean": ("softmax_cross_entropy", loss_without_mean, "MEAN over the batch"),
    "pool gradient to every cell": ("maxpool2d_backward", every_cell, "every cell"),
    "missing stride": ("conv2d_forward", lambda x, k, b, stride=1, padding="valid":
                       solutions.conv2d_forward(x, k, b, 1, padding), "stride=2"),
    "missing padding": ("conv2d_forward", lambda x, k, b, stride=1, padding="valid":
                        solutions.conv2d_forward(x, k, b, stride, "valid"), "'same'"),
    "no bias correction": ("adam_step", adam_without_correction, "bias correction"),
    "relu mask from dy": ("relu_backward", lambda x, dy: dy * (dy > 0), "from x"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_usual_mistake_fails_with_its_hint(mistake):
    name, broken, words = MISTAKES[mistake]
    result = exercises.check_one(SimpleNamespace(**{name: broken}, _import_errors={}), name)
    assert result.status == "FAIL" and words in result.hint, exercises.format_result(result)


def test_a_crashing_function_fails_without_crashing_the_checker():
    def conv2d_forward(x, kernel, bias, stride=1, padding="valid"):
        return x @ kernel                              # a shape error
    result = exercises.check_one(SimpleNamespace(conv2d_forward=conv2d_forward,
                                                 _import_errors={}), "conv2d_forward")
    assert result.status == "FAIL" and "raised ValueError" in result.hint


def test_start_writes_stubs_that_check_as_todo(tmp_path, capsys):
    assert cli("start", "--out", tmp_path) == 0
    assert cli("start", "--out", tmp_path) == 1                  # never overwrites without --force
    for ex in catalog.EXERCISES:
        source = (tmp_path / ex.file).read_text()
        assert f"def {ex.signature}:" in source and "raise NotImplementedError" in source
    assert cli("check", tmp_path, "relu_forward", "adam_step") == 1
    out = capsys.readouterr().out
    assert "TODO  relu_forward" in out and "TODO  adam_step" in out and "0 of 2 pass" in out


def test_check_passes_a_solved_folder_and_names_a_broken_file(tmp_path, capsys):
    cli("start", "--out", tmp_path)
    (tmp_path / "activations.py").write_text(
        "import numpy as np\n\ndef relu_forward(x):\n    return np.maximum(x, 0)\n\n"
        "def relu_backward(x, dy):\n    return dy * (x > 0)\n")
    (tmp_path / "dense.py").write_text("def dense_forward(x, kernel, bias)\n")   # syntax error
    assert cli("check", tmp_path, "relu_forward", "relu_backward") == 0
    assert cli("check", tmp_path, "dense_forward") == 1
    out = capsys.readouterr().out
    assert "2 of 2 pass" in out and "dense.py could not be imported: SyntaxError" in out
    assert cli("check", tmp_path, "no_such_exercise") == 2


def test_list_names_every_exercise(capsys):
    assert cli("list") == 0
    out = capsys.readouterr().out
    assert all(name in out for name in catalog.NAMES)


def test_small_cnn_of_the_model_answers_learns():
    """The last exercise: the model answers, trained on a few X-rays, pass; a network whose
    max-pool backward is broken does not."""
    if real_data_dir() is None:
        pytest.skip("the chest X-ray data set is not available")
    result = exercises.check_one(solutions, catalog.TRAINING, real_data_dir())
    assert result.status == "PASS", exercises.format_result(result)
    broken = SimpleNamespace(**{n: getattr(solutions, n) for n in FUNCTIONS}, _import_errors={})
    broken.maxpool2d_backward = every_cell
    assert exercises.check_one(broken, catalog.TRAINING).status == "TODO"
