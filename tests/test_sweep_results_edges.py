"""A sweep folder's rows, statistics and tables at their edges (found by mutation testing):
runs not started, wall times, an empty description, the tables' numbers and notes."""
import json

import pytest

from minicnn import sweep_results

from folders import fake_sweep


def _sweep(tmp_path):
    out = fake_sweep(tmp_path / "s", "full", {0: (0.9, 0.3), 1: (0.8, 0.5), 2: (0.7, 0.6)})
    config = out / "runs" / "full-seed0" / "config.json"
    config.write_text(json.dumps({"status": "done", "settings": {},
                                  "wall_seconds": {"total": 12.5}}))
    (out / "runs" / "full-seed2" / "config.json").unlink()          # never started
    return out


def test_rows_say_not_started_and_carry_the_wall_time(tmp_path):
    rows = {row["seed"]: row for row in sweep_results.collect(_sweep(tmp_path))}
    assert rows[2]["status"] == "not started"
    assert rows[0]["wall_seconds"] == 12.5 and rows[1]["wall_seconds"] is None


def test_an_empty_description_has_every_key():
    assert set(sweep_results.describe([])) == set(sweep_results.describe([0.1, 0.2]))
    assert sweep_results.describe([None])["sd"] is None


def test_the_summary_table_prints_the_numbers_and_its_notes(tmp_path):
    summary = sweep_results.summarize(sweep_results.collect(_sweep(tmp_path)))
    text = sweep_results.summary_markdown(summary)
    assert text.splitlines()[2] == (
        "Across seeds, per setting: mean, standard deviation (n - 1), min, max and the 95% "
        "t-interval for the mean (mean ± t(0.975, n-1)·sd/√n; n/a with one seed). Finished "
        "runs only.")
    auc = summary["full"]["validation"]["auc"]
    assert auc["n"] == 2 and auc["mean"] == pytest.approx(0.85)
    assert (f"| full | auc | 2 | 0.850 | {auc['sd']:.3f} | 0.800 | 0.900 | "
            f"[{auc['ci_low']:.3f}, {auc['ci_high']:.3f}] |") in text
    assert ("## Test\n\nNot scored yet (a `--validation-only` sweep): choose on validation, "
            "then score test/ once with `minicnn evaluate --model DIR`.") in text


def test_compare_markdown_is_about_validation_by_default(tmp_path):
    table = sweep_results.compare([_sweep(tmp_path)])
    assert sweep_results.compare_markdown(table).startswith("### Validation: mean ± sd")
