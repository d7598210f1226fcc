"""Validation-only runs and sweeps: test/ is left unscored while settings are compared,
then scored once, later, for the setting chosen on validation (the honest protocol)."""
import csv
import json
from pathlib import Path

import pytest

from minicnn import pipeline, report, runs, scoring, sweep, sweep_results
from minicnn.cli import main
from minicnn.settings import settings_for
from minicnn.validation import SettingError

from folders import fake_sweep

TINY = {"image_size": 40, "epochs": 2, "batch_size": 8}


def _metrics(run_dir):
    return json.loads((Path(run_dir) / "metrics.json").read_text())


@pytest.mark.slow
def test_a_validation_only_run_is_scored_on_test_once_later(tmp_path, data_dir):
    common = dict(TINY, data=str(data_dir))
    scored = pipeline.train_run(settings_for("quick", **common, out=str(tmp_path / "scored")),
                                "t", report.write_report)
    hidden = pipeline.train_run(settings_for("quick", **common, score_test=False,
                                             out=str(tmp_path / "hidden")), "t",
                                report.write_report)
    before = _metrics(hidden)
    assert before["test"] is None and runs.test_not_scored(before)
    assert before["validation"] == _metrics(scored)["validation"]      # same run otherwise
    assert not (hidden / "confusion_matrix.png").exists() and not (hidden / "roc.png").exists()
    page = (hidden / "report.html").read_text()
    assert "test at the threshold" not in page and 'class="card"' not in page
    assert "not scored yet" in page
    assert "test at the threshold" in (scored / "report.html").read_text()

    first = scoring.evaluate_run(hidden, report=report.write_report)
    after = _metrics(hidden)
    assert first["recorded"] and after["test"] == _metrics(scored)["test"]
    assert after["validation"] == before["validation"] and "test_scored" in after
    assert (hidden / "confusion_matrix.png").is_file() and (hidden / "roc.png").is_file()
    assert "test at the threshold" in (hidden / "report.html").read_text()

    written = (hidden / "metrics.json").read_bytes()
    again = scoring.evaluate_run(hidden)                 # once: later calls only print
    assert not again["recorded"] and (hidden / "metrics.json").read_bytes() == written
    assert again["test"]["auc"] == after["test"]["auc"]
    assert not scoring.evaluate_run(scored)["recorded"]


def test_the_thesis_protocol_cannot_hide_test():
    with pytest.raises(SettingError, match="honest protocol"):
        settings_for("thesis", score_test=False)


def test_train_validation_only_flag_reaches_the_settings(monkeypatch):
    seen = []
    monkeypatch.setattr(pipeline, "train_run", lambda settings, **_: seen.append(settings))
    main(["train", "--preset", "full", "--validation-only"])
    main(["train", "--preset", "full"])
    assert [s.score_test for s in seen] == [False, True]
    assert main(["train", "--resume", "x", "--validation-only"]) == 2


def _in_process(monkeypatch):
    """Run a sweep's tasks in this process: no Dask cluster (tests/test_sweep.py has one)."""
    monkeypatch.setattr(sweep, "_on_cluster", lambda todo, client, scheduler_file, workers,
                        threads, command: {Path(t.run_dir).name: sweep.run_task(
                            t, threads, command)[1] for t in todo})


def _rows(out):
    with open(out / "sweep.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_a_validation_only_sweep_then_its_test_scored_once(tmp_path, data_dir, monkeypatch,
                                                           capsys):
    _in_process(monkeypatch)
    out, grid = tmp_path / "sweep", {k: [v] for k, v in TINY.items()}
    sweep.run_sweep("quick", grid, [0, 1], out, data=str(data_dir), validation_only=True)
    assert all("test_auc" not in row and row["validation_auc"] for row in _rows(out))
    summary = (out / "summary.md").read_text()
    assert "## Test\n\nNot scored yet" in summary and "| validation auc |" not in summary
    for task in sweep.plan("quick", grid, [0, 1], out, str(data_dir)):
        assert sweep._state(task.run_dir, task.settings) == "done"     # test scored or not

    assert main(["evaluate", "--model", str(out)]) == 0
    assert "test/ scored now for 2 run(s)" in capsys.readouterr().out
    rows = _rows(out)
    for row in rows:
        assert float(row["test_auc"]) == _metrics(out / "runs" / row["run"])["test"]["auc"]
    assert json.loads((out / "summary.json").read_text())[rows[0]["setting"]]["test"][
        "auc"]["n"] == 2
    assert "Not scored yet" not in (out / "summary.md").read_text()
    assert sweep.score_test(out)[0] == 0                  # once: nothing left to score


