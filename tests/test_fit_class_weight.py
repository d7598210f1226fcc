"""``Sequential.fit(class_weight=...)`` is the per-sample weight of each sample's own class:
the same training, step for step, as ``train_on_batch(sample_weight=...)`` with those weights."""
import numpy as np
import pytest

import minicnn
from minicnn import layers

CLASS_WEIGHT = {0: 3.0, 1: 0.25}        # unequal, so a swap or a missing weight shows


def _net(head="softmax"):
    out = (layers.Dense(2, activation="softmax") if head == "softmax"
           else layers.Dense(1, activation="sigmoid"))
    model = minicnn.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3, activation="relu"),
                                layers.Flatten(), out], seed=7)
    model.compile(minicnn.optimizers.Adam(0.01),
                  "sparse_categorical_crossentropy" if head == "softmax" else
                  "binary_crossentropy")
    return model


def _data(n=20, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 6, 6, 1)).astype(np.float32)
    y = np.array([0, 0, 0, 1] * (n // 4))          # 3 of 4 normal, as in an imbalanced set
    x[y == 1, :, :3] += 0.3
    return x, y


def _by_hand(model, x, y, weights, batch_size, epochs):
    """Epochs of train_on_batch over unshuffled batches; returns each epoch's mean loss."""
    losses = []
    for _ in range(epochs):
        total = 0.0
        for start in range(0, len(x), batch_size):
            sl = slice(start, start + batch_size)
            loss, _ = model.train_on_batch(x[sl], y[sl], sample_weight=weights[sl])
            total += loss * len(x[sl])
        losses.append(total / len(x))
    return losses


@pytest.mark.parametrize("head", ["softmax", "binary"])
def test_class_weight_is_the_sample_weight_of_each_samples_class(head):
    """Same weights after fit(class_weight) as after train_on_batch with sample_weight =
    class_weight[y_i], and the same loss per epoch; other weightings give other weights."""
    x, y = _data()
    target = y if head == "softmax" else y.astype(np.float32)
    fitted = _net(head)
    history = fitted.fit(x, target, batch_size=8, epochs=2, shuffle=False,
                         class_weight=CLASS_WEIGHT, verbose=0)
    per_sample = np.array([3.0 if label == 0 else 0.25 for label in y])
    by_hand = _net(head)
    expected_losses = _by_hand(by_hand, x, target, per_sample, 8, 2)
    for a, b in zip(fitted.get_weights(), by_hand.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history.history["loss"] == pytest.approx(expected_losses, rel=1e-12)
    # the test can fail: swapped class weights, or none, train differently
    for other in (np.where(y == 0, 0.25, 3.0), np.ones(len(y))):
        model = _net(head)
        _by_hand(model, x, target, other, 8, 2)
        assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(),
                                                            fitted.get_weights()))


def test_class_weight_multiplies_the_loss_of_each_sample_by_hand():
    """One batch, no update yet: the reported loss is mean_i(w_{y_i} * -log p_{y_i})."""
    x, y = _data(8)
    model = _net()
    p = model.predict(x).astype(np.float64)
    w = np.array([CLASS_WEIGHT[int(label)] for label in y])
    expected = np.mean(w * -np.log(p[np.arange(len(y)), y]))
    loss, _ = model.train_on_batch(x, y, class_weight=CLASS_WEIGHT)
    assert loss == pytest.approx(expected, rel=1e-5)
