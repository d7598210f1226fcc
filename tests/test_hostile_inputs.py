"""Issue 22's hostile inputs, each made fresh here: a NaN batch, repeated seeds, a sweep
aimed at a run folder, checkpoints of another run, stale locks raced for, tampered JSON
files and argument mistakes. Each is refused with one clear line, never counted twice."""
import json
from pathlib import Path
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
from minicnn.settings import parse_sets, settings_for, sweepable
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
    with pytest.warns(UserWarning, match="a value given before; it is used once") as said:
        grid = parse_sets(["augment=true,yes", "augment=1"], sweepable())
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
    monkeypatch.setattr(sweep, "_connect", refuse)


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


# -- checkpoints: tied to their run ------------------------------------------------------------
def _interrupted_run(out, data_dir, seed, monkeypatch):
    """An interrupted run of 3 epochs (seed ``seed``) with the checkpoint of epoch 1."""
    from minicnn import checkpoint, pipeline
    save = checkpoint.save

    def save_then_stop(folder, epoch, parts, info=None):
        path = save(folder, epoch, parts, info)
        if epoch == 1:
            raise KeyboardInterrupt
        return path
    monkeypatch.setattr(checkpoint, "save", save_then_stop)
    settings = settings_for("quick", image_size=40, epochs=3, batch_size=8,
                                     train_per_class=0, seed=seed, data=str(data_dir),
                                     out=str(out))
    with pytest.raises(KeyboardInterrupt):
        pipeline.train_run(settings, command="test")
    monkeypatch.setattr(checkpoint, "save", save)
    return out


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, data_dir):
    """{seed: an interrupted run folder} for seeds 3 and 4 (copy before changing them)."""
    root = tmp_path_factory.mktemp("interrupted")
    with pytest.MonkeyPatch.context() as mp:
        return {seed: _interrupted_run(root / f"seed{seed}", data_dir, seed, mp)
                for seed in (3, 4)}


def _copy(run, tmp_path):
    import shutil
    return shutil.copytree(run, tmp_path / run.name)


def _resume(run, capsys):
    code = main(["train", "--resume", str(run)])
    return code, capsys.readouterr().err


def test_an_untouched_checkpoint_resumes(interrupted, tmp_path, capsys):
    run = _copy(interrupted[3], tmp_path)
    assert _resume(run, capsys)[0] == 0
    assert json.loads((run / "config.json").read_text())["status"] == "done"


def test_another_runs_checkpoint_is_refused(interrupted, tmp_path, capsys):
    import shutil
    run = _copy(interrupted[3], tmp_path)
    shutil.rmtree(run / "checkpoint")
    shutil.copytree(interrupted[4] / "checkpoint", run / "checkpoint")
    code, err = _resume(run, capsys)
    assert code == 2 and "belongs to another run (seed 4" in err and "seed 3" in err, err
    assert json.loads((run / "config.json").read_text())["status"] == "interrupted"


def test_another_runs_array_file_is_refused(interrupted, tmp_path, capsys):
    run = _copy(interrupted[3], tmp_path)
    (theirs,) = (interrupted[4] / "checkpoint").glob("epoch-*.npz")
    (run / "checkpoint" / theirs.name).write_bytes(theirs.read_bytes())
    code, err = _resume(run, capsys)
    assert code == 2 and "SHA-256 differs" in err and theirs.name in err, err


@pytest.mark.parametrize("change", ["epoch past the settings", "config epochs"])
def test_an_epoch_outside_the_settings_is_refused(interrupted, tmp_path, capsys, change):
    run = _copy(interrupted[3], tmp_path)
    name = "checkpoint/state.json" if change.startswith("epoch") else "config.json"
    data = json.loads((run / name).read_text())
    if change.startswith("epoch"):
        data["epoch"] = 9
    else:
        data["settings"]["epochs"] = 2
    (run / name).write_text(json.dumps(data))
    code, err = _resume(run, capsys)
    assert code == 2, err
    assert ("past the run's 3 epochs" if change.startswith("epoch") else "another run") in err


