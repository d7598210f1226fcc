"""Each mistake a student makes gets a hint that names the wrong array and the fix, in
English and Spanish: the mistaken function is written here, the checker runs on it, and
the hint's key words are asserted."""
import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from minicnn import exercises
from minicnn.exercises import catalog, checks, solutions
from minicnn.exercises.lang import LANGUAGES


def grade(name, fn):
    """The Result of exercise ``name`` for ``fn``, run in this process."""
    return exercises.check_one(SimpleNamespace(**{name: fn}, _import_errors={}), name)


def assert_hint(result, *words, absent=(), es=()):
    shown = exercises.format_result(result)
    assert result.status == "FAIL", shown
    assert set(result.hint) == set(LANGUAGES), shown
    assert result.hint["es"] and result.hint["es"] != result.hint["en"], shown
    for word in words:
        assert word in result.hint["en"], shown
    for word in es:
        assert word in result.hint["es"], exercises.format_result(result, "es")
    for word in absent:
        assert word not in result.hint["en"], shown


# ----------------------------------------------------------------------------- conv
def full_correlation_dx(x, kernel, dy, rotate):
    """dx as the 'full' correlation of dy with the kernel (channels swapped), rotated 180
    degrees when ``rotate`` (right, for strides 1) or not (the forgotten rotation)."""
    kh, kw = kernel.shape[:2]
    padded = np.pad(dy, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))
    swapped = kernel.transpose(0, 1, 3, 2)
    swapped = swapped[::-1, ::-1] if rotate else swapped
    return solutions.conv2d_forward(padded, swapped, np.zeros(kernel.shape[2], dy.dtype))


def conv_backward_with(dx=None, dkernel=None, dbias=None):
    """The model conv2d_backward with some outputs replaced by f(x, kernel, dy, right)."""
    def backward(x, kernel, dy, strides=1, padding="valid"):
        right = solutions.conv2d_backward(x, kernel, dy, strides, padding)
        return tuple(right[k] if f is None else f(x, kernel, dy, right[k])
                     for k, f in enumerate((dx, dkernel, dbias)))
    return backward


def test_rot180_forgotten_in_dx_says_rotate_the_kernel():
    result = grade("conv2d_backward", conv_backward_with(
        dx=lambda x, k, dy, right: full_correlation_dx(x, k, dy, rotate=False)))
    assert_hint(result, "dx: the kernel is the wrong way round in dx", "ROTATED 180 degrees",
                absent=("dkernel", "slides the kernel as it is"),
                es=("dx: el núcleo está al revés en dx",))
    rotated = grade("conv2d_backward", conv_backward_with(
        dx=lambda x, k, dy, right: full_correlation_dx(x, k, dy, rotate=True)))
    assert "wrong way round" not in rotated.hint["en"]     # right at strides 1 'valid'


def test_flipped_dx_and_flipped_dkernel_say_which():
    dx = grade("conv2d_backward", conv_backward_with(
        dx=lambda x, k, dy, right: solutions.conv2d_backward(x, k[::-1, ::-1], dy)[0]))
    dk = grade("conv2d_backward", conv_backward_with(
        dkernel=lambda x, k, dy, right: right[::-1, ::-1]))
    assert_hint(dx, "dx: the kernel is the wrong way round", absent=("dkernel",))
    assert_hint(dk, "dkernel: rotated 180 degrees", absent=("dx",),
                es=("dkernel: girado 180 grados",))


def test_conv_dkernel_divided_by_n_gets_the_batch_mean_hint():
    result = grade("conv2d_backward", conv_backward_with(
        dkernel=lambda x, k, dy, right: right / len(x)))
    assert_hint(result, "dkernel: off by a factor of N", absent=("dx:", "dbias:"),
                es=("dkernel: errado por un factor N",))


def test_every_wrong_array_is_listed():
    result = grade("conv2d_backward", conv_backward_with(
        dkernel=lambda x, k, dy, right: right / len(x),
        dbias=lambda x, k, dy, right: right / len(x)))
    assert_hint(result, "dkernel: off by a factor of N", "\ndbias: off by a factor of N")
    shown = exercises.format_result(result)
    assert shown.count("hint: ") == 2, shown


