"""Sequential: training loop, callbacks, weights and model files, reproducibility, errors."""
import csv
import os

import numpy as np
import pytest

import minicnn
from minicnn import callbacks, layers
from minicnn.models import thesis_cnn


def tiny_net(seed=0, head="softmax"):
    out = layers.Dense(2, activation="softmax") if head == "softmax" else layers.Dense(
        1, activation="sigmoid")
    return minicnn.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(3, 3, activation="relu"),
                               layers.MaxPooling2D(2), layers.Flatten(), out], seed=seed)


def bright_side_data(n=64, seed=0):
    """Class 1 when the left half is brighter than the right: separable by a 3x3 conv."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 6, 6, 1)).astype(np.float32) * 0.5
    y = rng.integers(0, 2, n)
    x[y == 1, :, :3] += 0.5
    x[y == 0, :, 3:] += 0.5
    return x, y


def compiled(model, loss="sparse_categorical_crossentropy", lr=0.01):
    model.compile(minicnn.optimizers.Adam(lr), loss, ["accuracy"])
    return model


def test_fit_learns_a_separable_problem_and_history_has_keras_keys():
    x, y = bright_side_data()
    xv, yv = bright_side_data(32, seed=1)
    model = compiled(tiny_net())
    history = model.fit(x, y, batch_size=16, epochs=15, validation_data=(xv, yv), verbose=0,
                        seed=0)
    h = history.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 15 for v in h.values()) and history.epoch == list(range(15))
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    # learnt, not memorised: nearly every training and held-out sample right. (Not exactly
    # all: another BLAS or thread count may round one borderline sample the other way.)
    assert h["accuracy"][-1] >= 62 / 64 and model.evaluate(xv, yv)[1] >= 30 / 32
    assert h["accuracy"][0] < 0.9                      # ... starting from far below
    np.testing.assert_allclose(model.predict(xv).sum(axis=1), 1, rtol=1e-6)


def test_binary_head_trains_too():
    x, y = bright_side_data()
    model = compiled(tiny_net(head="sigmoid"), "binary_crossentropy")
    h = model.fit(x, y.astype(np.float32), batch_size=16, epochs=15, verbose=0, seed=0).history
    assert h["loss"][-1] < 0.5 * h["loss"][0] and h["accuracy"][-1] >= 0.95


def test_same_seed_same_weights_different_seed_different():
    x, y = bright_side_data(32)

    def train(seed):
        model = compiled(tiny_net(seed=seed))
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, seed=seed)
        return model.get_weights()
    a, b, c = train(1), train(1), train(2)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))


def test_early_stopping_restores_the_best_weights():
    x, y = bright_side_data()
    xv, yv = bright_side_data(16, seed=3)
    model = compiled(tiny_net(), lr=0.05)

    class Record(callbacks.Callback):                    # weights after every epoch
        def on_train_begin(self):
            self.weights = []

        def on_epoch_end(self, epoch, logs):
            self.weights.append(self.model.get_weights())
    record = Record()
    stop = callbacks.EarlyStopping("val_loss", patience=1, restore_best_weights=True)
    yv_noisy = 1 - yv                     # validation gets worse as training improves
    history = model.fit(x, y, batch_size=16, epochs=20, validation_data=(xv, yv_noisy),
                        callbacks=[record, stop], verbose=0, seed=0)
    val = history.history["val_loss"]
    assert len(val) < 20 and stop.stopped_epoch == len(val) - 1
    best = int(np.argmin(val))
    assert all(np.array_equal(p, q) for p, q in zip(model.get_weights(), record.weights[best]))


def test_nan_guard_stops_on_a_poisoned_batch_and_keeps_weights_finite():
    x, y = bright_side_data(32)
    x[20] = np.nan                                          # batch 3 of 4 (no shuffling)
    model = compiled(tiny_net())
    with pytest.warns(RuntimeWarning, match="epoch 1, batch 3: the loss is not finite"):
        history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert history.history == {} and model.stop_training
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_csv_logger_and_checkpoint(tmp_path):
    x, y = bright_side_data(32)
    model = compiled(tiny_net())
    path = tmp_path / "best.npz"
    model.fit(x, y, epochs=3, batch_size=8, validation_data=(x, y), verbose=0, callbacks=[
        callbacks.CSVLogger(tmp_path / "log.csv"),
        callbacks.ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True)])
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert set(rows[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}
    best = max(float(r["val_accuracy"]) for r in rows)
    reloaded = compiled(minicnn.load_model(path))
    assert reloaded.evaluate(x, y)[1] == pytest.approx(best)


def test_save_load_round_trip(tmp_path):
    model = tiny_net(seed=4)
    x, _ = bright_side_data(8)
    model.save(tmp_path / "m.npz")
    loaded = minicnn.load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    other = tiny_net(seed=9)
    other.load_weights(tmp_path / "m.npz")
    np.testing.assert_array_equal(other.predict(x), model.predict(x))
    model.save_weights(tmp_path / "w.npz")
    other.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(other.predict(x), model.predict(x))


def test_truncated_and_mismatched_files_give_clear_errors(tmp_path):
    tiny_net().save(tmp_path / "m.npz")
    data = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a complete minicnn model file"):
        minicnn.load_model(tmp_path / "cut.npz")
    bigger = minicnn.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(5, 3),
                                 layers.Flatten(), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"layer 'conv2d.*' kernel\): shape \(3, 3, 1, 3\) "
                                         r"where the model needs \(3, 3, 1, 5\)"):
        bigger.load_weights(tmp_path / "m.npz")
    with pytest.raises(FileNotFoundError, match="no model file"):
        minicnn.load_model(tmp_path / "absent.npz")


def test_a_save_killed_midway_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    first = tiny_net(seed=1)
    first.save(path)
    before = path.read_bytes()

    def crash(*args):
        raise KeyboardInterrupt("killed")
    monkeypatch.setattr(os, "fsync", crash)                # dies after writing, before rename
    with pytest.raises(KeyboardInterrupt):
        tiny_net(seed=2).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]               # no temporary file left behind


def test_thesis_cnn_summary(capsys):
    model = thesis_cnn()
    assert model.count_params() == 1_033_218
    model.summary()
    out = capsys.readouterr().out
    assert "Total params: 1,033,218" in out and "(None, 15, 15, 64)" in out
    assert "(None, 14400)" in out and "921,664" in out


def test_gradients_are_aligned_with_get_weights():
    x, y = bright_side_data(8)
    model = compiled(tiny_net())
    loss, grads = model.gradients(x, y)
    assert [g.shape for g in grads] == [w.shape for w in model.get_weights()]
    assert loss == pytest.approx(model.evaluate(x, y)[0], rel=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "naive"])
def test_training_skips_the_first_layers_input_gradient_only(monkeypatch, backend):
    """Nobody needs dL/dx of the first layer; the weight gradients are the same without it.
    (On these tiers the first block runs layer by layer; tests/test_fusion.py does the Numba
    tier's fused block.)"""
    monkeypatch.setattr(minicnn.backend, "_current", backend)
    x, y = bright_side_data(8)
    model = compiled(tiny_net())
    real, asked = minicnn.kernels.conv2d_backward, []
    monkeypatch.setattr(minicnn.kernels, "conv2d_backward",
                        lambda *a: asked.append(a[5]) or real(*a))
    _, skipped = model.gradients(x, y)
    assert asked == [False]
    monkeypatch.setattr(minicnn.kernels, "conv2d_backward", lambda *a: real(*a[:5], True))
    _, full = model.gradients(x, y)
    model.forward(x)                                  # the public backward still gives dx
    assert model.backward(np.ones((8, 2), np.float32)).shape == x.shape
    for a, b in zip(full, skipped):
        np.testing.assert_array_equal(a, b)


def test_bad_inputs_are_clear_errors():
    x, y = bright_side_data(8)
    model = tiny_net()
    with pytest.raises(RuntimeError, match="must be compiled"):
        model.fit(x, y, verbose=0)
    compiled(model)
    with pytest.raises(ValueError, match="different lengths: 8 samples and 7 labels"):
        model.fit(x, y[:7], verbose=0)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(N, 6, 6, 1\), got "
                                         r"\(8, 6, 6, 3\)"):
        model.predict(np.zeros((8, 6, 6, 3)))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]"):
        model.train_on_batch(x, y + 1)
    with pytest.raises(ValueError, match="the model has 4 weight arrays, got 1"):
        model.set_weights([np.zeros(3)])
    with pytest.raises(ValueError, match="class_weight has no weight for classes"):
        model.fit(x, y, class_weight={0: 1.0}, verbose=0)


