"""Whole-model numerical gradient checks, without TensorFlow: every weight gradient that a
training step computes (``train_on_batch``, training mode, Dropout active) against centred
differences of the loss, in float64, on every kernel tier; Dropout's training-mode backward
with a fixed mask; softmax and sigmoid at logits of +-1000 inside a model.

A new layer kind is one more line in ``spatial_layers`` (layers on (H, W, C) maps) or
``flat_layers`` (layers on (features,) vectors) below; every check here then covers it.
"""
import copy
import warnings

import numpy as np
import pytest

import minicnn
from minicnn import backend, layers, losses, optimizers
from minicnn.gradcheck import numerical_gradient, relative_error

from conftest import TIERS

H = 1e-5                  # centred-difference step
KINKED = 1e-5             # ReLU and max-pooling have kinks (see minicnn.gradcheck)
INPUT_SHAPE = (9, 9, 2)


def spatial_layers():
    """Layers on (H, W, C) maps, in order: 9x9x2 -> 7x7x3 -> 4x4x3 -> 3x3x3 (one line each)."""
    return [
        layers.Conv2D(3, 3, padding="valid", activation="relu", dtype="float64"),
        layers.Conv2D(3, 3, strides=2, padding="same", use_bias=False, dtype="float64"),
        layers.BatchNormalization(momentum=0.9, dtype="float64"),
        layers.Sigmoid(),
        layers.MaxPooling2D(2, strides=1),
        layers.AveragePooling2D(2, strides=1, padding="same"),
        layers.ReLU(),
    ]


def flat_layers():
    """Layers on (features,) vectors after the Flatten (one line each)."""
    return [
        layers.Dense(5, activation="relu", dtype="float64"),
        layers.BatchNormalization(center=False, dtype="float64"),
        layers.Dropout(0.4),
        layers.Sigmoid(),
        layers.Dense(4, dtype="float64"),
        layers.Softmax(),
    ]


BRIDGES = {"flatten": layers.Flatten, "global": layers.GlobalAveragePooling2D}


def every_layer_kind_net(head, seed=0, bridge="flatten"):
    """Input -> spatial_layers -> Flatten or GlobalAveragePooling2D (``bridge``) ->
    flat_layers -> head, float64 weights.
    head: "softmax" (2 classes), "sigmoid" (1 unit) or "linear" (2 logits)."""
    out = {"softmax": layers.Dense(2, activation="softmax", dtype="float64"),
           "sigmoid": layers.Dense(1, activation="sigmoid", dtype="float64"),
           "linear": layers.Dense(2, dtype="float64")}[head]
    return minicnn.Sequential([layers.Input(INPUT_SHAPE), *spatial_layers(), BRIDGES[bridge](),
                               *flat_layers(), out], seed=seed)


def trainable_positions(model):
    """Positions of the trainable weights in ``model.get_weights()`` (the rest is state)."""
    kinds = [store is layer.params for layer in model.layers for store, _ in layer.weights()]
    return [i for i, trainable in enumerate(kinds) if trainable]


LOSSES = {"softmax": lambda: losses.SparseCategoricalCrossentropy(),
          "sigmoid": lambda: losses.BinaryCrossentropy(),
          "linear": lambda: losses.SparseCategoricalCrossentropy(from_logits=True)}


def _batch(head, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3,) + INPUT_SHAPE)
    y = np.array([0, 1, 1]) if head != "sigmoid" else np.array([[0.0], [1.0], [1.0]])
    return x, y


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("head, bridge", [("softmax", "flatten"), ("sigmoid", "flatten"),
                                          ("linear", "flatten"), ("softmax", "global")])
def test_every_weight_gradient_of_a_training_step_is_the_derivative_of_the_loss(tier, head,
                                                                                bridge):
    """train_on_batch's gradients (training mode: Dropout drops) equal centred differences
    of the loss of the same forward pass; every evaluation starts from a copy of the model as
    it was, so every forward pass draws the same Dropout mask."""
    x, y = _batch(head)
    with backend.using(tier):
        frozen = every_layer_kind_net(head, bridge=bridge)
        frozen.compile(optimizers.SGD(0.1), LOSSES[head]())
        frozen.build()
        assert all(w.dtype == np.float64 for w in frozen.get_weights())

        stepped = copy.deepcopy(frozen)
        loss, _ = stepped.train_on_batch(x, y)
        slots = [(layer, key) for layer in stepped.layers for key in layer.params]
        analytic = [layer.grads[key] for layer, key in slots]

        def loss_with(weights):
            model = copy.deepcopy(frozen)
            model.set_weights(weights)
            return model.loss(y, model.forward(x, training=True))

        weights = frozen.get_weights()
        assert loss_with(weights) == pytest.approx(loss, rel=1e-10)
        # the mask is fixed, and it really drops something
        probe = copy.deepcopy(frozen)
        assert not np.allclose(probe.forward(x, training=True), probe.forward(x))
        positions = trainable_positions(frozen)
        assert len(positions) == len(analytic) < len(weights)       # BatchNorm's state too
        for (layer, key), g, i in zip(slots, analytic, positions):
            def f(v, i=i):
                return loss_with(weights[:i] + [v] + weights[i + 1:])
            err = relative_error(g, numerical_gradient(f, weights[i], H))
            assert err < KINKED, (layer.name, key, err)