def test_the_stride_hint_says_its_phrase_once():
    result = grade("conv2d_backward", lambda x, kernel, dy, strides=1, padding="valid":
                   solutions.conv2d_backward(x, kernel, dy, 1, padding) if strides == 1 else
                   (np.zeros(x.shape), np.zeros(kernel.shape), dy.sum(axis=(0, 1, 2))))
    assert_hint(result, "dx: right for strides=1", "strides=2, padding='valid'",
                es=("desplazamiento (stride)",))
    assert all(line.count("right for") == 1 for line in result.hint["en"].split("\n"))


def test_a_renamed_keyword_is_reported_as_the_signature():
    def conv2d_forward(x, kernel, bias, stride=1, padding="valid"):
        return solutions.conv2d_forward(x, kernel, bias, stride, padding)
    assert_hint(grade("conv2d_forward", conv2d_forward), "cannot be called as the checker",
                "unexpected keyword argument 'strides'", "Keep the stub's signature",
                absent=("checks.py",), es=("Conserve la firma",))


def test_the_stubs_name_strides_and_pool_size_as_the_library():
    for ex in catalog.EXERCISES:
        if ex.name.startswith(("conv2d", "maxpool2d")):
            assert ("strides=1" if "conv" in ex.name else "pool_size=2") in ex.signature


# ----------------------------------------------------------------------- relu, pool
def test_np_max_in_relu_says_np_maximum():
    assert_hint(grade("relu_forward", lambda x: np.max(x, 0)), "y: np.max(x, 0)",
                "np.maximum(x, 0)", es=("una reducción",))


