"""How a run ends and how it is used later: its report is written before config.json says
"done" (so a kill never leaves a done run without report.html) and shows the status about to
be recorded; a run stopped there resumes, leaving no half-written file behind; evaluate never
falls back to other images when the run's data folder is gone."""
import json

import pytest

from minicnn import pipeline, report
from minicnn.settings import settings_for

TINY = {"image_size": 40, "epochs": 2, "batch_size": 8}


def _status(run_dir):
    return json.loads((run_dir / "config.json").read_text())["status"]


@pytest.mark.slow
def test_the_report_comes_before_done_and_a_run_stopped_there_resumes(data_dir, tmp_path):
    seen = []

    def stop_in_the_report(run_dir, data_dir=None, config=None):
        seen.append((_status(run_dir), config["status"]))
        raise KeyboardInterrupt                  # as if Ctrl-C (or a kill) came here

    settings = settings_for("quick", **TINY, data=str(data_dir), out=str(tmp_path / "run"))
    with pytest.raises(KeyboardInterrupt):
        pipeline.train_run(settings, report=stop_in_the_report)
    run_dir = tmp_path / "run"
    assert seen == [("running", "done")]         # on disk still running; the page says done
    assert _status(run_dir) == "interrupted" and not (run_dir / "report.html").exists()

    (run_dir / ".tmp-config.json.part").write_text("{")       # a kill mid-write leaves these
    (run_dir / "checkpoint" / ".tmp-state.json.part").write_text("{")
    pipeline.resume_run(run_dir, report=report.write_report)
    assert _status(run_dir) == "done"
    page = (run_dir / "report.html").read_text()
    assert "did not finish" not in page and "test at the threshold" in page
    assert not list(run_dir.rglob(".tmp-*.part"))


@pytest.mark.slow
def test_evaluate_refuses_when_the_runs_data_folder_is_gone(data_dir, tmp_path, capsys):
    import shutil

    from minicnn.cli import main
    moved = tmp_path / "chest_xray"
    shutil.copytree(data_dir, moved)
    settings = settings_for("quick", **TINY, data=str(moved), out=str(tmp_path / "run"))
    run_dir = pipeline.train_run(settings)
    shutil.move(moved, tmp_path / "elsewhere")
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(moved) in err[0] and "--data" in err[0], err
    assert main(["evaluate", "--model", str(run_dir), "--data",
                 str(tmp_path / "elsewhere")]) == 0
