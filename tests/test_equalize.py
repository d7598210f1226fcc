"""Per-image histogram equalisation (the ``equalize`` setting, issue 29 item 4): what it does
to an image, that the decode cache keeps equalised and plain pixels apart, and that a run's
readers (evaluate, predict) preprocess as its training did."""
import json
from pathlib import Path

import numpy as np
import pytest

from minicnn import pipeline, runs, scoring
from minicnn.data import decode_image, equalize_image, load_image_folder, preprocess_image
from minicnn.data import cache
from minicnn.settings import settings_for
from minicnn.validation import RunFolderError, SettingError

from folders import make_chest_xray


def _skewed(seed=0, side=64):
    """A gray image whose values are far from uniform (Beta(2, 5): mostly dark)."""
    return np.random.default_rng(seed).beta(2.0, 5.0, (side, side))


def _cdf_distance(values):
    """max over q of |P(value <= q) - q|: 0 for uniformly spread values."""
    q = np.linspace(0.05, 0.95, 19)
    return float(np.max(np.abs([np.mean(values <= t) - t for t in q])))


def test_hist_equalisation_makes_the_values_cdf_flat():
    gray = _skewed()
    assert _cdf_distance(gray) > 0.2                       # the image is far from flat
    out = equalize_image(gray, "hist")
    assert out.shape == gray.shape and 0 <= out.min() and out.max() <= 1
    assert _cdf_distance(out) < 0.01
    assert np.all(np.diff(out.ravel()[np.argsort(gray.ravel())]) >= 0)   # order kept


def test_clahe_raises_a_flat_images_contrast_and_none_changes_nothing():
    gray = 0.4 + 0.1 * _skewed(1)                          # low contrast: values in [0.4, 0.5]
    out = equalize_image(gray, "clahe")
    assert out.shape == gray.shape and 0 <= out.min() and out.max() <= 1
    assert out.std() > 3 * gray.std()
    assert equalize_image(gray, "none") is gray
    with pytest.raises(ValueError, match="equalize must be one of none, hist, clahe"):
        equalize_image(gray, "gamma")


def test_preprocessing_equalises_after_the_thesis_steps():
    rgb = (np.stack([_skewed(2, 80)] * 3, axis=-1) * 255).astype(np.uint8)
    plain = preprocess_image(rgb, 40)
    hist = preprocess_image(rgb, 40, "hist")
    assert hist.shape == plain.shape == (40, 40, 1) and hist.dtype == np.float32
    assert _cdf_distance(hist) < 0.03 < _cdf_distance(plain)


def test_the_cache_keeps_equalised_and_plain_pixels_apart(tmp_path):
    data = make_chest_xray(tmp_path / "chest_xray", per_class=3, test_per_class=1)
    store = tmp_path / "cache"
    plain = load_image_folder(data / "train", 40, cache_dir=store, progress=False)
    hist = load_image_folder(data / "train", 40, cache_dir=store, progress=False,
                             equalize="hist")
    again = load_image_folder(data / "train", 40, cache_dir=store, progress=False,
                              equalize="hist")                      # now from the cache
    direct = np.stack([preprocess_image(decode_image(p), 40, "hist") for p in hist.paths])
    np.testing.assert_array_equal(hist.x, direct)
    np.testing.assert_array_equal(again.x, direct)
    assert not np.array_equal(plain.x, hist.x)
    assert list(cache.info(store)["sizes"]) == ["40px", "40px-hist"]
    assert "40px-hist: 6 images" in cache.describe(cache.info(store))


def test_a_run_loads_and_its_readers_preprocess_with_its_equalisation(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))
    data = make_chest_xray(tmp_path / "chest_xray", per_class=3, test_per_class=2)
    settings = settings_for("quick", image_size=40, equalize="clahe", data=str(data))
    train, test = pipeline._load(settings, data)
    expected = load_image_folder(data / "test", 40, equalize="clahe", use_cache=False,
                                 progress=False)
    np.testing.assert_array_equal(test.x, expected.x)
    assert not np.array_equal(train.x, load_image_folder(data / "train", 40, use_cache=False,
                                                          progress=False).x)
    run = tmp_path / "run"                       # a finished run folder, written by hand
    run.mkdir()
    model = pipeline.thesis_cnn((40, 40, 1), 2, seed=0)
    model.save(run / "model.npz")
    config = {"status": "done", "threshold": 0.5, "settings": settings.to_dict()}
    (run / "config.json").write_text(json.dumps(config))
    assert runs.load_run(run)[1]["equalize"] == "clahe"
    image = Path(expected.paths[0])
    (entry,), _ = scoring.predict_images(run, [image])
    own = model.predict(preprocess_image(decode_image(image), 40, "clahe")[None])[0, 1]
    assert entry["probability"] == float(own)
    p = model.predict(expected.x)[:, 1].astype(np.float64)
    scored = scoring.evaluate_run(run, data=data)["test"]
    assert scored["loss"] == scoring.score(expected.y, p, 0.5, 0)["loss"]
    (run / "metrics.json").write_text(json.dumps({"validation": None, "test": None}))
    unlabeled = scoring.evaluate_run(run, data=data, predictions=tmp_path / "p.csv")  # as --adapt
    assert unlabeled["adapted"]["test"]["loss"] == pytest.approx(scored["loss"], rel=1e-9)
    (run / "config.json").write_text(json.dumps({**config, "settings": {
        **settings.to_dict(), "equalize": "sharpen"}}))
    with pytest.raises(RunFolderError, match="equalize must be one of"):
        runs.load_run(run)


def test_the_settings_take_equalize_and_224_pixels():
    assert settings_for("quick").equalize == "none"
    assert settings_for("improved", image_size=224, equalize="hist").image_size == 224
    with pytest.raises(SettingError, match="equalize must be one of none, hist, clahe"):
        settings_for("quick", equalize="yes")
