"""The levers for a stable kept epoch (issue 29, item 5), each against a hand computation:
BatchNormalization's momentum as a setting, its moving statistics recomputed on the training
images before validation, and an exponential moving average of the weights; and the
validation loss's jump statistic."""
import json

import numpy as np
import pytest

from minicnn import layers, pipeline
from minicnn.callbacks import Callback, RecomputeBatchNorm, WeightAverage
from minicnn.layers.normalization import recompute_batchnorm
from minicnn.model import Sequential
from minicnn.models import thesis_cnn
from minicnn.optimizers import SGD
from minicnn.settings import settings_for
from minicnn.sweep_results import loss_jumps
from minicnn.validation import SettingError

from folders import make_chest_xray

EPS = 0.001


def _two_batchnorms():
    """Input (3,) -> BN -> BN in float64, the first with gamma and beta not 1 and 0."""
    model = Sequential([layers.Input((3,)), layers.BatchNormalization(dtype="float64"),
                        layers.BatchNormalization(momentum=0.5, dtype="float64")])
    model.build()
    first = model.layers[0]
    first.params["gamma"][:] = [2.0, 0.5, 1.0]
    first.params["beta"][:] = [1.0, -1.0, 0.3]
    return model


def test_recompute_batchnorm_is_the_batch_size_weighted_average_of_batch_statistics():
    model = _two_batchnorms()
    x = np.random.default_rng(0).normal(2.0, 3.0, (5, 3))
    before = x.copy()
    gamma, beta = model.layers[0].params["gamma"].copy(), model.layers[0].params["beta"].copy()
    assert recompute_batchnorm(model, x, batch_size=2) == 2
    batches = [x[0:2], x[2:4], x[4:5]]                    # sizes 2, 2, 1
    sizes = np.array([2.0, 2.0, 1.0])
    variances = [b.var(axis=0) for b in batches]          # biased, per batch
    # layer 1: the mean of all of x; the variance weighted by batch size
    expected_var = sum(n * v for n, v in zip(sizes, variances)) / 5
    np.testing.assert_allclose(model.layers[0].state["moving_mean"], x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(model.layers[0].state["moving_variance"], expected_var,
                               rtol=1e-12)
    # layer 2 sees gamma * x_hat + beta of each batch: mean beta, variance gamma^2 v / (v + eps)
    second_var = sum(n * gamma ** 2 * v / (v + EPS) for n, v in zip(sizes, variances)) / 5
    np.testing.assert_allclose(model.layers[1].state["moving_mean"], beta, atol=1e-12)
    np.testing.assert_allclose(model.layers[1].state["moving_variance"], second_var,
                               rtol=1e-12)
    assert [layer.momentum for layer in model.layers] == [0.99, 0.5]   # given back
    np.testing.assert_array_equal(model.layers[0].params["gamma"], gamma)
    np.testing.assert_array_equal(x, before)


def test_recompute_batchnorm_leaves_a_model_without_it_alone():
    model = Sequential([layers.Input((3,)), layers.Dense(2)], seed=0)
    weights = model.get_weights()
    assert recompute_batchnorm(model, np.ones((4, 3)), 2) == 0
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)


class _Spy(Callback):
    """The weights after every batch, at every epoch's start and at every epoch's end."""

    def on_train_begin(self):
        self.batches, self.begins, self.ends = [], [], []

    def on_batch_end(self, batch, logs):
        self.batches.append(self.model.get_weights())

    def on_epoch_begin(self, epoch):
        self.begins.append(self.model.get_weights())

    def on_epoch_end(self, epoch, logs):
        self.ends.append(self.model.get_weights())


def _average_by_hand(steps, decay):
    """sum_t (1 - d) d^(T - t) w_t / (1 - d^T) over the weights after steps t = 1..T."""
    total = len(steps)
    return [sum((1 - decay) * decay ** (total - t) * step[k]
                for t, step in enumerate(steps, start=1)) / (1 - decay ** total)
            for k in range(len(steps[0]))]


def test_weight_average_validates_and_keeps_the_bias_corrected_average():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(12, 3)), rng.integers(0, 2, 12)
    model = Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax",
                                                         dtype="float64")], seed=0)
    model.compile(SGD(0.5), "sparse_categorical_crossentropy")
    spy, average = _Spy(), WeightAverage(0.8)
    history = model.fit(x, y, batch_size=5, epochs=2, validation_data=(x, y), verbose=0,
                        seed=0, callbacks=[average, spy])       # 3 batches per epoch
    for epoch in range(2):
        expected = _average_by_hand(spy.batches[:3 * (epoch + 1)], 0.8)
        for got, want in zip(spy.ends[epoch], expected):       # validated and kept
            np.testing.assert_allclose(got, want, rtol=1e-12)
        model.set_weights(expected)
        assert history.history["val_loss"][epoch] == pytest.approx(
            model.evaluate(x, y, batch_size=5)[0], rel=1e-12)
    for got, trained in zip(spy.begins[1], spy.batches[2]):    # training goes on from w_3
        np.testing.assert_array_equal(got, trained)
    assert not np.allclose(spy.batches[2][0], spy.ends[0][0])   # the average is not w_3


