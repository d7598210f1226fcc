"""The honest protocol, checked from the outside (``settings_for`` / ``train_run``
and the run folder only): the decision threshold is Youden's J on the validation rows of
splits.csv; no test/ image reaches training, early stopping or the threshold; the saved
model is the kept epoch's.

The fixture is a tiny synthetic chest_xray folder whose validation images look like the
other class, so validation loss rises while training improves: the kept (lowest validation
loss) epoch must then come before the last one, and the saved weights must be its weights.
"""
import contextlib
import io
import logging
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import minicnn
from minicnn import logs, pipeline
from minicnn.settings import PRESETS, settings_for

from runfolder import (history_rows, images_of, read_json, saved_model_probability,
                       split_rows, youden_by_hand, youden_j_at)

SIZE = 40            # the thesis CNN's smallest input is 38 px
SEED = 5
TRAIN_PATIENTS = 18  # per class, two images each: 36 images per class in train/
TEST_PATIENTS = 5    # per class, two images each: 10 per class in test/


def _render(name, looks_sick):
    """A gray picture, the same for the same file name; 'sick' ones get a bright blotch."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    side = int(rng.integers(48, 60))
    img = rng.normal(0.35, 0.06, (side, side))
    if looks_sick:
        r, c = rng.integers(side // 2, side - side // 4), rng.integers(side // 4, 3 * side // 4)
        yy, xx = np.mgrid[:side, :side]
        img += 0.5 * np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * (side / 5) ** 2))
    return Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))


def _file_names(split):
    """(folder, file name, label) of every image, with the data set's naming (two images per
    patient, so the split must group them)."""
    offset, patients = (0, TRAIN_PATIENTS) if split == "train" else (500, TEST_PATIENTS)
    for k in range(2 * patients):
        patient, shot = offset + k // 2 + 1, k % 2 + 1
        yield "NORMAL", f"IM-{patient:04d}-{shot:04d}.jpeg", 0
        yield "PNEUMONIA", f"person{patient}_bacteria_{10 * patient + shot}.jpeg", 1


def make_folder(root, flipped=frozenset()):
    """root/{train,test}/{NORMAL,PNEUMONIA}/; files named in ``flipped`` look like the other
    class."""
    for split in ("train", "test"):
        for folder, name, label in _file_names(split):
            path = root / split / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            looks_sick = bool(label) != (name in flipped)
            _render(name, looks_sick).convert("RGB").save(path, quality=95)
    return root


def _settings(data, out, epochs):
    return settings_for("quick", data=str(data), out=str(out), image_size=SIZE,
                                 epochs=epochs, seed=SEED, val_fraction=0.3, patience=2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs. 'plain': one epoch on the plain fixture; it also tells which files the split
    puts in validation. 'rising': the same file names with the validation images made to look
    like the other class, 4 epochs, while recording what ``Sequential.fit`` and
    ``metrics.youden_threshold`` receive."""
    base = tmp_path_factory.mktemp("protocol")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINICNN_CACHE", str(base / "cache"))
        mp.delenv("MINICNN_DATA", raising=False)
        plain_data = make_folder(base / "plain" / "chest_xray")
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed), \
                logs.to_stderr():                  # as the command shows it
            plain = pipeline.train_run(_settings(plain_data, base / "run-plain", 1),
                                       command="test")
        flipped = frozenset(Path(r["path"]).name for r in split_rows(plain)
                            if r["split"] == "validation")
        rising_data = make_folder(base / "rising" / "chest_xray", flipped)

        calls = {"fit": [], "youden": []}
        real_fit, real_youden = minicnn.Sequential.fit, minicnn.metrics.youden_threshold

        def fit(self, x, y, *args, **kwargs):
            calls["fit"].append({"x": np.array(x), "y": np.array(y),
                                 "validation_data": kwargs.get("validation_data"),
                                 "class_weight": kwargs.get("class_weight")})
            return real_fit(self, x, y, *args, **kwargs)

        def youden(y, p):
            calls["youden"].append((np.array(y), np.array(p, dtype=np.float64)))
            return real_youden(y, p)

        mp.setattr(minicnn.Sequential, "fit", fit)
        mp.setattr(minicnn.metrics, "youden_threshold", youden)
        rising = pipeline.train_run(_settings(rising_data, base / "run-rising", 4),
                                    command="test")
    return {"plain": (plain, plain_data), "rising": (rising, rising_data), "calls": calls,
            "flipped": flipped, "printed": printed.getvalue()}


