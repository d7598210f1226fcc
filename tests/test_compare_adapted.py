"""``minicnn compare --part test --adapt``: each adaptation's test scores come from its own
RUN/metrics-adapt-NAME.json, paired by seed with the first row; a run not scored that way is
left out and named, never counted as a seed with missing numbers."""
import json

import pytest

from minicnn import cli, sweep_results
from minicnn.validation import SettingError

from folders import fake_sweep

SEEDS = {0: (0.99, 0.10), 1: (0.98, 0.12), 2: (0.97, 0.14)}
TEST = {0: 0.60, 1: 0.70, 2: 0.50}                     # unadapted test specificity per seed
BN_PRIOR = {0: 0.85, 2: 0.80}                          # seed 1 not scored with bn,prior


def _scores(specificity):
    return {"auc": 0.95, "specificity": specificity, "sensitivity": 0.9, "accuracy": 0.8,
            "loss": 0.5}


@pytest.fixture
def sweep(tmp_path):
    out = fake_sweep(tmp_path / "s", "improved", SEEDS)
    for seed, spec in TEST.items():
        run = out / "runs" / f"improved-seed{seed}"
        metrics = json.loads((run / "metrics.json").read_text())
        (run / "metrics.json").write_text(json.dumps({**metrics, "test": _scores(spec)}))
        if seed in BN_PRIOR:
            (run / "metrics-adapt-bn-prior-tta8.json").write_text(json.dumps(
                {**metrics, "test": _scores(BN_PRIOR[seed])}))
    return out


def test_adapted_rows_read_their_own_files_and_pair_by_seed(sweep):
    plain, adapted = sweep_results.compare([sweep], "test", ["none", "bn,prior-tta8"])
    assert plain["seeds"] == [0, 1, 2] and plain["missing"] == []
    assert plain["metrics"]["specificity"]["mean"] == pytest.approx(0.6)
    assert adapted["adaptation"] == "bn-prior-tta8" and adapted["seeds"] == [0, 2]
    assert adapted["missing"] == [1]
    assert adapted["metrics"]["specificity"]["mean"] == pytest.approx(0.825)
    d = adapted["vs_first"]["specificity"]               # (0.85 - 0.60, 0.80 - 0.50)
    assert d["n"] == 2 and d["mean"] == pytest.approx(0.275)
    assert adapted["setting"] == "improved, adapt bn-prior-tta8"


def test_an_unscored_run_is_left_out_not_counted(sweep):
    (sweep / "runs" / "improved-seed2" / "metrics.json").write_text(
        json.dumps({"validation": {"auc": 0.9, "loss": 0.2}, "test": None}))
    (row,) = sweep_results.compare([sweep], "test")
    assert row["seeds"] == [0, 1] and row["missing"] == [2]
    assert row["metrics"]["specificity"]["n"] == 2


def test_the_command_names_what_to_run_for_the_missing_seeds(sweep, capsys):
    assert cli.main(["compare", str(sweep), "--part", "test", "--adapt", "none",
                     "bn-prior-tta8"]) == 0
    out, err = capsys.readouterr()
    assert "| improved, adapt bn-prior-tta8 | 2 |" in out
    assert ("left out seed(s) 1" in err
            and "minicnn evaluate --model RUN --adapt bn,prior --tta 8" in err)


@pytest.mark.parametrize("names,part", [(["bn"], "validation"), (["bn-tta0"], "test"),
                                        (["prior,prior"], "test"), (["tta8"], "test")])
def test_refused(sweep, names, part):
    with pytest.raises(SettingError):
        sweep_results.compare([sweep], part, names)


def test_scoring_command():
    assert sweep_results.scoring_command("none") == "minicnn evaluate --model RUN"
    assert sweep_results.scoring_command("prior-tta4") == (
        "minicnn evaluate --model RUN --adapt prior --tta 4")
