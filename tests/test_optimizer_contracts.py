"""Optimizers: Keras's defaults, the argument checks at their exact edges, and the gradient's
cast to the weight's dtype (found by mutation testing, docs/testing.md)."""
import json

import numpy as np
import pytest

from minicnn import optimizers
from minicnn.optimizers import SGD, Adam


def test_defaults_are_keras_defaults():
    """Adam(): lr 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7; SGD(): lr 0.01, no momentum."""
    assert optimizers.Adam().get_config() == {"learning_rate": 0.001, "beta_1": 0.9,
                                              "beta_2": 0.999, "epsilon": 1e-7}
    assert optimizers.SGD().get_config() == {"learning_rate": 0.01, "momentum": 0.0}
    assert optimizers.get("ADAM").get_config() == optimizers.Adam().get_config()
    w = np.array([1.0])
    optimizers.SGD().apply_gradients([(np.array([2.0]), w)])
    assert w[0] == pytest.approx(1.0 - 0.01 * 2.0, rel=1e-15)       # no momentum term
    w = np.array([1.0])
    optimizers.Adam().apply_gradients([(np.array([2.0]), w)])
    # step 1 of Adam moves by lr * g / (|g| + eps * sqrt(1000)), about lr
    assert w[0] == pytest.approx(1.0 - 0.001 * 2.0 / (2.0 + 1e-7 * np.sqrt(1000)), rel=1e-12)


@pytest.mark.parametrize("make,message", [
    (lambda: optimizers.SGD(0.0), "learning_rate must be positive, got 0.0"),
    (lambda: optimizers.Adam(-0.1), "learning_rate must be positive, got -0.1"),
    (lambda: optimizers.Adam(beta_1=1.0), r"beta_1 must be in \[0, 1\), got 1.0"),
    (lambda: optimizers.Adam(beta_2=1.5), r"beta_2 must be in \[0, 1\), got 1.5"),
    (lambda: optimizers.Adam(beta_1=-0.1), r"beta_1 must be in \[0, 1\), got -0.1"),
    (lambda: optimizers.SGD(momentum=1.5), r"momentum must be in \[0, 1\], got 1.5"),
    (lambda: optimizers.SGD(momentum=-0.5), r"momentum must be in \[0, 1\], got -0.5"),
])
def test_bad_arguments_are_named_in_the_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_edges_that_are_allowed():
    """beta = 0 (no averaging) and momentum = 1 are allowed; a tiny learning rate too."""
    w = np.array([1.0, -1.0])
    optimizers.Adam(1e-12, beta_1=0.0, beta_2=0.0).apply_gradients([(np.array([1.0, 1.0]), w)])
    assert np.isfinite(w).all() and (w < [1.0, -1.0]).all()
    opt = optimizers.SGD(0.1, momentum=1.0)
    w = np.array([0.0])
    for _ in range(3):
        opt.apply_gradients([(np.array([1.0]), w)])   # v = -0.1, -0.2, -0.3
    assert w[0] == pytest.approx(-0.6)


@pytest.mark.parametrize("make", [lambda: optimizers.SGD(0.1), lambda: optimizers.SGD(0.1, 0.9),
                                  lambda: optimizers.Adam(0.01)])
def test_a_float64_gradient_updates_a_float32_weight_in_float32(make):
    """As Keras casts the gradient to the variable's dtype: a float64 gradient gives exactly
    the update of the same gradient rounded to float32 first."""
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=200).astype(np.float32)
    grads = [rng.normal(size=200) / 3 for _ in range(3)]
    a, b = w0.copy(), w0.copy()
    opt_a, opt_b = make(), make()
    for g in grads:
        opt_a.apply_gradients([(g, a)])
        opt_b.apply_gradients([(g.astype(np.float32), b)])
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)


# -- the state a resumed training restores ------------------------------------------------
def _steps(optimizer, w, grads):
    for g in grads:
        optimizer.apply_gradients([(g, w)])
    return w


@pytest.mark.parametrize("make", [lambda: Adam(0.01), lambda: SGD(0.1, momentum=0.9)])
def test_an_optimizer_goes_on_from_its_state_as_if_never_stopped(make):
    rng = np.random.default_rng(1)
    grads = rng.normal(size=(6, 3, 2)).astype(np.float32)
    w0 = rng.normal(size=(3, 2)).astype(np.float32)
    straight = _steps(make(), w0.copy(), grads)
    first = make()
    w = _steps(first, w0.copy(), grads[:3])
    state = json.loads(json.dumps(first.get_state(), default=np.ndarray.tolist))
    state["slots"] = [[np.array(s, np.float32) for s in ws] for ws in state["slots"]]
    second = make()
    second.set_state(state)
    assert second.iterations == 3
    assert np.array_equal(_steps(second, w, grads[3:]), straight)
    state["slots"][0][0] += 1                      # set_state kept copies
    assert not np.array_equal(second.get_state()["slots"][0][0], state["slots"][0][0])
    with pytest.raises(ValueError, match="this SGD keeps 0 slot"):
        SGD(0.1).set_state(state)                # no momentum: no slots per weight
    assert make().get_state() == {"iterations": 0, "slots": None}    # before any step