def _hashes(x):
    return {np.ascontiguousarray(row).tobytes() for row in np.asarray(x, np.float32)}


@pytest.mark.parametrize("which", ["plain", "rising"])
def test_threshold_is_youden_on_the_validation_rows_with_the_saved_model(runs, which):
    """The recorded threshold is Youden's J (worked out here) of the saved model's scores on
    the validation rows of splits.csv, in config.json and in every metrics.json section."""
    run_dir, data_dir = runs[which]
    x, y, _ = images_of(run_dir, data_dir, "validation", SIZE)
    assert len(y) >= 16 and set(y.tolist()) == {0, 1}
    p = saved_model_probability(run_dir, x)
    expected, best_j = youden_by_hand(y, p)
    config, metrics = read_json(run_dir / "config.json"), read_json(run_dir / "metrics.json")
    saved = config["threshold"]
    assert saved == pytest.approx(expected, rel=1e-5, abs=1e-7)
    # robust to last-bit differences in p: the saved threshold reaches the best J on validation
    assert youden_j_at(y, p, saved, tol=1e-6) == best_j
    for value in (metrics["threshold"], metrics["validation"]["threshold"],
                  metrics["test"]["threshold"]):
        assert value == saved
    assert (metrics["validation"]["at_0.5"]["threshold"]
            == metrics["test"]["at_0.5"]["threshold"] == 0.5)


@pytest.mark.parametrize("which", ["plain", "rising"])
def test_validation_and_test_sections_are_the_saved_model_on_their_rows(runs, which):
    """metrics.json's validation and test sections are the saved model's scores on the
    validation and test rows of splits.csv at the saved threshold (counts worked out here)."""
    run_dir, data_dir = runs[which]
    metrics = read_json(run_dir / "metrics.json")
    threshold = metrics["threshold"]
    for section, split in (("validation", "validation"), ("test", "test")):
        x, y, _ = images_of(run_dir, data_dir, split, SIZE)
        p = saved_model_probability(run_dir, x)
        for report, t in ((metrics[section], threshold), (metrics[section]["at_0.5"], 0.5)):
            pred = p >= t - 1e-6        # t is one of the recorded scores: keep it positive
            tp, fn = int((pred & (y == 1)).sum()), int((~pred & (y == 1)).sum())
            fp, tn = int((pred & (y == 0)).sum()), int((~pred & (y == 0)).sum())
            assert report["n"] == len(y)
            assert report["confusion_matrix"] == [[tn, fp], [fn, tp]], (section, t)
            assert report["accuracy"] == pytest.approx((tp + tn) / len(y))
            pos, neg = p[y == 1], p[y == 0]
            pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
            assert report["auc"] == pytest.approx(pairs / (len(pos) * len(neg)), abs=1e-6)
        assert metrics[section]["loss"] == pytest.approx(
            -np.mean(np.log(np.clip(np.where(y == 1, p, 1 - p), 1e-7, 1))), rel=1e-4)


