"""``minicnn sweep``: the grid and its checks, the statistics across seeds (against a printed
t-table), and a real Dask LocalCluster of two workers on a tiny synthetic X-ray folder, one
of whose workers is killed in the middle of a run."""
import csv
import io
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from minicnn import runs, sweep, sweep_results
from minicnn.cli import main
from minicnn.settings import parse_sets, setting_fields, sweepable
from minicnn.validation import RunFolderError, SettingError

from folders import cluster_environ, make_chest_xray

# A printed table of Student's t (two-sided 95%: the 0.975 quantile) by degrees of freedom.
T_TABLE = {1: 12.706, 2: 4.303, 4: 2.776, 9: 2.262, 29: 2.045}


def test_sweep_csv_leaves_missing_values_empty():
    text = sweep_results._csv_text([
        {"run": "a", "patience": None, "train_per_class": [50, 50], "test_auc": 0.9},
        {"run": "b", "patience": 3, "train_per_class": None}])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows == [{"run": "a", "patience": "", "train_per_class": "50", "test_auc": "0.9"},
                    {"run": "b", "patience": "3", "train_per_class": "", "test_auc": ""}]


# -- statistics -------------------------------------------------------------------------------
@pytest.mark.parametrize("df", sorted(T_TABLE))
def test_the_t_interval_matches_a_printed_t_table(df):
    values = [0.8 + 0.01 * (i % 3) + 0.002 * i for i in range(df + 1)]
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = T_TABLE[df] * sd / math.sqrt(len(values))
    low, high = sweep_results.t_interval(values)
    assert low == pytest.approx(mean - half, abs=5e-4 * half)
    assert high == pytest.approx(mean + half, abs=5e-4 * half)


def test_the_t_interval_by_hand():
    # 1, 2, 3: mean 2, sd 1, n 3 -> 2 ± 4.303 / sqrt(3) = 2 ± 2.484
    low, high = sweep_results.t_interval([1.0, 2.0, 3.0])
    assert (round(low, 3), round(high, 3)) == (-0.484, 4.484)
    assert sweep_results.t_interval([0.9]) == (None, None)
    assert sweep_results.t_interval([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7))


def test_describe_leaves_out_missing_values_and_says_n_a_for_one_seed():
    d = sweep_results.describe([0.5, None, 0.7, float("nan"), 0.9])
    assert d["n"] == 3 and d["mean"] == pytest.approx(0.7) and d["sd"] == pytest.approx(0.2)
    assert (d["min"], d["max"]) == (0.5, 0.9)
    assert d["ci_low"] == pytest.approx(0.7 - 4.303 * 0.2 / math.sqrt(3), abs=1e-3)
    one = sweep_results.describe([0.8])
    assert one["n"] == 1 and one["sd"] is None and one["ci_low"] is None
    table = {"s": {p: {m: one for m in sweep_results.METRICS} for p in sweep_results.PARTS}}
    assert "| n/a |" in sweep_results.summary_markdown(table)


# -- the grid ------------------------------------------------------------------------------
def test_repeated_keys_make_a_grid_and_values_are_typed():
    grid = parse_sets(["augment=true", "image_size=48,64", "augment=false",
                       "augment=yes", "patience=none", "train_per_class=50"], sweepable())
    assert grid == {"augment": [True, False], "image_size": [48, 64], "patience": [None],
                    "train_per_class": [(50, 50)]}
    tasks = sweep.plan("quick", grid, [0, 1, 2], "out")
    assert len(tasks) == 2 * 2 * 3 and len({t.run_dir for t in tasks}) == 12
    settings = {(t.settings.augment, t.settings.image_size, t.settings.seed) for t in tasks}
    assert len(settings) == 12
    assert all(t.settings.patience is None and t.settings.train_per_class == (50, 50)
               for t in tasks)
    assert Path(tasks[0].run_dir).name == ("quick_augment-true_image_size-48_patience-none_"
                                           "train_per_class-50-seed0")


def test_the_sweepable_keys_come_from_the_settings():
    keys = sweepable()
    fixed = {"preset", "protocol", "seed", "data", "out", "score_test"}   # their own options
    assert set(keys) == set(setting_fields()) - fixed
    with pytest.raises(SettingError, match="seed cannot be set here"):
        parse_sets(["seed=3"], keys)


@pytest.mark.parametrize("pair, words", [
    ("colour=red", ["unknown setting 'colour'", "image_size", "augment"]),
    ("augment=maybe", ["augment must be true or false", "'maybe'"]),
    ("epochs=two", ["epochs must be an integer >= 1", "'two'"]),
    ("image_size", ["KEY=VALUE", "image_size"]),
])
def test_a_bad_key_or_value_is_named(pair, words):
    with pytest.raises(SettingError) as info:
        parse_sets([pair], sweepable())
    assert all(w in str(info.value) for w in words), str(info.value)