# -- comparing sweep folders -----------------------------------------------------------------
def test_compare_pairs_settings_by_seed(tmp_path, capsys):
    base = fake_sweep(tmp_path / "a", "full", {0: (0.90, 0.30), 1: (0.95, 0.20),
                                                2: (0.80, 0.40)})
    other = fake_sweep(tmp_path / "b", "full_bn", {0: (0.92, 0.25), 1: (0.96, 0.22),
                                                    2: (0.83, 0.35), 3: (0.99, 0.01)})
    failed = fake_sweep(tmp_path / "c", "full_gap", {0: (0.1, 3.0)}, status="failed")
    first, second = sweep_results.compare([base, other, failed])          # failed runs left out
    assert first["vs_first"] is None and second["seeds"] == [0, 1, 2, 3]
    assert first["metrics"]["auc"]["mean"] == pytest.approx(2.65 / 3)
    assert second["metrics"]["auc"]["n"] == 4
    diff = second["vs_first"]["auc"]           # seeds 0-2 only: +0.02, +0.01, +0.03
    assert diff["n"] == 3 and diff["mean"] == pytest.approx(0.02)
    half = 4.302653 * 0.01 / 3 ** 0.5          # t(0.975, 2) · sd / √n
    assert (diff["ci_low"], diff["ci_high"]) == pytest.approx((0.02 - half, 0.02 + half))
    assert second["vs_first"]["loss"]["mean"] == pytest.approx((-0.05 + 0.02 - 0.05) / 3)
    assert second["metrics"]["sensitivity"]["mean"] is None          # not in metrics.json
    # a seed counts only when both settings have a number for it
    paired = sweep_results._paired({0: 1.0, 1: 2.0, 2: None, 3: 4.0}, {0: 0.5, 1: None, 2: 1.0})
    assert paired == [0.5]

    assert main(["compare", str(base), str(other)]) == 0
    printed = capsys.readouterr().out
    assert "difference from full, paired by seed" in printed
    assert f"| full_bn | 3 | 0.020 ± 0.010 [{0.02 - half:.3f}, {0.02 + half:.3f}] |" in printed
    assert main(["compare", str(base), "--part", "test"]) == 0   # not scored: left out, said
    printed, said = capsys.readouterr()
    assert "| full | 0 | n/a |" in printed and "difference" not in printed
    assert "left out seed(s) 0, 1, 2" in said and "minicnn evaluate --model RUN" in said


def test_compare_makes_one_row_of_a_setting_split_over_folders(tmp_path):
    base = fake_sweep(tmp_path / "base", "full", {s: (0.90, 0.30) for s in range(5)})
    first = fake_sweep(tmp_path / "seeds012", "full_bn", {0: (0.91, 0.2), 1: (0.92, 0.2),
                                                           2: (0.93, 0.2)})
    later = fake_sweep(tmp_path / "seeds34", "full_bn", {3: (0.94, 0.2), 4: (0.95, 0.2)})
    reference, merged = sweep_results.compare([base, first, later])
    assert merged["seeds"] == [0, 1, 2, 3, 4] and merged["setting"] == "full_bn"
    assert merged["folder"] == f"{first}, {later}"
    assert merged["metrics"]["auc"]["mean"] == pytest.approx(0.93)
    assert merged["vs_first"]["auc"]["n"] == 5
    # the same seed in two folders (a rerun): a row per folder, each named by its folder
    rerun = fake_sweep(tmp_path / "rerun", "full_bn", {2: (0.50, 0.9)})
    rows = sweep_results.compare([base, first, later, rerun])[1:]
    assert [(r["setting"], r["seeds"]) for r in rows] == [
        (f"{first}: full_bn", [0, 1, 2]), (f"{later}: full_bn", [3, 4]),
        (f"{rerun}: full_bn", [2])]
