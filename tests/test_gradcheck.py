"""Gradient checks (the recipe in minicnn.gradcheck) of every layer and loss, on every kernel
tier."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minicnn import backend, kernels, layers, losses
from minicnn.gradcheck import check_layer, check_loss, numerical_gradient, relative_error

from conftest import TIERS
from strategies import distinct_values, window_geometry

SMOOTH, KINKED = 1e-7, 1e-5


def _worst(errors):
    return max(errors.values())


@pytest.mark.parametrize("tier", TIERS)
@given(geometry=window_geometry(max_side=6, max_window=3), filters=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_conv2d_gradients(tier, geometry, filters, seed):
    shape, window, strides, padding = geometry
    x = np.random.default_rng(seed).normal(size=shape)
    layer = layers.Conv2D(filters, window, strides, padding)
    with backend.using(tier):
        errors = check_layer(layer, x, seed=seed)
    assert set(errors) == {"dx", "kernel", "bias"}
    assert _worst(errors) < SMOOTH, errors


@pytest.mark.parametrize("tier", TIERS)
@given(seed=st.integers(0, 2**16))
def test_conv2d_relu_gradients(tier, seed):
    x = np.random.default_rng(seed).normal(size=(1, 4, 3, 2))
    layer = layers.Conv2D(3, 2, padding="same", activation="relu")
    layer.build(x.shape[1:], rng=seed)
    z = kernels.conv2d_forward(x, layer.params["kernel"], layer.params["bias"], 1, "same")
    assume(np.abs(z).min() > 1e-3)                 # keep pre-activations off ReLU's kink
    with backend.using(tier):
        errors = check_layer(layer, x, seed=seed)
    assert _worst(errors) < KINKED, errors


@pytest.mark.parametrize("tier", TIERS)
@given(activation=st.sampled_from(["relu", "sigmoid", "softmax"]),
       conv=st.booleans(), seed=st.integers(0, 2**16))
def test_activation_inside_a_layer_is_the_activation_layer_after_it(tier, activation, conv,
                                                                     seed):
    """Conv2D/Dense(activation=a) = the same layer without activation, then layer a. Both
    halves are gradient-checked above; this checks the wiring, exactly. (A direct gradient
    check of e.g. conv + softmax is unreliable: softmax's zero-sum gradients cancel in dx down
    to ~1e-6, where the centred difference's ~1e-11 rounding error is a 1e-5 relative error.)"""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 4, 3, 2) if conv else (2, 5))
    make = (lambda a: layers.Conv2D(3, 2, 2, "same", a, dtype="float64")) if conv else (
        lambda a: layers.Dense(3, a, dtype="float64"))
    fused, linear = make(activation), make(None)
    fused.build(x.shape[1:], rng=seed)
    linear.build(x.shape[1:], rng=seed)
    act = {"relu": layers.ReLU, "sigmoid": layers.Sigmoid, "softmax": layers.Softmax}[activation]()
    with backend.using(tier):
        y = fused.forward(x)
        np.testing.assert_allclose(y, act.forward(linear.forward(x)), rtol=1e-12)
        dy = rng.normal(size=y.shape)
        np.testing.assert_allclose(fused.backward(dy), linear.backward(act.backward(dy)),
                                   rtol=1e-12, atol=1e-15)
    for name in ("kernel", "bias"):
        np.testing.assert_allclose(fused.grads[name], linear.grads[name], rtol=1e-12,
                                   atol=1e-15)


@pytest.mark.parametrize("tier", TIERS)
@given(geometry=window_geometry(max_side=7, max_window=3), seed=st.integers(0, 2**16))
def test_maxpool_gradients(tier, geometry, seed):
    shape, pool, strides, padding = geometry
    x = distinct_values(shape, np.random.default_rng(seed))
    with backend.using(tier):
        errors = check_layer(layers.MaxPooling2D(pool, strides, padding), x, seed=seed)
    assert errors["dx"] < KINKED, errors


@pytest.mark.parametrize("tier", TIERS)
@given(n=st.integers(1, 3), d_in=st.integers(1, 12), units=st.integers(1, 5),
       seed=st.integers(0, 2**16))
def test_dense_gradients(tier, n, d_in, units, seed):
    x = np.random.default_rng(seed).normal(size=(n, d_in))
    with backend.using(tier):
        errors = check_layer(layers.Dense(units), x, seed=seed)
    assert set(errors) == {"dx", "kernel", "bias"}
    assert _worst(errors) < SMOOTH, errors


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("make,threshold", [
    (layers.ReLU, KINKED), (layers.Sigmoid, SMOOTH), (layers.Softmax, SMOOTH),
    (layers.Flatten, SMOOTH), (lambda: layers.Dropout(0.5), SMOOTH)])
def test_parameter_free_layer_gradients(tier, make, threshold):
    x = distinct_values((2, 3, 4, 2), np.random.default_rng(1), spacing=0.05)
    with backend.using(tier):
        errors = check_layer(make(), x, seed=3)
    assert errors == {"dx": errors["dx"]} and errors["dx"] < threshold, errors


@given(n=st.integers(1, 4), k=st.integers(2, 5), from_logits=st.booleans(),
       weighted=st.booleans(), seed=st.integers(0, 2**16))
def test_sparse_categorical_crossentropy_gradient(n, k, from_logits, weighted, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k))
    y_pred = z if from_logits else np.exp(z) / np.exp(z).sum(1, keepdims=True)
    # -log p has third derivative -2/p^3: keep p >= 0.05 so the centred difference's own
    # truncation error (h^2 / 3p^2 relative) stays far below the threshold
    assume(from_logits or y_pred.min() > 0.05)
    weights = rng.uniform(0.5, 2, n) if weighted else None
    loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    assert check_loss(loss, rng.integers(0, k, n), y_pred, weights) < SMOOTH