# -- locks ------------------------------------------------------------------------------------
def _stale_folder(tmp_path, pid):
    run = tmp_path / "run"
    (run / "checkpoint").mkdir(parents=True)
    (run / "checkpoint" / "state.json").write_text("{}")
    (run / "config.json").write_text(json.dumps({"status": "running"}))
    (run / "run.lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    return run


@pytest.mark.parametrize("pid", [2 ** 64, -5, 0, "12", True, None])
def test_a_lock_whose_pid_is_no_process_id_is_not_alive(tmp_path, pid):
    run = _stale_folder(tmp_path, pid)
    assert runs.run_status(run)[0] == "did not finish"
    folder, _ = runs.reclaim(run)
    assert json.loads((run / "run.lock").read_text())["pid"] == os.getpid()
    folder.release()


def test_of_two_reclaimers_one_wins_even_when_slowed(tmp_path, monkeypatch):
    run = _stale_folder(tmp_path, 2 ** 64)
    alive = runs._alive

    def slow_alive(lock):
        time.sleep(0.3)               # both reclaimers have read the stale lock by now
        return alive(lock)
    monkeypatch.setattr(runs, "_alive", slow_alive)
    outcomes = []

    def reclaim():
        try:
            runs.reclaim(run)
            outcomes.append("reclaimed")
        except RunFolderError as exc:
            outcomes.append(str(exc))
    threads = [threading.Thread(target=reclaim) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("reclaimed") == 1, outcomes
    assert any("locked by a live run" in outcome for outcome in outcomes), outcomes


# -- tampered JSON files: one line, exit 2, the file and the key named --------------------------
def _sweep_folder(root, config=None, metrics=None, plan=None):
    """A finished one-run sweep folder written by hand; the arguments replace its files."""
    run = root / "runs" / "quick-seed0"
    run.mkdir(parents=True)
    entry = {"run": "quick-seed0", "setting": "quick", "seed": 0, "values": {}}
    files = {run / "config.json": config or {"status": "done", "settings": {},
                                             "wall_seconds": {"total": 1.0}},
             run / "metrics.json": metrics or {"validation": {"auc": 0.9, "loss": 0.3}},
             root / "sweep.json": plan or {"preset": "quick", "grid": {}, "seeds": [0],
                                           "runs": [entry]}}
    for path, data in files.items():
        path.write_text(data if isinstance(data, str) else json.dumps(data))
    return root


ENTRY = {"run": "quick-seed0", "setting": "quick", "seed": 0, "values": {}}
TAMPERED_SWEEPS = {   # name: (sweep folder arguments, file, key)
    "validation a list": ({"metrics": {"validation": [0.9]}}, "metrics.json", "validation"),
    "validation text": ({"metrics": {"validation": "good"}}, "metrics.json", "validation"),
    "wall_seconds a list": ({"config": {"status": "done", "wall_seconds": [1]}}, "config.json",
                            "wall_seconds"),
    "a seed list": ({"plan": {"preset": "quick", "grid": {}, "seeds": [0],
                              "runs": [{**ENTRY, "seed": [0]}]}}, "sweep.json", "runs[0].seed"),
    "values a list": ({"plan": {"preset": "quick", "grid": {}, "seeds": [0],
                                "runs": [{**ENTRY, "values": []}]}}, "sweep.json",
                      "runs[0].values"),
    "runs null": ({"plan": {"preset": "quick", "grid": {}, "seeds": [0], "runs": None}},
                  "sweep.json", "runs"),
    "runs missing": ({"plan": {"preset": "quick", "grid": {}, "seeds": [0]}}, "sweep.json",
                     "runs"),
    "100,000 brackets": ({"metrics": '{"validation": ' + "[" * 100_000 + "]" * 100_000 + "}"},
                         "metrics.json", "nested"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED_SWEEPS))
def test_compare_on_a_tampered_file_exits_2_naming_it(tmp_path, capsys, case):
    kwargs, file, key = TAMPERED_SWEEPS[case]
    folder = _sweep_folder(tmp_path / "sweep", **kwargs)
    assert main(["compare", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and file in err and key in err, err


def test_a_metric_of_400_digits_is_left_out_with_n_shown(tmp_path, capsys):
    folder = _sweep_folder(tmp_path / "sweep",
                           metrics='{"validation": {"auc": 1' + "0" * 400 + ', "loss": 0.3}}')
    assert main(["compare", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "| quick | 1 | n/a | n/a | n/a | n/a | 0.300 |" in out, out


def test_report_on_a_tampered_metrics_file_names_it(interrupted, tmp_path, capsys):
    run = _copy(interrupted[3], tmp_path)
    (run / "metrics.json").write_text(json.dumps({"validation": ["x"]}))
    with pytest.warns(UserWarning, match="metrics.json: validation must be an object"):
        main(["report", "--model", str(run)])
    assert "Traceback" not in capsys.readouterr().err


def _set(data, dotted, value):
    *path, last = dotted.split(".")
    for key in path:
        data = data[key]
    if value is KeyError:
        del data[last]
    else:
        data[last] = value


TAMPERED_RUNS = {   # name: (file, key, new value)
    "resumed text": ("config.json", "resumed", "yesterday"),
    "data_dir a number": ("config.json", "data_dir", 7),
    "image_size big": ("config.json", "settings.image_size", "big"),
    "epoch missing": ("checkpoint/state.json", "epoch", KeyError),
    "info a list": ("checkpoint/state.json", "info", []),
    "state image_size big": ("checkpoint/state.json", "info.settings.image_size", "big"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED_RUNS))
def test_resume_of_a_tampered_file_exits_2_naming_it(interrupted, tmp_path, capsys, case):
    file, key, value = TAMPERED_RUNS[case]
    run = _copy(interrupted[3], tmp_path)
    data = json.loads((run / file).read_text())
    _set(data, key, value)
    (run / file).write_text(json.dumps(data))
    code, err = _resume(run, capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert Path(file).name in err and key.split(".")[-1] in err, err


def test_resume_of_100000_nested_brackets_exits_2(interrupted, tmp_path, capsys):
    run = _copy(interrupted[3], tmp_path)
    (run / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    code, err = _resume(run, capsys)
    assert code == 2 and "config.json" in err and "nested" in err, err


# -- argument mistakes: exit 2 before any work --------------------------------------------------
def test_a_file_where_a_folder_is_needed_exits_2(tmp_path, data_dir, capsys):
    file = tmp_path / "file.txt"
    file.write_text("mine")
    assert main(["sweep", "--data", str(data_dir), "--out", str(file), "--seeds", "0"]) == 2
    assert main(["compare", str(file)]) == 2
    assert main(["exercises", "start", "--out", str(file)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and err.count(str(file)) == 3, err
    assert file.read_text() == "mine"


def test_resume_of_a_state_nested_900_deep_exits_2(interrupted, tmp_path, capsys):
    run = _copy(interrupted[3], tmp_path)
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    text = json.dumps(state).replace('"parts": {', '"parts": {"deep": ' + "[" * 900
                                     + "]" * 900 + ", ", 1)
    (run / "checkpoint" / "state.json").write_text(text)
    code, err = _resume(run, capsys)
    assert code == 2 and "state.json" in err and "nested" in err, err
