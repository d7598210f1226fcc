"""Issue 22's hostile inputs, each made fresh here: a NaN batch, repeated seeds, a sweep
aimed at a run folder, checkpoints of another run, stale locks raced for, tampered JSON
files and argument mistakes. Each is refused with one clear line, never counted twice."""
import json
import os
import socket
import threading
import time
import warnings

import numpy as np
import pytest

import minicnn
from minicnn import layers, runs, sweep, sweep_results
from minicnn.cli import main
from minicnn.validation import RunFolderError, SettingError


# -- BatchNormalization: a rejected step moves nothing ---------------------------------------
def test_a_nan_batch_leaves_the_moving_statistics_alone():
    model = minicnn.Sequential([layers.Input((4, 4, 1)), layers.Conv2D(2, 3),
                                layers.BatchNormalization(momentum=0.5), layers.Flatten(),
                                layers.Dense(2, activation="softmax")], seed=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 4, 4, 1)).astype("float32"), np.array([0, 1] * 4)
    model.train_on_batch(x, y)
    before = [w.copy() for w in model.get_weights()]
    bad = x.copy()
    bad[3, 1, 1, 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(bad, y, batch_size=8, epochs=1, verbose=0)
    assert model.nonfinite_loss is not None                     # the step was refused
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)                 # moving statistics included
    assert np.all(np.isfinite(model.predict(x)))


# -- sweeps: one run per seed and setting, never into someone else's folder ------------------
def test_a_seed_given_twice_is_refused():
    with pytest.raises(SettingError, match="0 given more than once"):
        sweep.plan("quick", {}, [0, 0], "out")


def test_a_repeated_value_runs_once_and_is_said_once():
    with pytest.warns(UserWarning, match="each setting runs once") as said:
        grid = sweep.parse_sets(["augment=true,yes", "augment=1"])
    assert grid == {"augment": [True]} and len(said) == 1


def test_values_that_would_share_a_run_folder_are_refused(monkeypatch):
    monkeypatch.setattr(sweep, "setting_name", lambda preset, values: preset)   # alike names
    with pytest.raises(SettingError, match="would share the run folder quick-seed0"):
        sweep.plan("quick", {"epochs": [1, 2]}, [0], "out")


def test_a_summary_never_counts_a_run_twice(tmp_path):
    run = tmp_path / "runs" / "quick-seed0"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"status": "done", "settings": {}}))
    (run / "metrics.json").write_text(json.dumps({"validation": {"auc": 0.9}}))
    entry = {"run": "quick-seed0", "setting": "quick", "seed": 0, "values": {}}
    (tmp_path / "sweep.json").write_text(json.dumps({"preset": "quick", "grid": {},
                                                     "seeds": [0, 0], "runs": [entry, entry]}))
    summary = sweep_results.summarize(sweep_results.collect(tmp_path))
    assert summary["quick"]["runs"] == 1
    auc = summary["quick"]["validation"]["auc"]
    assert auc["n"] == 1 and auc["sd"] is None and auc["ci_low"] is None


@pytest.fixture
def no_cluster(monkeypatch):
    """run_sweep up to its checks: a cluster would be a failure of the test."""
    monkeypatch.setattr(sweep, "find_data_dir", lambda data: __import__("pathlib").Path("."))
    def refuse(*args, **kwargs):
        raise AssertionError("a cluster was started")
    monkeypatch.setattr(sweep, "_client", refuse)


@pytest.mark.parametrize("kind", ["run folder", "other files", "other sweep"])
def test_sweep_out_that_is_not_this_sweeps_folder_is_refused(tmp_path, no_cluster, kind):
    out = tmp_path / "out"
    out.mkdir()
    if kind == "run folder":
        (out / "config.json").write_text(json.dumps({"status": "done"}))
    elif kind == "other files":
        (out / "notes.txt").write_text("mine")
    else:
        (out / "sweep.json").write_text(json.dumps({"preset": "full", "grid": {},
                                                    "seeds": [0], "runs": []}))
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(RunFolderError, match="--out"):
        sweep.run_sweep("quick", {"epochs": [1]}, [0], out)
    assert sorted(p.name for p in out.iterdir()) == before          # nothing written


def test_sweep_out_of_its_own_sweep_goes_on(tmp_path, no_cluster, monkeypatch):
    monkeypatch.setattr(sweep, "_state", lambda run_dir, settings: "done")
    monkeypatch.setattr(sweep, "write_results", lambda out: [])
    for _ in range(2):                                 # the second time: the same sweep
        assert sweep.run_sweep("quick", {"epochs": [1]}, [0], tmp_path / "out")["tasks"] == 1