def test_no_test_image_reaches_training_early_stopping_or_the_threshold(runs):
    """What ``fit`` trains and validates on, and what the threshold is chosen from, are
    exactly the train and validation rows of splits.csv, never a test/ image."""
    run_dir, data_dir = runs["rising"]
    calls = runs["calls"]
    assert len(calls["fit"]) == 1 and len(calls["youden"]) >= 1
    x_test, _, _ = images_of(run_dir, data_dir, "test", SIZE)
    x_train, y_train, _ = images_of(run_dir, data_dir, "train", SIZE)
    x_val, y_val, _ = images_of(run_dir, data_dir, "validation", SIZE)
    test = _hashes(x_test)
    assert len(test) == len(x_test) == 4 * TEST_PATIENTS
    (fit,) = calls["fit"]
    assert fit["validation_data"] is not None
    fit_val_x, fit_val_y = fit["validation_data"]
    assert not _hashes(fit["x"]) & test, "test/ images were trained on"
    assert not _hashes(fit_val_x) & test, "test/ images were used as validation (early stopping)"
    assert _hashes(fit["x"]) == _hashes(x_train) and len(fit["x"]) == len(x_train)
    assert _hashes(fit_val_x) == _hashes(x_val) and len(fit_val_x) == len(x_val)
    assert sorted(np.asarray(fit["y"]).tolist()) == sorted(y_train.tolist())
    assert sorted(np.asarray(fit_val_y).tolist()) == sorted(y_val.tolist())
    # the quick preset's balanced class weights, n / (2 n_c), from the training rows
    n, n1 = len(y_train), int(y_train.sum())
    assert fit["class_weight"] == pytest.approx({0: n / (2 * (n - n1)), 1: n / (2 * n1)})
    assert read_json(run_dir / "config.json")["class_weight_values"] == pytest.approx(
        {str(c): w for c, w in fit["class_weight"].items()})           # JSON keys are text
    # the threshold is chosen from the saved model's scores on validation, and on nothing else
    p_val = saved_model_probability(run_dir, x_val)
    for y, p in calls["youden"]:
        assert len(p) == len(y_val), "the threshold was chosen on another set than validation"
        assert sorted(y.tolist()) == sorted(y_val.tolist())
        np.testing.assert_allclose(np.sort(p), np.sort(p_val), rtol=1e-5, atol=1e-7)
    rows = split_rows(run_dir)
    assert {r["split"] for r in rows if Path(r["path"]).parent.parent.name == "test"} == {"test"}


def test_kept_epoch_comes_before_the_last_and_is_the_saved_model(runs):
    """Validation loss rises on this fixture: the kept epoch is the lowest validation loss of
    history.csv, before the last epoch, and the saved model has exactly that validation loss
    (the best weights were restored before saving)."""
    run_dir, data_dir = runs["rising"]
    history = history_rows(run_dir)
    metrics, config = read_json(run_dir / "metrics.json"), read_json(run_dir / "config.json")
    val_loss = [row["val_loss"] for row in history]
    assert len(history) == metrics["epochs_run"] == config["epochs_run"]
    kept = metrics["kept_epoch"]
    assert config["kept_epoch"] == kept
    assert kept == int(np.argmin(val_loss)) + 1
    val_names = {Path(r["path"]).name for r in split_rows(run_dir) if r["split"] == "validation"}
    assert val_names == runs["flipped"]          # the fixture's premise: the same split
    assert kept < len(history), f"validation loss did not rise on the fixture: {val_loss}"
    assert max(val_loss[kept:]) > val_loss[kept - 1] * 1.01
    x, y, _ = images_of(run_dir, data_dir, "validation", SIZE)
    p = saved_model_probability(run_dir, x)
    own_loss = -np.mean(np.log(np.clip(np.where(y == 1, p, 1 - p), 1e-7, 1)))
    assert own_loss == pytest.approx(val_loss[kept - 1], rel=1e-4)
    assert metrics["best_val_loss"] == {"epoch": kept, "value": pytest.approx(val_loss[kept - 1])}


@pytest.fixture(scope="module")
def capped_runs(runs, tmp_path_factory):
    """Three one-epoch runs on the plain fixture with capped samples (10 training images per
    class, test sample (4, 3)): seed 5 twice, and seed 6."""
    _, data_dir = runs["plain"]
    base = tmp_path_factory.mktemp("capped")
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINICNN_CACHE", str(base / "cache"))
        for name, seed in (("a", SEED), ("again", SEED), ("other", SEED + 1)):
            settings = settings_for(
                "quick", data=str(data_dir), out=str(base / name), image_size=SIZE, epochs=1,
                seed=seed, val_fraction=0.3, train_per_class=10, test_per_class=(4, 3))
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed), \
                    logs.to_stderr():
                out[name] = pipeline.train_run(settings, command="test")
            out[name + " printed"] = printed.getvalue()
    return out, data_dir


def _split_of(run_dir):
    return {Path(r["path"]).name: r["split"] for r in split_rows(run_dir)}


