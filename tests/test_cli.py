"""The command line end to end on a tiny synthetic chest_xray folder: train (run folder,
metrics.json, history.csv, plots), evaluate, predict, the missing-data error, presets."""
import contextlib
import csv
import dataclasses
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import minicnn
from minicnn import scoring
from minicnn.cli import main
from minicnn.data import locate, patient_id
from minicnn.settings import PRESETS, PROTOCOLS, settings_for

from conftest import real_data_dir
from folders import make_chest_xray

SIZE = 40          # the thesis CNN's smallest input is 38 px
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RUN_FILES = {"model.npz", "config.json", "history.csv", "metrics.json", "splits.csv",
             "learning_curves.png", "confusion_matrix.png", "roc.png"}
REPORT_KEYS = {"auc", "auc_ci", "accuracy", "accuracy_ci", "sensitivity", "sensitivity_ci",
               "specificity", "specificity_ci", "precision", "f1", "threshold",
               "confusion_matrix", "n"}

REAL_DATA = real_data_dir()     # looked up before the fixtures hide $MINICNN_DATA


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A fresh cache folder and no $MINICNN_DATA for every test of this module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINICNN_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.delenv("MINICNN_DATA", raising=False)
        yield mp


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, env):
    return make_chest_xray(tmp_path_factory.mktemp("fixture") / "chest_xray")