@pytest.mark.parametrize("rate", [0.25, 0.6])
def test_dropout_training_backward_is_the_derivative_with_the_same_mask(rate):
    """Dropout in training mode: dx = dy * mask / (1 - rate), checked against centred
    differences of sum(g * dropout(x)) with the mask held fixed (a copy per evaluation)."""
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(2, 4, 3, 2)), rng.normal(size=(2, 4, 3, 2))
    frozen = layers.Dropout(rate, seed=11)
    frozen.build(x.shape[1:])
    layer = copy.deepcopy(frozen)
    y = layer.forward(x, training=True)
    dx = layer.backward(g)
    kept = y != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(y[kept], x[kept] / (1 - rate), rtol=1e-12)
    numeric = numerical_gradient(
        lambda v: float(np.sum(g * copy.deepcopy(frozen).forward(v, training=True))), x, H)
    assert relative_error(dx, numeric) < 1e-8
    np.testing.assert_allclose(dx, np.where(kept, g / (1 - rate), 0.0), rtol=1e-12)


def _set_dense(model, index, kernel, bias):
    weights = model.get_weights()
    weights[2 * index], weights[2 * index + 1] = np.array(kernel), np.array(bias)
    model.set_weights(weights)


@pytest.mark.parametrize("tier", TIERS)
def test_softmax_is_stable_at_logits_of_1000_in_a_model(tier):
    """Logits +-1000 (float32) into a Softmax layer inside the model and into the softmax
    head: probabilities exactly 0 and 1, finite loss (2000 when the label is the unlikely
    class) and finite gradients; no overflow warning."""
    x = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    with backend.using(tier), warnings.catch_warnings(), np.errstate(over="raise",
                                                                     invalid="raise"):
        warnings.simplefilter("error")
        model = minicnn.Sequential([layers.Input((2,)), layers.Dense(2), layers.Softmax(),
                                    layers.Dense(2, activation="softmax")])
        model.compile(optimizers.SGD(0.0001), "sparse_categorical_crossentropy")
        _set_dense(model, 0, [[1000, -1000], [-1000, 1000]], [0, 0])
        _set_dense(model, 1, [[1000, -1000], [-1000, 1000]], [0, 0])
        p = model.predict(x)
        np.testing.assert_array_equal(p, [[1, 0], [0, 1]])
        loss, _ = model.evaluate(x, np.array([1, 0]))
        assert loss == pytest.approx(2000.0, rel=1e-6)
        loss, grads = model.gradients(x, np.array([1, 0]))
        assert loss == pytest.approx(2000.0, rel=1e-6)
        assert all(np.isfinite(g).all() for g in grads)
        # head: dL/dz = (p - y) / N = +-[0.5, -0.5]; its kernel gradient is hidden^T dz
        np.testing.assert_allclose(grads[-2], [[0.5, -0.5], [-0.5, 0.5]], rtol=1e-6)


@pytest.mark.parametrize("tier", TIERS)
def test_sigmoid_is_stable_at_logits_of_1000_in_a_model(tier):
    """Logits +-1000 into a Sigmoid layer inside the model and into the sigmoid head:
    outputs exactly 0 and 1, finite loss (1000 for the wrong label) and gradients."""
    x = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    with backend.using(tier), warnings.catch_warnings(), np.errstate(over="raise",
                                                                     invalid="raise"):
        warnings.simplefilter("error")
        model = minicnn.Sequential([layers.Input((2,)), layers.Dense(2), layers.Sigmoid(),
                                    layers.Dense(1, activation="sigmoid")])
        model.compile(optimizers.SGD(0.0001), "binary_crossentropy")
        _set_dense(model, 0, [[1000, -1000], [-1000, 1000]], [0, 0])
        _set_dense(model, 1, [[1000], [-1000]], [0])
        hidden = model.layers[1].forward(model.layers[0].forward(x))
        np.testing.assert_array_equal(hidden, [[1, 0], [0, 1]])
        np.testing.assert_array_equal(model.predict(x), [[1], [0]])
        y_wrong = np.array([[0.0], [1.0]])
        loss, grads = model.gradients(x, y_wrong)
        assert loss == pytest.approx(1000.0, rel=1e-6)
        assert all(np.isfinite(g).all() for g in grads)
        assert model.evaluate(x, y_wrong)[0] == pytest.approx(1000.0, rel=1e-6)
        assert model.evaluate(x, 1 - y_wrong)[0] == pytest.approx(0.0, abs=1e-6)
