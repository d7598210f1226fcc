"""Losses and optimizers against Keras's documented formulas, worked by hand."""
import math

import numpy as np
import pytest

from minicnn import losses, optimizers
from minicnn.optimizers import SGD, Adam, ExponentialDecay


def test_sparse_categorical_crossentropy_values():
    p = np.array([[0.6, 0.4], [0.1, 0.9]])
    y = np.array([0, 1])
    loss = losses.SparseCategoricalCrossentropy()
    assert loss(y, p) == pytest.approx((-math.log(0.6) - math.log(0.9)) / 2, rel=1e-12)
    # per-sample weights multiply; the divisor stays the batch size (Keras)
    assert loss(y, p, sample_weight=[2.0, 0.0]) == pytest.approx(-math.log(0.6), rel=1e-12)
    # (N, 1) labels are accepted, as Keras
    assert loss(y[:, None], p) == loss(y, p)
    z = np.log(p)
    assert losses.SparseCategoricalCrossentropy(from_logits=True)(y, z + 7.0) == pytest.approx(
        loss(y, p), rel=1e-12)


def test_crossentropy_clipping_and_logit_stability():
    loss = losses.SparseCategoricalCrossentropy()
    # p = 0 for the true class is clipped to 1e-7: -log(1e-7) plus log of the clipped sum
    assert loss([0], [[0.0, 1.0]]) == pytest.approx(-math.log(1e-7) + math.log(1.0),
                                                    rel=1e-6)
    huge = losses.SparseCategoricalCrossentropy(from_logits=True)([0], [[0.0, 1000.0]])
    assert huge == pytest.approx(1000.0)
    bce = losses.BinaryCrossentropy()
    assert bce([1.0, 0.0], [0.8, 0.3]) == pytest.approx(
        (-math.log(0.8) - math.log(0.7)) / 2, rel=1e-12)
    assert losses.BinaryCrossentropy(from_logits=True)([[1.0]], [[-800.0]]) == pytest.approx(
        800.0)


def test_adam_first_steps_by_hand():
    """Step 1: m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(0.001) / 0.1, so the step is
    lr * g / (|g| + eps * sqrt(1000)) ~ lr * sign(g)."""
    w = np.array([1.0, -2.0])
    g = np.array([0.5, -4.0])
    opt = optimizers.Adam(learning_rate=0.01)
    opt.apply_gradients([(g, w)])
    expected = np.array([1.0, -2.0]) - 0.01 * g / (np.abs(g) + 1e-7 / math.sqrt(0.001))
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    # step 2 with the same gradient: m = 0.19 g, v = 0.001999 g^2
    opt.apply_gradients([(g, w)])
    alpha = 0.01 * math.sqrt(1 - 0.999 ** 2) / (1 - 0.9 ** 2)
    expected -= alpha * 0.19 * g / (np.sqrt(0.001999 * g * g) + 1e-7)
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    assert opt.iterations == 2


def test_sgd_with_and_without_momentum():
    w = np.array([1.0])
    optimizers.SGD(0.1).apply_gradients([(np.array([2.0]), w)])
    assert w[0] == pytest.approx(0.8)
    w = np.array([1.0])
    opt = optimizers.SGD(0.1, momentum=0.9)
    opt.apply_gradients([(np.array([2.0]), w)])        # v = -0.2
    opt.apply_gradients([(np.array([2.0]), w)])        # v = 0.9 * -0.2 - 0.2 = -0.38
    assert w[0] == pytest.approx(1.0 - 0.2 - 0.38)


def test_optimizer_rejects_mismatched_shapes_and_lists():
    opt = optimizers.Adam()
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\) for a weight of shape"):
        opt.apply_gradients([(np.zeros(3), np.zeros(2))])
    opt.apply_gradients([(np.zeros(2), np.zeros(2))])
    with pytest.raises(ValueError, match="used on 1 weights, now given 2"):
        opt.apply_gradients([(np.zeros(2), np.zeros(2))] * 2)
    assert isinstance(optimizers.get("adam"), optimizers.Adam)
    assert losses.get("binary_crossentropy").name == "binary_crossentropy"


# -- learning-rate schedules -------------------------------------------------------------
def test_exponential_decay_is_keras_formula():
    smooth = ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5)
    stairs = ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5, staircase=True)
    assert smooth(0) == 0.1 and smooth(4) == pytest.approx(0.05)
    assert smooth(2) == pytest.approx(0.1 * 0.5 ** 0.5)
    assert [stairs(s) for s in (0, 3, 4, 7, 8)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    for bad in ((0, 4, 0.5), (0.1, 0, 0.5), (0.1, 4, 0), (0.1, 4, 1.5)):
        with pytest.raises(ValueError, match="decay_rate"):
            ExponentialDecay(*bad)
    assert ExponentialDecay(0.1, 4, 1.0)(100) == 0.1          # decay_rate 1: constant
    assert ExponentialDecay(0.1, 4, 0.5, staircase=True).get_config() == {
        "class_name": "ExponentialDecay", "initial_learning_rate": 0.1, "decay_steps": 4,
        "decay_rate": 0.5, "staircase": True}


def test_the_update_uses_the_rate_of_its_own_step():
    """SGD without momentum: each step moves w by exactly lr(step) * g."""
    w = np.zeros(1)
    opt = SGD(ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5, staircase=True))
    moves = []
    for _ in range(3):
        before = w.copy()
        opt.apply_gradients([(np.ones(1), w)])
        moves.append(float(before[0] - w[0]))
    assert moves == [1.0, 0.5, 0.25]
    assert opt.get_config()["learning_rate"]["decay_rate"] == 0.5
    assert Adam(0.01).get_config()["learning_rate"] == 0.01
    assert type(SGD(1).learning_rate) is float                # a number is kept as a float
