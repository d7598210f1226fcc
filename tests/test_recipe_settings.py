"""The settings a recipe comparison sweeps (docs/sweeps.md): the thesis CNN's variants,
intensity augmentation and learning-rate decay, each checked against a hand computation."""
import json

import numpy as np
import pytest

from minicnn import layers, pipeline
from minicnn.data import intensity_batch
from minicnn.models import thesis_cnn
from minicnn.settings import settings_for
from minicnn.validation import SettingError

from folders import make_chest_xray


# -- the architecture's variants ------------------------------------------------------------
@pytest.mark.parametrize("batch_norm,global_pool,params,trainable", [
    (False, False, 1_033_218, 1_033_218),
    # GAP: the first Dense sees 64 features, 64 * 64 + 64 weights instead of 14,400 * 64 + 64
    (False, True, 1_033_218 - (14_400 * 64 + 64) + (64 * 64 + 64), 115_714),
    # BN after three poolings and the last convolution: 4 x 64 x (gamma, beta, mean, var)
    (True, False, 1_033_218 + 4 * 64 * 4, 1_033_218 + 4 * 64 * 2),
])
def test_thesis_cnn_variants_have_the_expected_weights(batch_norm, global_pool, params,
                                                       trainable):
    model = thesis_cnn(batch_norm=batch_norm, global_pool=global_pool, seed=0)
    model.build()
    assert model.count_params() == params and model.count_params(True) == trainable
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("BatchNormalization") == (4 if batch_norm else 0)
    assert ("GlobalAveragePooling2D" in kinds) == global_pool and ("Flatten" in kinds) != \
        global_pool
    if batch_norm:        # each block keeps Conv2D + pooling together (one fused step)
        assert kinds[:3] == ["Conv2D", "MaxPooling2D", "BatchNormalization"]


# -- intensity augmentation -----------------------------------------------------------------
def test_intensity_is_gamma_then_contrast_then_brightness_per_image():
    x = np.linspace(0, 1, 2 * 5 * 4).reshape(2, 5, 4, 1).astype(np.float64)
    out = intensity_batch(x, np.random.default_rng(7), strength=0.3)
    draws = np.random.default_rng(7)                     # the same draws, by hand
    gamma = np.exp(draws.uniform(-0.3, 0.3, 2))
    contrast, brightness = draws.uniform(0.7, 1.3, 2), draws.uniform(-0.3, 0.3, 2)
    for i in range(2):
        g = x[i] ** gamma[i]
        expected = np.clip((g - g.mean()) * contrast[i] + g.mean() + brightness[i], 0, 1)
        np.testing.assert_allclose(out[i], expected, rtol=1e-12)


def test_intensity_keeps_shape_range_and_input_and_zero_is_a_copy():
    x = np.random.default_rng(0).random((3, 6, 6, 1)).astype(np.float32)
    before = x.copy()
    out = intensity_batch(x, np.random.default_rng(1), 0.5)
    assert out.shape == x.shape and out.dtype == x.dtype and 0 <= out.min() <= out.max() <= 1
    np.testing.assert_array_equal(x, before)
    same = intensity_batch(x, np.random.default_rng(1), 0)
    np.testing.assert_array_equal(same, x)
    assert same is not x
    with pytest.raises(ValueError, match="strength"):
        intensity_batch(x, np.random.default_rng(1), 1.0)


# -- learning-rate decay --------------------------------------------------------------------
def test_pipeline_decays_once_per_epoch_of_updates():
    settings = settings_for("quick", batch_size=32, lr_decay=0.5)
    rate = pipeline._learning_rate(settings, n_train=100)        # 4 updates per epoch
    assert [rate(s) for s in (0, 3, 4, 8)] == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4])
    assert pipeline._learning_rate(settings_for("quick"), 100) == 1e-3


# -- the settings and a run with all of them ------------------------------------------------
@pytest.mark.parametrize("key,value", [("intensity", 1.0), ("intensity", -0.1),
                                       ("lr_decay", 0.0), ("lr_decay", 1.2)])
def test_bad_recipe_settings_are_refused(key, value):
    with pytest.raises(SettingError, match=key):
        settings_for("quick", **{key: value})


def test_augmenter_chains_geometry_then_intensity():
    assert pipeline.training_augmenter(settings_for("quick")) is None
    x = np.full((2, 8, 8, 1), 0.5)
    only_intensity = pipeline.training_augmenter(settings_for("quick", intensity=0.2))
    np.testing.assert_array_equal(only_intensity(x, np.random.default_rng(3)),
                                  intensity_batch(x, np.random.default_rng(3), 0.2))
    both = pipeline.training_augmenter(settings_for("quick", augment=True, intensity=0.2))
    assert both(x, np.random.default_rng(3)).shape == x.shape


@pytest.mark.slow
def test_a_run_with_every_recipe_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))
    data = make_chest_xray(tmp_path / "chest_xray")
    settings = settings_for("quick", image_size=40, epochs=2, batch_norm=True,
                                     global_pool=True, intensity=0.1, lr_decay=0.5,
                                     data=str(data), out=str(tmp_path / "run"))
    pipeline.train_run(settings)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    recorded = config.get("settings", config)
    assert {k: recorded[k] for k in ("batch_norm", "global_pool", "intensity", "lr_decay")} \
        == {"batch_norm": True, "global_pool": True, "intensity": 0.1, "lr_decay": 0.5}
    model, _ = pipeline.runs.load_run(tmp_path / "run")
    assert any(isinstance(layer, layers.BatchNormalization) for layer in model.layers)
