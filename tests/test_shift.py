"""minicnn shift: per-image statistics, the domain classifier and its patient-grouped
interval, and a report that reads no test/ label (its class folders swapped change nothing)."""
import contextlib
import csv
import io
import json

import numpy as np
import pytest

from minicnn import metrics, shift
from minicnn.cli import main
from minicnn.layers import Dense, Flatten, Input
from minicnn.model import Sequential

from test_adapt import _swapped_copy, trained  # noqa: F401  (a module fixture: one tiny run)


def test_image_statistics_by_hand():
    ramp = np.linspace(0, 1, 100, dtype=np.float32).reshape(1, 10, 10, 1)
    flat = np.full((1, 10, 10, 1), 0.25, np.float32)
    stats = shift.image_statistics(np.concatenate([ramp, flat]))
    assert np.allclose(stats["mean"], [0.5, 0.25])
    assert np.isclose(stats["sd"][0], np.linspace(0, 1, 100).std()) and stats["sd"][1] == 0
    for q in shift.PERCENTILES:
        assert np.isclose(stats[f"p{q}"][0], np.percentile(np.linspace(0, 1, 100), q))
        assert np.isclose(stats[f"p{q}"][1], 0.25)


def test_image_features_by_hand():
    x = np.random.default_rng(0).random((3, 32, 32, 1))
    f = shift.image_features(x)
    assert f["statistics"].shape == (3, 2 + len(shift.PERCENTILES))
    assert np.allclose(f["histogram"].sum(axis=1), 1)
    counts = np.histogram(x[1], bins=32, range=(0, 1))[0] / x[1].size
    assert np.allclose(f["histogram"][1], counts)
    blocks = x[:, :, :, 0].reshape(3, 16, 2, 16, 2).mean(axis=(2, 4)).reshape(3, -1)
    assert np.allclose(f["thumbnail"], blocks)
    ragged = shift.image_features(np.ones((2, 40, 40, 1)))["thumbnail"]   # 40 = 16 uneven
    assert ragged.shape == (2, 256) and np.allclose(ragged, 1)


def _images(n, brightness, seed):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.4 + brightness, 0.1, (n, 16, 16, 1)), 0, 1)


@pytest.mark.parametrize("brightness, low, high", [(0.08, 0.9, 1.0), (0.0, 0.0, 1.0)])
def test_the_domain_classifier_sees_a_planted_shift_and_only_it(brightness, low, high):
    x = np.concatenate([_images(120, 0.0, 1), _images(60, brightness, 2)])
    domain = np.repeat([0, 1], [120, 60])
    groups = np.array([f"p{i // 2}" for i in range(180)])         # two images per patient
    r = shift.domain_classifier(shift.image_features(x)["statistics"], domain, groups, 3)
    assert low <= r["auc"] <= high, r["auc"]
    if brightness == 0:
        assert r["auc_ci"][0] < 0.5 < r["auc_ci"][1] and abs(r["auc"] - 0.5) < 0.15
    assert r["auc_ci"][0] <= r["auc"] <= r["auc_ci"][1]


def test_the_grouped_interval_counts_a_patient_once():
    rng = np.random.default_rng(3)
    y = np.repeat(rng.integers(0, 2, 60), 6)                     # 60 patients, 6 images each
    p = np.repeat(rng.normal(size=60), 6) + y * 0.8
    groups = np.repeat(np.arange(60), 6)
    grouped = shift.grouped_auc_interval(y, p, groups, n_boot=400)
    per_image = metrics.auc_ci(y, p)                             # DeLong: images independent
    assert (grouped[1] - grouped[0]) > 1.8 * (per_image[1] - per_image[0])
    alone = shift.grouped_auc_interval(y, p, np.arange(len(y)), n_boot=400)
    assert (alone[1] - alone[0]) < 0.7 * (grouped[1] - grouped[0])


def _shift(*argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            return main(["shift", *argv]), out.getvalue()
        except SystemExit as exc:
            return exc.code, out.getvalue()


def test_the_report_reads_no_test_label(trained, tmp_path):  # noqa: F811
    swapped = _swapped_copy(trained["data"], tmp_path / "swapped")
    (swapped / "train").symlink_to(trained["data"] / "train")
    reports = []
    for data, name in ((trained["data"], "a"), (swapped, "b")):
        code, text = _shift("--data", str(data), "--model", str(trained["run"]), "--out",
                            str(tmp_path / name), "--folds", "3")
        assert code == 0 and "Domain classifier" in text
        report = json.loads((tmp_path / name / "shift.json").read_text())
        assert report.pop("data_dir") == str(data.resolve())
        reports.append(report)
        assert {"intensity.png", "probabilities.png", "shift.md"} <= {
            p.name for p in (tmp_path / name).iterdir()}
    assert reports[0] == reports[1]
    assert set(reports[0]["intensity"]) == {"train/", "train/NORMAL", "train/PNEUMONIA",
                                            "test/ (unlabeled)"}
    assert reports[0]["counts"]["test"] == {"total": 12}
    model = reports[0]["model"]
    with open(trained["run"] / "splits.csv", newline="") as f:
        labels = [int(r["label"]) for r in csv.DictReader(f) if r["split"] == "validation"]
    assert model["validation"]["true_prior"] == np.mean(labels)
    assert model["validation"]["n"] == len(labels) and model["test"]["n"] == 12
    assert "true_prior" not in model["test"] and model["training_prior"] == 0.5


def test_shift_errors_end_in_one_line_and_exit_2(trained, tmp_path, capsys):  # noqa: F811
    bare = tmp_path / "bare.npz"
    Sequential([Input((40, 40, 1)), Flatten(), Dense(2, activation="softmax")],
               seed=0).save(bare)
    cases = [(["--data", str(tmp_path / "nowhere")], "nowhere"),
             (["--data", str(trained["data"]), "--model", str(bare)], "run folder"),
             (["--data", str(trained["data"]), "--folds", "1"], "integer >= 2")]
    for argv, words in cases:
        capsys.readouterr()
        code, _ = _shift(*argv, "--out", str(tmp_path / "out"))
        err = capsys.readouterr().err
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