@given(n=st.integers(1, 4), d=st.integers(1, 3), from_logits=st.booleans(),
       weighted=st.booleans(), seed=st.integers(0, 2**16))
def test_binary_crossentropy_gradient(n, d, from_logits, weighted, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, d))
    y_pred = z if from_logits else 1 / (1 + np.exp(-z))
    assume(from_logits or 0.05 < y_pred.min() and y_pred.max() < 0.95)   # as above
    weights = rng.uniform(0.5, 2, n) if weighted else None
    loss = losses.BinaryCrossentropy(from_logits=from_logits)
    assert check_loss(loss, rng.integers(0, 2, (n, d)), y_pred, weights) < SMOOTH


@pytest.mark.parametrize("tier", TIERS)
def test_fused_softmax_crossentropy_gradient_is_the_chain_rule(tier):
    """(p - y) / N at the logits equals loss gradient -> softmax backward."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 6)), np.array([0, 1, 1, 0])
    with backend.using(tier):
        layer = layers.Dense(2, activation="softmax", dtype="float64")
        p = layer.forward(x)
        chained = layer.backward(losses.SparseCategoricalCrossentropy().gradient(y, p))
        fused = layer.backward_from_logits(
            losses.SparseCategoricalCrossentropy(from_logits=True).gradient(y, layer.logits))
    np.testing.assert_allclose(fused, chained, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(
        losses.SparseCategoricalCrossentropy(from_logits=True).gradient(y, layer.logits),
        (p - np.eye(2)[y]) / 4, rtol=1e-12)


def test_gradcheck_catches_a_wrong_gradient():
    """The checker itself can fail: a layer whose backward is off by 1% is flagged."""
    class Wrong(layers.Dense):
        def _op_backward(self, x, dz, need_dx):
            return super()._op_backward(x, dz, need_dx) * 1.01
    errors = check_layer(Wrong(3), np.random.default_rng(0).normal(size=(2, 4)))
    assert errors["dx"] > 1e-3


def test_numerical_gradient_of_a_known_function_and_no_side_effects():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    before = x.copy()
    g = numerical_gradient(lambda v: float(np.sum(v ** 3)), x)
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-9)
    np.testing.assert_array_equal(x, before)
    assert relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert relative_error([1.0], [3.0]) == pytest.approx(0.5)
