"""The conventions every exercise function is held to, whatever the exercise: it is called
with float64 and with float32 inputs and must return arrays of the input's dtype, and it
must leave its inputs as they were; the hint names the input or output. Checked in this
process (a notebook) and through the checker's child process (``minicnn exercises check``)."""
from types import SimpleNamespace

import numpy as np
import pytest

from minicnn import exercises
from minicnn.exercises import conventions, solutions
from minicnn.exercises.isolated import Failure


def grade(name, fn):
    return exercises.check_one(SimpleNamespace(**{name: fn}, _import_errors={}), name)


def relu_in_place(x):
    x[x < 0] = 0
    return x


def softmax_in_place(logits, labels):
    logits -= logits.max(axis=1, keepdims=True)
    return solutions.softmax_cross_entropy(logits, labels)


def adam_m_in_place(param, grad, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m *= beta_1
    m += (1 - beta_1) * grad
    v = beta_2 * v + (1 - beta_2) * grad ** 2
    alpha = lr * (1 - beta_2 ** t) ** 0.5 / (1 - beta_1 ** t)
    return param - alpha * m / (np.sqrt(v) + epsilon), m, v


def adam_param_in_place(param, grad, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999,
                        epsilon=1e-7):
    new, m, v = solutions.adam_step(param, grad, m, v, t, lr, beta_1, beta_2, epsilon)
    param -= param - new
    return param, m, v


IN_PLACE = {   # exercise: (function changing an input, the input named)
    "relu_forward": (relu_in_place, "x"),
    "softmax_cross_entropy": (softmax_in_place, "logits"),
    "adam_step": (adam_m_in_place, "m"),
}


@pytest.mark.parametrize("name", sorted(IN_PLACE))
def test_changing_an_input_in_place_fails_naming_it(name):
    fn, argument = IN_PLACE[name]
    result = grade(name, fn)
    assert result.status == "FAIL", exercises.format_result(result)
    assert f"changed its input `{argument}` in place" in result.hint["en"]
    assert f"cambió su entrada `{argument}` en el lugar" in result.hint["es"]


def test_param_minus_equals_is_caught():
    result = grade("adam_step", adam_param_in_place)
    assert "changed its input `param` in place" in result.hint["en"]


def test_float32_returned_for_float64_fails_naming_the_output():
    result = grade("dense_backward", lambda x, k, dy: tuple(
        a.astype(np.float32) if n == 1 else a for n, a in
        enumerate(solutions.dense_backward(x, k, dy))))
    assert result.status == "FAIL"
    assert "returned dkernel as float32 for float64 inputs" in result.hint["en"]


def test_float64_returned_for_float32_fails_with_the_usual_causes():
    def relu_forward(x):
        y = np.zeros(x.shape)
        np.maximum(x, 0, out=y)
        return y
    def adam_step(param, grad, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        m = beta_1 * m + (1 - beta_1) * grad
        v = beta_2 * v + (1 - beta_2) * grad ** 2
        alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)     # a float64 scalar
        return param - alpha * m / (np.sqrt(v) + epsilon), m, v
    for name, fn, output in (("relu_forward", relu_forward, "y"),
                             ("adam_step", adam_step, "param")):
        result = grade(name, fn)
        assert result.status == "FAIL", exercises.format_result(result)
        assert f"returned {output} as float64 for float32 inputs" in result.hint["en"]
        assert "np.zeros_like" in result.hint["en"] and "math.sqrt" in result.hint["es"]


def test_a_function_wrong_only_in_float32_says_so():
    def relu_forward(x):
        y = np.maximum(x, 0)
        return y * 1.01 if x.dtype == np.float32 else y
    result = grade("relu_forward", relu_forward)
    assert result.status == "FAIL"
    assert result.hint["en"].startswith("with float32 inputs: y: ")
    assert result.hint["es"].startswith("con entradas float32: y: ")


def test_the_model_answers_keep_float32():
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 1)).astype(np.float32)
    k = np.ones((3, 3, 1, 2), np.float32)
    for out in (solutions.conv2d_forward(x, k, np.zeros(2, np.float32)),
                *solutions.conv2d_backward(x, k, np.ones((2, 4, 4, 2), np.float32)),
                solutions.maxpool2d_backward(x, np.ones((2, 3, 3, 1), np.float32))):
        assert out.dtype == np.float32


def test_the_wrapper_is_generic_for_exercises_added_later():
    """Any function name: inputs compared, None refused, numbered outputs."""
    def twice_in_place(a, b):
        b *= 2
        return a, b
    wrapped = conventions.Convention(twice_in_place, "not_an_exercise", np.float32)
    wrapped(np.ones(3), np.ones(3))
    assert "`number 2` in place" in wrapped.changed["en"]
    with pytest.raises(Failure, match="returned None"):
        conventions.Convention(lambda a: None, "not_an_exercise")(np.ones(2))
    out = conventions.Convention(lambda a: (a, a.astype(np.float64)), "x", np.float32)
    with pytest.raises(Failure, match="returned output 2 as float64 for float32"):
        out(np.ones(2))


def test_the_child_process_reports_changes_made_in_place(tmp_path):
    """The checker's child gets copies: the changes are seen from what it sends back."""
    (tmp_path / "activations.py").write_text(
        "import numpy as np\n\ndef relu_forward(x):\n    x[x < 0] = 0\n    return x\n\n"
        "def relu_backward(x, dy):\n    return (dy * (x > 0)).astype(np.float64)\n")
    (tmp_path / "conv.py").write_text(
        "from minicnn.exercises.solutions import conv2d_backward\n\n"
        "def conv2d_forward(x, kernel, bias, stride=1, padding='valid'):\n"
        "    return x\n")
    results = {r.name: r for r in exercises.check_folder(
        tmp_path, ["relu_forward", "relu_backward", "conv2d_forward"])}
    assert "changed its input `x` in place" in results["relu_forward"].hint["en"]
    assert "returned dx as float64 for float32" in results["relu_backward"].hint["en"]
    bad = results["conv2d_forward"].hint["en"]
    assert "unexpected keyword argument 'strides'" in bad and "_child.py" not in bad