def test_capped_samples_are_recorded_row_by_row(capped_runs):
    """train_per_class and test_per_class draw that many images per class; splits.csv marks
    the rest 'unused'; config.json and metrics.json count the same images."""
    runs_, _ = capped_runs
    run_dir = runs_["a"]
    rows = split_rows(run_dir)
    by_split = {}
    for r in rows:
        by_split.setdefault(r["split"], []).append(int(r["label"]))
    assert sorted(by_split) == ["test", "train", "unused", "validation"]
    assert sorted(by_split["train"]) == [0] * 10 + [1] * 10
    assert sorted(by_split["test"]) == [0] * 4 + [1] * 3
    n_train_folder = sum(1 for r in rows if Path(r["path"]).parent.parent.name == "train")
    assert len(rows) == n_train_folder + 4 * TEST_PATIENTS
    unused_test = [r for r in rows if r["split"] == "unused"
                   and Path(r["path"]).parent.parent.name == "test"]
    assert len(unused_test) == 4 * TEST_PATIENTS - 7
    config, metrics = read_json(run_dir / "config.json"), read_json(run_dir / "metrics.json")
    assert config["counts"]["train"] == {"NORMAL": 10, "PNEUMONIA": 10, "total": 20}
    assert config["counts"]["test"] == {"NORMAL": 4, "PNEUMONIA": 3, "total": 7}
    assert config["counts"]["validation"]["total"] == len(by_split["validation"])
    assert config["counts"]["test_folder"] == {"NORMAL": 2 * TEST_PATIENTS,
                                               "PNEUMONIA": 2 * TEST_PATIENTS,
                                               "total": 4 * TEST_PATIENTS}
    assert config["counts"]["train_folder"] == {"NORMAL": 2 * TRAIN_PATIENTS,
                                                "PNEUMONIA": 2 * TRAIN_PATIENTS,
                                                "total": 4 * TRAIN_PATIENTS}
    assert config["class_names"] == ["NORMAL", "PNEUMONIA"] and config["skipped_files"] == []
    assert metrics["test"]["n"] == 7 and metrics["test"]["at_0.5"]["n"] == 7
    assert metrics["validation"]["n"] == len(by_split["validation"])


def test_the_seed_fixes_every_sample_and_the_weights(capped_runs):
    """Same seed: the same rows in every split and bit-identical saved weights. Another seed:
    other samples."""
    runs_, _ = capped_runs
    a, again, other = (runs_[k] for k in ("a", "again", "other"))
    assert _split_of(a) == _split_of(again)
    wa = minicnn.load_model(a / "model.npz").get_weights()
    wb = minicnn.load_model(again / "model.npz").get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb))
    assert read_json(a / "metrics.json")["threshold"] == read_json(again / "metrics.json")[
        "threshold"]
    sa, so = _split_of(a), _split_of(other)
    for split in ("validation", "train", "test"):
        assert {n for n, s in sa.items() if s == split} != {n for n, s in so.items()
                                                             if s == split}, split


@pytest.fixture(scope="module")
def thesis_runs(runs, tmp_path_factory):
    """The thesis protocol on the plain fixture, one epoch: a sample (8 per class, test
    (4, 3)) with seed 5 twice, and all images with seed 6."""
    _, data_dir = runs["plain"]
    base = tmp_path_factory.mktemp("thesis")
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINICNN_CACHE", str(base / "cache"))
        for name, seed, train, test in (("a", SEED, 8, (4, 3)), ("again", SEED, 8, (4, 3)),
                                        ("all", SEED + 1, 0, None)):
            settings = settings_for("thesis", data=str(data_dir), out=str(base / name),
                                             image_size=SIZE, epochs=1, seed=seed,
                                             train_per_class=train, test_per_class=test)
            out[name] = pipeline.train_run(settings, command="test")
    return out, data_dir


