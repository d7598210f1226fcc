"""Losses at their edges, worked by hand: Keras's clipping of probabilities (values and the
zero gradient outside [eps, 1 - eps]), label and target shapes, dtypes, sample weights of
shape (N, 1), and the error messages (found by mutation testing, docs/testing.md)."""
import math

import numpy as np
import pytest

from minicnn import losses
from minicnn.losses import EPSILON

SCCE, BCE = losses.SparseCategoricalCrossentropy, losses.BinaryCrossentropy


def test_binary_crossentropy_clips_certain_probabilities():
    """p = 1 and p = 0 are clipped to 1 - 1e-7 and 1e-7: a confident right answer costs
    -log(1 - 1e-7), a confident wrong one -log(1e-7) = 16.118; never inf or nan."""
    loss = BCE()
    right = -math.log(1 - EPSILON)
    wrong = -math.log(EPSILON)
    wrong_top = -math.log(1 - (1 - EPSILON))           # 1 - (1 - eps) rounds off eps a bit
    assert loss([1.0], [1.0]) == pytest.approx(right, rel=1e-9)
    assert loss([0.0], [1.0]) == pytest.approx(wrong_top, rel=1e-12)
    assert loss([1.0], [0.0]) == pytest.approx(wrong, rel=1e-12)
    assert loss([0.0], [0.0]) == pytest.approx(right, rel=1e-9)
    assert loss([[1.0, 0.0]], [[1.0, 1.0]]) == pytest.approx((right + wrong_top) / 2,
                                                             rel=1e-12)


def test_crossentropy_gradient_is_zero_outside_the_clip_and_exact_at_its_edges():
    """Where the clip is active (p < eps or p > 1 - eps) the loss is flat: gradient 0. At
    p = eps and p = 1 - eps exactly the clip is not active yet: the usual formula."""
    lo, hi = EPSILON, 1 - EPSILON
    g = BCE().gradient([[1.0, 0.0, 1.0, 0.0]], [[0.0, 1.0, lo, hi]])
    assert g[0, 0] == 0.0 and g[0, 1] == 0.0
    assert g[0, 2] == pytest.approx(-1 / lo / 4, rel=1e-12)          # -y / p / D
    assert g[0, 3] == pytest.approx(1 / (1 - hi) / 4, rel=1e-6)       # (1 - y) / (1 - p) / D
    g = SCCE().gradient([0], [[lo, hi]])
    # d/dp_k [log sum_j p_j - log p_y] = 1 / sum - [k = y] / p_y
    assert g[0, 0] == pytest.approx(1 / (lo + hi) - 1 / lo, rel=1e-12)
    assert g[0, 1] == pytest.approx(1 / (lo + hi), rel=1e-12)
    np.testing.assert_array_equal(SCCE().gradient([0], [[0.0, 1.0]]), [[0.0, 0.0]])


def test_sparse_categorical_crossentropy_from_unnormalised_probabilities():
    """Keras renormalises the clipped probabilities: loss log(sum p) - log p_y, gradient
    1 / sum p - [k = y] / p_y (here p = [0.2, 0.3], y = 1: sum 0.5)."""
    loss = SCCE()
    assert loss([1], [[0.2, 0.3]]) == pytest.approx(math.log(0.5) - math.log(0.3), rel=1e-12)
    np.testing.assert_allclose(loss.gradient([1], [[0.2, 0.3]]), [[2.0, 2.0 - 1 / 0.3]],
                               rtol=1e-12)
    # a clipped entry still counts in the sum: p = [1, 0.5] -> c = [1 - eps, 0.5]
    np.testing.assert_allclose(loss.gradient([1], [[1.0, 0.5]]),
                               [[0.0, 1 / (1.5 - EPSILON) - 1 / 0.5]], rtol=1e-12)
    # p_y = 1 exactly: clipped to 1 - eps, the other to eps; sum 1
    assert loss([1], [[0.0, 1.0]]) == pytest.approx(-math.log(1 - EPSILON), rel=1e-9)
    assert loss([0], [[0.0, 1.0]]) == pytest.approx(-math.log(EPSILON), rel=1e-12)


def test_logits_are_shifted_row_by_row():
    """logsumexp(z) - z_y with each row's own maximum: rows [1000, 999] and [0, 1] give the
    same loss, log(1 + e^-1) (one row's maximum would underflow the other row)."""
    value = math.log(1 + math.exp(-1))
    loss = SCCE(from_logits=True)
    assert loss([0, 1], [[1000.0, 999.0], [0.0, 1.0]]) == pytest.approx(value, rel=1e-12)
    assert loss([1, 0], [[0.0, 1.0], [-1000.0, -1001.0]]) == pytest.approx(value, rel=1e-12)


def test_float32_inputs_are_computed_in_float64_and_gradients_keep_float32():
    """The loss value is the float64 value of the float32 input (no float32 logs); the
    gradient comes back in the input's dtype: float32 stays float32, anything else float64."""
    rng = np.random.default_rng(0)
    p32 = rng.uniform(0.05, 0.95, size=(50, 1)).astype(np.float32)
    y = rng.integers(0, 2, size=(50, 1)).astype(np.float64)
    assert BCE()(y, p32) == BCE()(y, p32.astype(np.float64))
    assert BCE().gradient(y, p32).dtype == np.float32
    assert BCE().gradient(y, p32.astype(np.float64)).dtype == np.float64
    np.testing.assert_allclose(BCE().gradient(y, p32),
                               BCE().gradient(y, p32.astype(np.float64)), rtol=1e-6)
    # integer logits: the gradient is float64, p - y, not rounded to integers
    g = SCCE(from_logits=True).gradient([0], [[0, 0]])
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, [[-0.5, 0.5]], rtol=1e-12)