def test_saved_files_get_the_usual_permissions(tmp_path):
    """Atomic writes go through mkstemp (mode 0600); the result must be readable as usual."""
    old = os.umask(0o022)
    try:
        tiny_net().save(tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("call, words", [
    (lambda m, x, y: m.predict(x, batch_size=-1), "batch_size must be >= 1, got -1"),
    (lambda m, x, y: m.predict(x, batch_size=0), "batch_size must be >= 1, got 0"),
    (lambda m, x, y: m.fit(x, y, epochs=-1, verbose=0), "epochs must be >= 1, got -1"),
    (lambda m, x, y: m.fit(x, y, epochs=0, verbose=0), "epochs must be >= 1, got 0"),
    (lambda m, x, y: m.fit(x, y, batch_size=0, verbose=0), "batch_size must be >= 1"),
    (lambda m, x, y: m.evaluate(x, y, batch_size=-2), "batch_size must be >= 1"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x[:0], y[:0]), verbose=0),
     "validation_data .* needs at least one sample"),
    (lambda m, x, y: m.train_on_batch(x[:0], y[:0]), "a batch needs at least one sample"),
    (lambda m, x, y: m.test_on_batch(x[:0], y[:0]), "a batch needs at least one sample"),
    (lambda m, x, y: m.evaluate(x[:0], y[:0]), "evaluate needs at least one sample"),
    (lambda m, x, y: m.gradients(x[:0], y[:0]), "a batch needs at least one sample"),
])
def test_api_edges_are_clear_errors_before_any_work(call, words):
    x, y = bright_side_data(8)
    model = compiled(tiny_net())
    start = model.get_weights()
    with pytest.raises(ValueError, match=words):
        call(model, x, y)
    for a, b in zip(model.get_weights(), start):       # nothing was trained
        np.testing.assert_array_equal(a, b)