def test_thesis_protocol_validates_on_its_test_sample(thesis_runs):
    """Thesis protocol: the seeded test sample is also the validation set (marked
    'test+validation'); the threshold is Youden's J on it; the last epoch is kept; the same
    seed draws the same samples; train_per_class 0 takes every training image."""
    runs_, data_dir = thesis_runs
    run_dir = runs_["a"]
    rows = split_rows(run_dir)
    labels = {}
    for r in rows:
        labels.setdefault(r["split"], []).append(int(r["label"]))
    assert sorted(labels) == ["test+validation", "train", "unused"]
    assert sorted(labels["train"]) == [0] * 8 + [1] * 8
    assert sorted(labels["test+validation"]) == [0] * 4 + [1] * 3
    metrics, config = read_json(run_dir / "metrics.json"), read_json(run_dir / "config.json")
    assert metrics["honest"] is False and metrics["validation"]["n"] == metrics["test"]["n"] == 7
    assert metrics["thesis_reported"] == {"best_val_accuracy": 0.8622, "epoch": 2,
                                          "lowest_val_loss": 0.34}
    assert metrics["test"]["note"] == "same images as validation (the thesis protocol)"
    assert metrics["preset"] == "thesis" and metrics["positive_class"] == "PNEUMONIA"
    assert metrics["threshold_rule"] == ("Youden's J (sensitivity + specificity - 1) "
                                         "maximised on validation")
    assert metrics["kept_epoch_rule"] == "last epoch (no early stopping, as the thesis)"
    assert metrics["validation"]["confusion_matrix"] == metrics["test"]["confusion_matrix"]
    assert config["counts"]["validation"] == config["counts"]["test"] == {
        "NORMAL": 4, "PNEUMONIA": 3, "total": 7}
    x, y, _ = images_of(run_dir, data_dir, "test+validation", SIZE)
    p = saved_model_probability(run_dir, x)
    expected, best_j = youden_by_hand(y, p)
    assert metrics["threshold"] == pytest.approx(expected, rel=1e-5, abs=1e-7)
    history = history_rows(run_dir)
    assert metrics["kept_epoch"] == len(history) == 1
    own_loss = -np.mean(np.log(np.clip(np.where(y == 1, p, 1 - p), 1e-7, 1)))
    assert own_loss == pytest.approx(history[-1]["val_loss"], rel=1e-4)
    assert metrics["best_val_accuracy"] == {"epoch": 1, "value": history[0]["val_accuracy"]}
    assert _split_of(run_dir) == _split_of(runs_["again"])
    every = split_rows(runs_["all"])
    assert {r["split"] for r in every if Path(r["path"]).parent.parent.name == "train"} == {
        "train"}
    assert {r["split"] for r in every if Path(r["path"]).parent.parent.name == "test"} == {
        "test+validation"}


def test_a_sample_larger_than_the_folder_is_noted_and_capped(runs, capped_runs):
    """Asking for more images than a class has takes them all and says so; a sample that fits
    says nothing."""
    assert ("note: training sample: asked for (300, 300) images per class, only (24, 24) "
            "available; using (24, 24)") in runs["printed"]
    assert "asked for" not in capped_runs[0]["a printed"]


def test_a_test_sample_of_one_class_is_a_clear_error(runs, tmp_path, monkeypatch, caplog):
    """A test/ folder without pneumonia images and a test sample: the sample notes what it
    could take, and the run stops with the protocol's own message before training (not an
    IndexError from the sampling)."""
    _, data_dir = runs["plain"]
    lopsided = tmp_path / "chest_xray"
    shutil.copytree(data_dir, lopsided)
    shutil.rmtree(lopsided / "test" / "PNEUMONIA")
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))
    caplog.set_level(logging.INFO, logger="minicnn")
    settings = settings_for("quick", data=str(lopsided), out=str(tmp_path / "run"),
                                     image_size=SIZE, epochs=1, seed=SEED, val_fraction=0.3,
                                     test_per_class=(3, 3))
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="the test set holds only "
                                                                    "class 'NORMAL'"):
        pipeline.train_run(settings, command="test")
    assert not (tmp_path / "run" / "model.npz").exists()
    assert ("note: test sample: asked for (3, 3) images per class, only (10, 0) available; "
            "using (3, 0)") in caplog.text


def test_settings_for_defaults_and_unknown_names():
    """No preset is the quick preset; None overrides nothing; a misspelt setting is named."""
    assert settings_for() == PRESETS["quick"]
    assert settings_for("full", epochs=None) == PRESETS["full"]
    with pytest.raises(TypeError, match=r"unknown settings \['epoch'\]"):
        settings_for("quick", epoch=3)