def _run_main(argv):
    """(exit status, stdout) of ``main(argv)``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(argv)
    return status, out.getvalue()


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir):
    """One quick-preset training run on the fixture: (run folder, printed output)."""
    run_dir = tmp_path_factory.mktemp("runs") / "quick-test"
    status, printed = _run_main(["train", "--data", str(data_dir), "--image-size", str(SIZE),
                                 "--epochs", "2", "--seed", "3", "--out", str(run_dir)])
    assert status == 0
    return run_dir, printed


def _json(path):
    return json.loads(Path(path).read_text())


# -- train ------------------------------------------------------------------------------
def test_train_writes_a_complete_run_folder_and_prints_the_table(run):
    run_dir, printed = run
    assert RUN_FILES <= {p.name for p in run_dir.iterdir()}
    for name in ("learning_curves.png", "confusion_matrix.png", "roc.png"):
        data = (run_dir / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        with Image.open(run_dir / name) as im:
            assert im.format == "PNG" and min(im.size) > 100, (name, im.size)
    model = minicnn.load_model(run_dir / "model.npz")
    assert model.input_shape == (SIZE, SIZE, 1)
    for row in ("validation", "test @ 0.5", "test @ threshold", "AUC [95% CI]"):
        assert row in printed
    assert str(run_dir) in printed and "honest" in printed


def test_metrics_json_has_validation_and_test_sections(run, data_dir):
    run_dir, _ = run
    m = _json(run_dir / "metrics.json")
    assert m["protocol"] == PROTOCOLS["honest"] and m["honest"] is True
    n_test = sum(1 for _ in (data_dir / "test").rglob("*.jpeg"))
    threshold = m["threshold"]
    assert 0.0 <= threshold <= 1.0
    for section in ("validation", "test"):
        for report, thr in ((m[section], threshold), (m[section]["at_0.5"], 0.5)):
            assert REPORT_KEYS <= set(report), (section, REPORT_KEYS - set(report))
            assert report["threshold"] == pytest.approx(thr)
            assert 0.0 <= report["auc"] <= 1.0 and 0.0 <= report["accuracy"] <= 1.0
            lo, hi = report["accuracy_ci"]
            assert lo <= report["accuracy"] <= hi
            cm = np.array(report["confusion_matrix"])
            assert cm.shape == (2, 2) and cm.dtype.kind == "i" and cm.sum() == report["n"]
            # sensitivity and specificity really are the rows of the confusion matrix
            (tn, fp), (fn, tp) = cm
            assert report["sensitivity"] == pytest.approx(tp / (tp + fn))
            assert report["specificity"] == pytest.approx(tn / (tn + fp))
    assert m["test"]["n"] == n_test
    assert 1 <= m["kept_epoch"] <= m["epochs_run"] <= 2


def test_config_records_settings_counts_versions_and_times(run, data_dir):
    run_dir, _ = run
    c = _json(run_dir / "config.json")
    s = c["settings"]
    assert (s["preset"], s["image_size"], s["epochs"], s["seed"]) == ("quick", SIZE, 2, 3)
    assert s["batch_size"] == PRESETS["quick"].batch_size
    assert s["class_weight"] == "balanced"
    assert c["status"] == "done" and c["seed"] == 3
    assert c["command"].startswith("minicnn train --data") and "--epochs 2" in c["command"]
    assert Path(c["data_dir"]) == data_dir.resolve()
    counts = c["counts"]
    assert (counts["train"]["total"] + counts["validation"]["total"]
            == counts["train_folder"]["total"])
    assert counts["test"] == counts["test_folder"] == {"NORMAL": 8, "PNEUMONIA": 8, "total": 16}
    assert {"python", "numpy", "numba", "minicnn"} <= set(c["versions"])
    assert c["versions"]["minicnn"] == minicnn.__version__
    assert c["backend"] in ("naive", "numpy", "numba")
    assert set(c["wall_seconds"]) == {"loading", "training", "evaluation", "total"}
    # the threshold recorded is Youden's J of the saved model on splits.csv's validation rows
    # (worked out in tests/runfolder.py), not merely the one metrics.json holds
    from runfolder import validation_threshold_by_hand
    assert c["threshold"] == pytest.approx(validation_threshold_by_hand(run_dir, data_dir, SIZE),
                                           rel=1e-5, abs=1e-7)


def test_history_csv_has_keras_columns_one_row_per_epoch(run):
    run_dir, _ = run
    with open(run_dir / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))
    assert len(rows) == _json(run_dir / "metrics.json")["epochs_run"]
    assert all(np.isfinite(float(r[k])) for r in rows for k in r)


def test_validation_patients_are_not_in_training_and_test_is_untouched(run):
    run_dir, _ = run
    with open(run_dir / "splits.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    split_of = {}
    for r in rows:
        folder = Path(r["path"]).parent.parent.name
        if folder == "test":
            assert r["split"] == "test"
        else:
            assert r["split"] in ("train", "validation", "unused")
            split_of.setdefault(patient_id(r["path"]), set()).add(r["split"])
    assert any("validation" in s for s in split_of.values())
    assert not [p for p, s in split_of.items() if {"train", "validation"} <= s]


# -- evaluate and predict ---------------------------------------------------------------
def test_evaluate_run_folder_reproduces_the_test_metrics(run, data_dir, capsys):
    run_dir, _ = run
    assert main(["evaluate", "--model", str(run_dir), "--data", str(data_dir)]) == 0
    out = capsys.readouterr().out
    saved = _json(run_dir / "metrics.json")
    assert f"threshold {saved['threshold']:.3f}" in out and "test @ threshold" in out
    again = scoring.evaluate_run(run_dir, data=data_dir)
    assert again["threshold"] == saved["threshold"]
    for key in ("auc", "accuracy", "sensitivity", "specificity"):
        assert again["test"][key] == pytest.approx(saved["test"][key]), key
        assert again["test"]["at_0.5"][key] == pytest.approx(saved["test"]["at_0.5"][key]), key
    assert again["test"]["confusion_matrix"] == saved["test"]["confusion_matrix"]


def test_evaluate_model_file_uses_threshold_one_half(run, data_dir):
    run_dir, _ = run
    result = scoring.evaluate_run(run_dir / "model.npz", data=data_dir)
    assert result["threshold"] == 0.5 and result["test"]["threshold"] == 0.5


def test_predict_gives_probability_and_label_and_reports_bad_files(run, data_dir, tmp_path,
                                                                   capsys):
    run_dir, _ = run
    good = sorted((data_dir / "test" / "PNEUMONIA").glob("*.jpeg"))[:2] + \
        sorted((data_dir / "test" / "NORMAL").glob("*.jpeg"))[:1]
    broken = tmp_path / "broken.jpeg"
    broken.write_bytes(b"not a jpeg at all")
    missing = tmp_path / "nowhere.png"
    argv = ["predict", "--model", str(run_dir), str(good[0]), str(missing), str(broken),
            str(good[1]), str(good[2])]
    assert main(argv) == 1                       # some files failed, the rest were predicted
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line.endswith(("NORMAL", "PNEUMONIA"))]
    assert [line.split()[0] for line in lines] == [str(p) for p in good]
    assert str(missing) in captured.err and str(broken) in captured.err
    assert "2 of 5" in captured.err and "Traceback" not in captured.err

    results, info = scoring.predict_images(run_dir, good)
    threshold = _json(run_dir / "config.json")["threshold"]
    assert info["threshold"] == threshold and info["image_size"] == SIZE
    model = minicnn.load_model(run_dir / "model.npz")
    from minicnn.data import load_image_folder
    ds = load_image_folder(data_dir / "test", SIZE, progress=False)
    expected = dict(zip(ds.paths, model.predict(ds.x)[:, 1]))
    for r, line in zip(results, lines):
        assert r["error"] is None
        assert r["probability"] == pytest.approx(float(expected[str(Path(r["path"]).absolute())]),
                                                 abs=1e-6)
        assert r["label"] == ("PNEUMONIA" if r["probability"] >= threshold else "NORMAL")
        assert line.split()[1] == f"{r['probability']:.4f}" and line.split()[2] == r["label"]


def test_predict_with_a_model_file_uses_one_half(run, data_dir):
    run_dir, _ = run
    image = next((data_dir / "test" / "NORMAL").glob("*.jpeg"))
    results, info = scoring.predict_images(run_dir / "model.npz", [image])
    assert info["threshold"] == 0.5 and info["run_dir"] is None
    r = results[0]
    assert r["label"] == ("PNEUMONIA" if r["probability"] >= 0.5 else "NORMAL")


def test_predict_formats_for_programs(run, data_dir, tmp_path, capsys):
    run_dir, _ = run
    good = sorted((data_dir / "test" / "PNEUMONIA").glob("*.jpeg"))[:2]
    images = [str(good[0]), str(tmp_path / "nowhere.png"), str(good[1])]
    expected, info = scoring.predict_images(run_dir, images)
    assert main(["predict", "--model", str(run_dir), "--format", "json", *images]) == 1
    out, err = capsys.readouterr()
    printed = json.loads(out)
    assert printed["images"] == expected and printed["threshold"] == info["threshold"]
    assert printed["images"][1]["probability"] is None and "nowhere.png" in err
    assert main(["predict", "--model", str(run_dir), "--format", "csv", *images]) == 1
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["path"] for r in rows] == images
    assert [r["label"] for r in rows] == [e["label"] or "" for e in expected]
    assert rows[1]["probability"] == rows[1]["label"] == "" and rows[1]["error"]
    assert float(rows[0]["probability"]) == expected[0]["probability"]
    from minicnn.cli import build_parser
    choices = next(a.choices for a in build_parser("predict")._subparsers._group_actions[0]
                   .choices["predict"]._actions if a.dest == "format")
    assert tuple(choices) == scoring.PREDICT_FORMATS
    with pytest.raises(ValueError, match="text, csv, json"):
        scoring.format_predictions(expected, info, "xml")


@pytest.mark.skipif(REAL_DATA is None, reason="real data set not found")
def test_predict_reads_real_xrays(run):
    run_dir, _ = run
    real = Path(REAL_DATA) / "test"
    images = [next((real / c).glob("*.jpeg")) for c in ("NORMAL", "PNEUMONIA")]
    results, _ = scoring.predict_images(run_dir, images)
    assert all(r["error"] is None and 0 <= r["probability"] <= 1 for r in results)


def test_evaluate_and_predict_on_a_missing_model_exit_2(tmp_path, capsys):
    assert main(["predict", "--model", str(tmp_path / "no-run"), "x.jpeg"]) == 2
    assert "no run folder or model file" in capsys.readouterr().err


# -- thesis preset and default run folder -----------------------------------------------
def test_thesis_preset_is_labelled_optimistic_and_uses_default_out(data_dir, tmp_path,
                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, printed = _run_main(["train", "--preset", "thesis", "--data", str(data_dir),
                                 "--image-size", str(SIZE), "--epochs", "1"])
    assert status == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("thesis-")
    m = _json(run_dir / "metrics.json")
    assert m["protocol"] == "thesis (optimistic: validated on the test sample)"
    assert m["honest"] is False and "optimistic" in printed.lower()
    assert m["validation"]["n"] == m["test"]["n"] == 16  # the test sample is the validation
    assert m["best_val_accuracy"]["epoch"] == 1 and m["thesis_reported"]["epoch"] == 2
    c = _json(run_dir / "config.json")
    assert c["settings"]["batch_size"] == 32 and c["settings"]["augment"] is False
    assert c["counts"]["train"]["total"] == 24          # capped at what the fixture holds
    with open(run_dir / "splits.csv", newline="") as f:
        assert {r["split"] for r in csv.DictReader(f) if "/test/" in r["path"]} == {
            "test+validation"}


def test_every_preset_is_named_as_its_key():
    assert all(name == settings.preset for name, settings in PRESETS.items())


def test_improved_is_full_with_the_change_chosen_on_validation():
    improved = PRESETS["improved"]
    assert improved == dataclasses.replace(settings_for("full", batch_norm=True),
                                           preset="improved")
    assert PRESETS["full"].batch_norm is False     # full itself is unchanged


def test_presets_hold_the_issue_settings_and_flags_override_them():
    quick, thesis, full = (PRESETS[k] for k in ("quick", "thesis", "full"))
    assert quick.protocol == full.protocol == "honest" and quick.val_fraction == 0.15
    assert (thesis.image_size, thesis.batch_size, thesis.epochs) == (150, 32, 20)
    assert thesis.train_per_class == (970, 1041) and thesis.test_per_class == (203, 313)
    assert (full.image_size, full.augment, full.class_weight, full.train_per_class) == (
        150, True, "balanced", None) and full.patience is not None
    s = settings_for("full", epochs=3, augment=False, image_size=None,
                              train_per_class=50)
    assert (s.epochs, s.augment, s.image_size, s.train_per_class) == (3, False, 150, (50, 50))
    assert settings_for("quick", train_per_class=0).train_per_class is None
    with pytest.raises(ValueError, match="unknown preset"):
        settings_for("huge")


def test_too_small_image_size_is_a_clean_error(data_dir, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", str(data_dir), "--image-size", "20"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "[38, 300], got 20" in err and "Traceback" not in err


def test_unusable_data_is_a_clean_error_and_marks_the_run_failed(data_dir, tmp_path, capsys):
    import shutil
    lopsided = tmp_path / "chest_xray"
    shutil.copytree(data_dir, lopsided)
    shutil.rmtree(lopsided / "test" / "PNEUMONIA")      # test/ holds only normal X-rays
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="no folder for class"):
        assert main(["train", "--data", str(lopsided), "--image-size", str(SIZE),
                     "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "test set holds only class 'NORMAL'" in err and "Traceback" not in err
    config = _json(out / "config.json")
    assert config["status"] == "failed" and config["reason"].startswith("DataError")
    assert not (out / "model.npz").exists()


# -- missing data -----------------------------------------------------------------------
def test_missing_data_lists_the_places_tried(tmp_path, monkeypatch, capsys):
    work = tmp_path / "project"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    monkeypatch.setattr(locate, "CHECKOUT", tmp_path)        # no data beside the checkout
    assert main(["train"]) == 2
    err = capsys.readouterr().err
    for place in (work / "data" / "chest_xray", work / "../shared/data/chest_xray"):
        assert str(place) in err, place
    assert "doi:10.17632/rscbjbr9sj.2" in err and "Traceback" not in err
    assert not (work / "runs").exists()           # nothing written
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "env-data"))   # used alone when set
    assert main(["train"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "env-data") in err and str(work / "data") not in err


def test_explicit_missing_data_folder_exit_2(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_python_dash_m_minicnn_help():
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for argv, expected in ((["--help"], "train"), (["train", "--help"], "thesis")):
        proc = subprocess.run([sys.executable, "-m", "minicnn", *argv], capture_output=True,
                              text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert expected in proc.stdout
    assert "optimistic" in proc.stdout.lower() and "--class-weight" in proc.stdout


# -- plots ------------------------------------------------------------------------------
def test_plots_return_figures_and_check_shapes(tmp_path):
    from minicnn import plots
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.8, 0.9])
    fig = plots.plot_roc(y, p, tmp_path / "roc.png", threshold=0.5)
    assert (tmp_path / "roc.png").read_bytes().startswith(PNG_MAGIC)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any("AUC 0.833" in label for label in labels)
    assert any("sens 0.67, spec 0.50" in label for label in labels)
    fig = plots.plot_history({"loss": [1.0, 0.5], "accuracy": [0.5, 0.8]}, best_epoch=1)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2   # training + kept-epoch line
    with pytest.raises(ValueError, match="K = len"):
        plots.plot_confusion_matrix([[1, 2], [3, 4]], ["a", "b", "c"])
