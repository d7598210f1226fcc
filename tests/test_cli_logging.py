"""--quiet and --verbose on every command, what goes to stdout (results) and to stderr
(progress and diagnostics, through logging), and the old spellings of renamed arguments."""
import argparse
import io
import logging
import subprocess
import sys

import pytest

from minicnn import cli, logs

SIZE = 40          # the thesis CNN's smallest input is 38 px


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _parsers(parser, path="minicnn"):
    """(command path, parser) for ``parser`` and every command under it, nested ones too."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_command_takes_quiet_and_verbose():
    found = dict(_parsers(cli.build_parser()))
    assert {"minicnn train", "minicnn report", "minicnn exercises start",
            "minicnn exercises check", "minicnn notebooks"} <= set(found), sorted(found)
    for path, parser in found.items():
        for flag, level in (("--quiet", logs.QUIET), ("-q", logs.QUIET),
                            ("--verbose", logs.VERBOSE), ("-v", logs.VERBOSE)):
            action = parser._option_string_actions.get(flag)
            assert action is not None and action.const == level, (path, flag)
            assert action.dest == "log_level", (path, flag)


def test_quiet_given_before_the_command_name_is_kept():
    parser = cli.build_parser("exercises")
    assert parser.parse_args(["--quiet", "exercises", "list"]).log_level == logs.QUIET
    assert parser.parse_args(["exercises", "list", "-v"]).log_level == logs.VERBOSE
    assert not hasattr(parser.parse_args(["exercises", "list"]), "log_level")


def _main(argv, monkeypatch):
    """(exit code, stdout, stderr) of ``minicnn argv`` with stderr a terminal (so progress
    bars would be drawn)."""
    out, err = io.StringIO(), _Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    code = cli.main(argv)
    monkeypatch.undo()
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    """A one-epoch run folder, trained by ``minicnn train --quiet``: (folder, out, err)."""
    run_dir = tmp_path_factory.mktemp("runs") / "run"
    with pytest.MonkeyPatch.context() as mp:
        code, out, err = _main(["train", "--quiet", "--data", str(data_dir), "--image-size",
                                str(SIZE), "--epochs", "1", "--out", str(run_dir)], mp)
    assert code == 0
    return run_dir, out, err


def test_quiet_train_shows_nothing_on_stderr_and_the_results_on_stdout(trained):
    run_dir, out, err = trained
    assert err == ""
    assert f"run folder {run_dir}" in out and "test @ threshold" in out, out
    assert "Epoch" not in out and "protocol:" not in out, out


@pytest.mark.parametrize("flag", [None, "--verbose"])
def test_progress_and_diagnostics_go_to_stderr(flag, data_dir, tmp_path, monkeypatch):
    argv = ["train", "--data", str(data_dir), "--image-size", str(SIZE), "--epochs", "1",
            "--out", str(tmp_path / "run"), *filter(None, [flag])]
    code, out, err = _main(argv, monkeypatch)
    assert code == 0
    assert "protocol: " in err and "Epoch 1/1: loss " in err and "batch/s" in err, err
    assert "Epoch" not in out and "protocol:" not in out and "test @ threshold" in out, out
    assert ("settings: {" in err) == (flag == "--verbose"), err


def test_quiet_evaluate_shows_nothing_on_stderr(trained, data_dir, monkeypatch):
    code, out, err = _main(["evaluate", "-q", "--model", str(trained[0])], monkeypatch)
    assert code == 0 and err == "" and "test @ threshold" in out


def test_the_command_leaves_logging_as_it_found_it(monkeypatch):
    logger = logging.getLogger("minicnn")
    before = logger.handlers[:], logger.level, logger.propagate
    _main(["exercises", "-v", "list"], monkeypatch)
    assert (logger.handlers, logger.level, logger.propagate) == before


def test_warnings_show_with_quiet_as_one_line(monkeypatch):
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with logs.to_stderr(logs.QUIET):
        logging.getLogger("minicnn.pipeline").info("progress")
        logging.getLogger("minicnn.pipeline").warning("look out")
    assert err.getvalue() == "minicnn: warning: look out\n" and out.getvalue() == ""


def test_import_minicnn_configures_no_logging():
    code = ("import logging, minicnn, minicnn.cli, minicnn.pipeline, minicnn.sweep\n"
            "print(len(logging.root.handlers), len(logging.getLogger('minicnn').handlers))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.split() == ["0", "0"], proc.stdout


# -- old spellings: they work for one release, with a warning naming the new one ----------
def test_report_positional_run_folder_is_the_old_spelling_of_model(trained, monkeypatch):
    run_dir = trained[0]
    (run_dir / "report.html").unlink()
    code, out, err = _main(["report", str(run_dir), "--images", "0"], monkeypatch)
    assert code == 0 and (run_dir / "report.html").is_file()
    assert "RUN_DIR as a positional argument is deprecated; use --model RUN_DIR" in err, err


def test_notebooks_positional_folder_is_the_old_spelling_of_out(tmp_path, monkeypatch):
    pytest.importorskip("jupytext")
    code, out, err = _main(["notebooks", str(tmp_path / "nb")], monkeypatch)
    assert code == 0 and any((tmp_path / "nb").glob("*.ipynb"))
    assert "DIR as a positional argument is deprecated; use --out DIR" in err, err


def test_exercises_start_positional_folder_is_the_old_spelling_of_out(tmp_path, monkeypatch):
    code, out, err = _main(["exercises", "start", str(tmp_path / "ex")], monkeypatch)
    assert code == 0 and (tmp_path / "ex" / "conv.py").is_file()
    assert ("minicnn exercises start: warning: DIR as a positional argument is deprecated; "
            "use --out DIR") in err, err


def test_demo_per_class_is_the_old_spelling_of_train_per_class(data_dir, monkeypatch):
    code, out, err = _main(["demo", "--data", str(data_dir), "--image-size", str(SIZE),
                            "--per-class", "3", "--steps", "0"], monkeypatch)
    assert code == 0 and "6 X-rays from" in out, out
    assert "--per-class is deprecated; use --train-per-class N" in err, err


@pytest.mark.parametrize("argv", [["exercises", "start", "--out", "a", "b"],
                                  ["demo", "--train-per-class", "2", "--per-class", "3"]])
def test_both_spellings_at_once_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    assert "is the old spelling of" in capsys.readouterr().err


@pytest.mark.parametrize("argv, new", [(["notebooks"], "--out"),
                                       (["exercises", "start"], "--out"),
                                       (["report"], "--model")])
def test_a_renamed_required_argument_is_still_required(argv, new, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    assert f"error: the following arguments are required: {new}" in capsys.readouterr().err