def test_a_bad_setting_stops_the_sweep_before_any_cluster(tmp_path, monkeypatch, capsys,
                                                          data_dir):
    def no_cluster(*args):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(sweep, "_connect", no_cluster)
    for bad in (["--set", "image_size=20"], ["--set", "class_weight=heavy"],
                ["--set", "nonsense=1"]):
        assert main(["sweep", "--out", str(tmp_path / "s"), "--data", str(data_dir),
                     *bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("minicnn sweep: error:"), err
    assert not (tmp_path / "s").exists()


def test_a_run_folder_of_other_settings_is_refused(tmp_path):
    (task,) = sweep.plan("quick", {"epochs": [2]}, [0], tmp_path)
    other = task.settings.to_dict() | {"epochs": 3}
    Path(task.run_dir).mkdir(parents=True)
    (Path(task.run_dir) / "config.json").write_text(json.dumps({"settings": other,
                                                                "status": "done"}))
    with pytest.raises(RunFolderError, match="other settings"):
        sweep._state(task.run_dir, task.settings)
    (Path(task.run_dir) / "config.json").write_text(json.dumps({"settings": other | {
        "epochs": 2}, "status": "done"}))
    assert sweep._state(task.run_dir, task.settings) == "done"


# -- a real cluster --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from cluster_environ(tmp_path_factory)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, env):
    return make_chest_xray(tmp_path_factory.mktemp("fixture") / "chest_xray")


SWEEP = ["sweep", "--seeds", "0", "1", "--set", "image_size=40", "--set", "epochs=2",
         "--set", "batch_size=8", "--set", "augment=true", "--set", "augment=false",
         "--workers", "2"]


def _files(folder):
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_sweep_survives_a_killed_worker_and_a_rerun_does_nothing(tmp_path, data_dir, env,
                                                                   monkeypatch, capsys):
    pytest.importorskip("distributed")
    out, flag = tmp_path / "sweep", tmp_path / "killed"
    monkeypatch.setenv(sweep.KILL_ONCE, str(flag))
    assert main([*SWEEP, "--data", str(data_dir), "--out", str(out)]) == 0
    printed, shown = capsys.readouterr()
    killed = Path(flag.read_text())            # one worker died in the middle of this run
    folders = sorted((out / "runs").iterdir())
    assert [f.name for f in folders] == [
        f"quick_image_size-40_epochs-2_batch_size-8_augment-{a}-seed{k}"
        for a in ("false", "true") for k in (0, 1)]
    assert killed in folders
    for folder in folders:
        config = runs.read_config(folder)
        assert config["status"] == "done" and config["settings"]["epochs"] == 2
        assert len((folder / "history.csv").read_text().splitlines()) == 1 + 2
        assert not (folder / "checkpoint").exists() and not (folder / "run.lock").exists()
        resumed = [r["from_epoch"] for r in config.get("resumed", [])]
        assert resumed == ([1] if folder == killed else [])
    assert "4 runs: 1 resumed, 3 trained" in printed
    assert "Dask dashboard: http://" in shown            # the local cluster's, with bokeh

    with open(out / "sweep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["run"] for r in rows) == [f.name for f in folders]
    assert {r["status"] for r in rows} == {"done"}
    for row in rows:                           # the row holds the run's own metrics.json
        metrics = json.loads((out / "runs" / row["run"] / "metrics.json").read_text())
        assert float(row["test_auc"]) == metrics["test"]["auc"]
        assert float(row["validation_specificity"]) == metrics["validation"]["specificity"]
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary) == 2
    for setting, entry in summary.items():
        accuracies = [float(r["test_accuracy"]) for r in rows if r["setting"] == setting]
        assert entry["test"]["accuracy"]["n"] == 2
        assert entry["test"]["accuracy"]["mean"] == pytest.approx(statistics.fmean(accuracies))
        assert entry["test"]["accuracy"]["max"] == max(accuracies)
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The same command again: nothing to train, no cluster, no file touched.
    before = _files(out / "runs")
    monkeypatch.setattr(sweep, "_connect", lambda *a: pytest.fail("a cluster was started"))
    assert main([*SWEEP, "--data", str(data_dir), "--out", str(out)]) == 0
    assert "4 runs: 4 skipped" in capsys.readouterr().out
    assert _files(out / "runs") == before

    (out / "summary.md").unlink()
    assert main(["report", "--model", str(out)]) == 0
    assert "## Test" in capsys.readouterr().out and (out / "summary.md").is_file()


def test_import_minicnn_does_not_import_dask():
    code = ("import sys, minicnn, minicnn.cli\n"
            "print([m for m in ('dask', 'distributed') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.stdout.strip() == "[]", done.stderr