def test_predict_of_no_images_is_an_empty_result():
    model = tiny_net()
    out = model.predict(np.zeros((0, 6, 6, 1), np.float32))
    assert out.shape == (0, 2) and out.dtype == np.float32


@pytest.mark.parametrize("bad, error, words", [
    (lambda w: w[:-1] + [np.zeros((3, 3))], ValueError, r"expected shape \(2,\)"),
    (lambda w: w[:-1] + [np.array([None, None], dtype=object)], TypeError,
     "must be real numbers, got dtype object"),
    (lambda w: w[:-1] + [np.array(["a", "b"])], TypeError, "must be real numbers"),
])
def test_set_weights_checks_every_array_before_replacing_any(bad, error, words):
    model = tiny_net()
    start = model.get_weights()
    new = [w + 1 for w in start]
    with pytest.raises(error, match=words):
        model.set_weights(bad(new))
    for a, b in zip(model.get_weights(), start):       # the first arrays were not replaced
        np.testing.assert_array_equal(a, b)


def test_integer_images_are_refused_not_used_unscaled():
    """A uint8 image (0-255) would reach the network 255 times too bright: refused, with the
    scaling to use."""
    model = tiny_net()
    pixels = np.full((2, 6, 6, 1), 200, np.uint8)
    with pytest.raises(TypeError, match=r"got dtype uint8; scale 8-bit images to \[0, 1\] "
                                        r"first, x / 255"):
        model.predict(pixels)
    assert model.predict(pixels / 255.0).shape == (2, 2)