def maxpool_max_over_axis_0(x, pool_size=2):
    out = np.zeros((x.shape[0], x.shape[1] // pool_size, x.shape[2] // pool_size, x.shape[3]))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            window = x[:, i * pool_size:(i + 1) * pool_size, j * pool_size:(j + 1) * pool_size]
            out[:, i, j, :] = np.max(window, 0)          # axis 0 is the batch
    return out


def test_np_max_over_axis_0_in_pooling_is_reported_at_its_line_with_the_axes():
    line = inspect.getsource(maxpool_max_over_axis_0).splitlines().index(
        "            out[:, i, j, :] = np.max(window, 0)          # axis 0 is the batch")
    lineno = maxpool_max_over_axis_0.__code__.co_firstlineno + line
    assert_hint(grade("maxpool2d_forward", maxpool_max_over_axis_0), "raised ValueError",
                f"(test_exercises_hints.py, line {lineno})", "axis=(1, 2)",
                es=(f"línea {lineno}", "axis=(1, 2)"))


def test_an_error_inside_numpy_is_reported_at_the_students_line():
    def dense_forward(x, kernel, bias):
        return np.tensordot(kernel, x, axes=1) + bias   # (5, 3) . (4, 5): raised in numeric.py
    lineno = dense_forward.__code__.co_firstlineno + 1
    assert_hint(grade("dense_forward", dense_forward), "raised ValueError",
                f"(test_exercises_hints.py, line {lineno})", absent=("numeric.py",))


def test_a_missing_return_says_so():
    def relu_forward(x):
        np.maximum(x, 0)
    def adam_step(param, grad, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        solutions.adam_step(param, grad, m, v, t, lr, beta_1, beta_2, epsilon)
    for name, fn in (("relu_forward", relu_forward), ("adam_step", adam_step)):
        assert_hint(grade(name, fn), "returned None: did you forget `return`?",
                    absent=("NoneType",), es=("¿olvidó el `return`?",))


# --------------------------------------------------------------------------- softmax
def softmax_over(axis):
    def softmax_cross_entropy(logits, labels):
        z = logits - logits.max(axis=axis, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)
        rows = np.arange(len(labels))
        onehot = np.zeros_like(p)
        onehot[rows, labels] = 1
        return float(-np.log(p[rows, labels]).mean()), (p - onehot) / len(labels)
    return softmax_cross_entropy


def test_softmax_over_the_wrong_axis_says_rows_sum_to_1():
    assert grade("softmax_cross_entropy", softmax_over(1)).status == "PASS"
    assert_hint(grade("softmax_cross_entropy", softmax_over(0)), "loss: softmax over the "
                "wrong axis", "dlogits: softmax over the wrong axis", "rows of p must sum to 1",
                es=("las filas de p deben sumar 1",))


def test_a_column_maximum_says_subtract_each_rows():
    def softmax_cross_entropy(logits, labels):
        return solutions.softmax_cross_entropy(logits - logits.max(axis=0), labels)
    # the model answer subtracts the row maximum again: a column shift survives it
    z = np.array([[0.0, 5.0], [3.0, 1.0]])
    assert not np.allclose(solutions.softmax_cross_entropy(z - z.max(axis=0), [0, 1])[1],
                           solutions.softmax_cross_entropy(z, [0, 1])[1])
    assert_hint(grade("softmax_cross_entropy", softmax_cross_entropy),
                "subtract each ROW's maximum")


# ------------------------------------------------------------------------------ adam
def adam_with(v_of=None, m_of=None):
    def adam_step(param, grad, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        m = beta_1 * m + (1 - beta_1) * (grad if m_of is None else m_of(grad))
        v = beta_2 * v + (1 - beta_2) * (grad ** 2 if v_of is None else v_of(grad))
        alpha = lr * (1 - beta_2 ** t) ** 0.5 / (1 - beta_1 ** t)
        return param - alpha * m / (np.sqrt(v) + epsilon), m, v
    return adam_step


def test_adam_v_with_abs_points_at_v_not_param():
    assert grade("adam_step", adam_with()).status == "PASS"
    result = grade("adam_step", adam_with(v_of=np.abs))
    assert_hint(result, "v: v averages the SQUARED gradient", absent=("param:", "m:"),
                es=("v promedia el gradiente AL CUADRADO",))


def test_adam_m_is_judged_before_param():
    result = grade("adam_step", adam_with(m_of=lambda g: 2 * g))
    assert_hint(result, "m: m = beta_1 m", absent=("param:", "v:"))


def test_adam_param_wrong_alone_is_named_param():
    def adam_step(param, grad, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        new, m, v = solutions.adam_step(param, grad, m, v, t, lr, beta_1, beta_2, epsilon)
        return new + 1e-3, m, v
    result = grade("adam_step", adam_step)
    assert_hint(result, "param: ")
    assert [line.split(":")[0] for line in result.hint["en"].split("\n")] == ["param"]


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_the_stubs_cite_examples_that_exist_and_adam_cites_adam():
    for ex in catalog.EXERCISES:
        for doc in (ex.doc, ex.doc_es):
            for number in re.findall(r"(?:example|ejemplo) (\d+)", doc):
                assert list(EXAMPLES.glob(f"{int(number):02d}_*.py")), (ex.name, number)
    (adam,) = [e for e in catalog.EXERCISES if e.name == "adam_step"]
    (number,) = set(re.findall(r"example (\d+)", adam.doc))
    first_line = next(EXAMPLES.glob(f"{int(number):02d}_*.py")).read_text().splitlines()[1]
    assert "Adam" in first_line and f"ejemplo {number}" in adam.doc_es


def test_hints_are_printed_in_the_language_asked(monkeypatch):
    result = grade("relu_forward", np.abs)
    assert "hint: y: abs(x)" in exercises.format_result(result, "en")
    assert "MAL   relu_forward" in exercises.format_result(result, "es")
    assert "pista: y: abs(x) no es max(0, x)" in exercises.format_result(result, "es")
    monkeypatch.setenv("MINICNN_LANG", "es")
    assert "pista:" in exercises.format_result(result)
    monkeypatch.setenv("MINICNN_LANG", "fr")
    with pytest.raises(ValueError, match="MINICNN_LANG"):
        exercises.format_result(result)


def test_tolerances_follow_the_dtype():
    assert checks.TOL < checks.TOL32 < 1e-2