def test_weight_average_state_round_trips_and_decay_is_checked():
    model = Sequential([layers.Input((2,)), layers.Dense(1)], seed=0)
    model.build()
    average = WeightAverage(0.5)
    average.set_model(model)
    average.on_train_begin()
    assert average.average() is None
    average.on_batch_end(0, {})
    again = WeightAverage(0.5)
    again.set_state(average.get_state())
    assert again.steps == 1
    for a, b in zip(again.average(), model.get_weights()):        # one step: w_1 itself
        np.testing.assert_allclose(a, b, rtol=1e-12)
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(1.0)


def test_bn_momentum_setting_reaches_every_batchnorm_and_its_update():
    model = thesis_cnn((40, 40, 1), batch_norm=True, bn_momentum=0.9, seed=0)
    norms = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
    assert len(norms) == 4 and all(layer.momentum == 0.9 for layer in norms)
    bn = layers.BatchNormalization(momentum=0.9, dtype="float64")
    bn.build((2,), np.random.default_rng(0))
    batch = np.array([[1.0, 4.0], [3.0, 8.0]])
    bn.forward(batch, training=True)
    np.testing.assert_allclose(bn.state["moving_mean"], 0.1 * np.array([2.0, 6.0]))
    np.testing.assert_allclose(bn.state["moving_variance"], 0.9 + 0.1 * np.array([1.0, 4.0]))
    assert settings_for("improved").bn_momentum == 0.99          # Keras's default, unchanged
    with pytest.raises(SettingError, match="bn_momentum"):
        settings_for("quick", bn_momentum=1.0)


def test_levers_are_off_by_default_and_ordered_average_then_recompute():
    split = pipeline.Split(*(np.zeros((2, 4, 4, 1)), np.zeros(2)) * 3, [], [], {}, [])
    plain = settings_for("improved")
    assert (plain.bn_recompute, plain.ema_decay, plain.split_seed) == (False, 0.0, None)
    assert pipeline._levers(plain, split, None) == []
    average = WeightAverage(0.9)
    both = pipeline._levers(settings_for("improved", bn_recompute=True), split, average)
    assert both[0] is average and isinstance(both[1], RecomputeBatchNorm)
    assert both[1].x is split.x_train


# -- the jump statistic ----------------------------------------------------------------------
def test_loss_jumps_measures_rises_over_the_running_minimum_after_epoch_3():
    # the seed-7 curve from epoch 6 on, after five falling epochs
    losses = [0.5, 0.3, 0.2, 0.15, 0.13, 0.12, 4.04, 0.10, 1.58, 0.36, 0.09, 0.10, 0.06]
    jumps = loss_jumps(losses)
    assert jumps["epoch"] == 7 and jumps["worst"] == pytest.approx((4.04 - 0.12) / 0.12)
    assert jumps["over"] == 2                                 # epochs 7 and 9 (1.48 / 0.10)
    early = loss_jumps([0.1, 5.0, 0.1, 0.09])                 # a jump at epoch 2 is not counted
    assert early["epoch"] == 4 and early["over"] == 0
    assert loss_jumps([0.1, 0.3, 0.35, 0.6])["worst"] == pytest.approx(0.25 / 0.1)  # not / 0.35
    assert loss_jumps([0.3, 0.2, 0.1])["worst"] is None
    assert loss_jumps([0.3, 0.2, 0.1, 0.15, None, 9.0])["worst"] == pytest.approx(0.5)


@pytest.mark.slow
def test_a_run_with_every_stability_lever(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))
    data = make_chest_xray(tmp_path / "chest_xray")
    settings = settings_for("quick", image_size=40, epochs=2, batch_norm=True, bn_momentum=0.9,
                            bn_recompute=True, ema_decay=0.9, data=str(data),
                            out=str(tmp_path / "run"))
    pipeline.train_run(settings)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["status"] == "done"
    assert {k: config["settings"][k] for k in ("bn_momentum", "bn_recompute", "ema_decay")} \
        == {"bn_momentum": 0.9, "bn_recompute": True, "ema_decay": 0.9}