def test_binary_targets_of_another_shape_dtype_and_range():
    """(N,) targets for (N, 1) outputs are reshaped; bool targets work as 0/1; targets
    outside [0, 1] and a different number of targets are clear errors."""
    p = np.array([[0.8], [0.3], [0.6]])
    expected = -(math.log(0.8) + math.log(0.7) + math.log(0.6)) / 3
    assert BCE()([1, 0, 1], p) == pytest.approx(expected, rel=1e-12)
    assert BCE()(np.array([True, False, True]), p) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(BCE().gradient([1, 0, 1], p),
                               BCE().gradient([[1], [0], [1]], p), rtol=1e-15)
    # and (N, 1) targets for (N,) outputs
    assert BCE()([[1], [0], [1]], p[:, 0]) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match=r"y_true has shape \(2,\) but y_pred has shape "
                                         r"\(3, 1\)"):
        BCE()([1, 0], p)
    with pytest.raises(ValueError, match=r"binary targets must lie in \[0, 1\], got "
                                         r"\[0.0, 1.5\]"):
        BCE()([1.5, 0, 1], p)
    with pytest.raises(ValueError, match=r"got \[-0.5, 1.0\]"):
        BCE()([-0.5, 0, 1], p)


def test_binary_gradient_of_one_dimensional_outputs():
    """(N,) outputs: one value per sample, so D = 1: dL/dp = (-y/p + (1-y)/(1-p)) / N."""
    g = BCE().gradient([1.0, 0.0], [0.8, 0.3])
    np.testing.assert_allclose(g, [-1 / 0.8 / 2, 1 / 0.7 / 2], rtol=1e-12)
    g = BCE(from_logits=True).gradient([1.0, 0.0], [0.0, 0.0])
    np.testing.assert_allclose(g, [-0.25, 0.25], rtol=1e-12)


def test_sample_weights_of_shape_n_by_one_and_their_errors():
    """Weights (N, 1) act as (N,); a wrong count names both shapes."""
    p = np.array([[0.6, 0.4], [0.1, 0.9]])
    loss = SCCE()
    assert loss([0, 1], p, sample_weight=[[2.0], [0.0]]) == pytest.approx(-math.log(0.6),
                                                                          rel=1e-12)
    np.testing.assert_allclose(loss.gradient([0, 1], p, sample_weight=[[2.0], [0.0]]),
                               loss.gradient([0, 1], p, sample_weight=[2.0, 0.0]), rtol=1e-15)
    with pytest.raises(ValueError, match=r"one weight per sample \(2\), got shape \(3,\)"):
        loss([0, 1], p, sample_weight=[1.0, 1.0, 1.0])


def test_label_errors_name_the_problem():
    p = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"one label per sample, shape \(2,\), got \(3,\)"):
        SCCE()([0, 1, 2], p)
    with pytest.raises(ValueError, match="^sparse labels must be integers$"):
        SCCE()([0.5, 1], p)
    with pytest.raises(ValueError, match=r"y_pred must have shape \(N, classes\), got \(2,\)"):
        SCCE()([0, 1], [0.3, 0.7])
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'; use a Loss object or one of "
                                         r"\['binary_crossentropy', "
                                         r"'sparse_categorical_crossentropy'\]"):
        losses.get("hinge")
    with pytest.raises(ValueError, match="unknown loss 3"):
        losses.get(3)
    assert SCCE().get_config() == {"from_logits": False}
    assert BCE(from_logits=True).get_config() == {"from_logits": True}


class SmoothedBinary(losses.BinaryCrossentropy):
    """A loss with an option (label smoothing, as Keras's): the targets pulled towards 1/2."""

    def __init__(self, label_smoothing=0.0, from_logits=False):
        super().__init__(from_logits)
        self.label_smoothing = label_smoothing

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}

    def _targets(self, y_true, y_pred):
        return super()._targets(y_true, y_pred) * (1 - self.label_smoothing) + \
            self.label_smoothing / 2


def test_training_keeps_every_option_of_the_loss_when_it_takes_the_logits():
    from minicnn import Sequential, layers
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)), (rng.random(16) > 0.5).astype(np.float64)
    loss = SmoothedBinary(label_smoothing=0.4)
    assert loss.with_logits().get_config() == {"from_logits": True, "label_smoothing": 0.4}
    model = Sequential([layers.Input((3,)), layers.Dense(1, activation="sigmoid", dtype="float64")])
    model.compile("adam", loss)
    model.build()
    logits = x @ model.layers[-1].params["kernel"] + model.layers[-1].params["bias"]
    expected = loss.with_logits()(y, logits)
    assert expected != pytest.approx(losses.BinaryCrossentropy(from_logits=True)(y, logits))
    assert model.evaluate(x, y)[0] == pytest.approx(expected, rel=1e-6)
