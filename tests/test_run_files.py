"""A run folder's files for programs (docs/run_folder.md): epochs counted from 1 alike in
history.csv, metrics.json and the console, older files still read, and metrics.json and
config.json valid against their documented JSON schemas."""
import contextlib
import io
import platform
import re
import shutil
import subprocess

import numpy as np
import pytest

import minicnn
from minicnn import callbacks, layers, pipeline, runs


def _fit(tmp_path, epochs=3):
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 6, 6, 1), dtype=np.float32), np.arange(8) % 2
    model = minicnn.Sequential([layers.Input((6, 6, 1)), layers.Flatten(),
                                layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        model.fit(x, y, batch_size=4, epochs=epochs, seed=0,
                  callbacks=[callbacks.CSVLogger(tmp_path / "history.csv")])
    return printed.getvalue()


def test_history_csv_and_the_console_count_epochs_alike(tmp_path):
    printed = _fit(tmp_path)
    console = [int(n) for n in re.findall(r"^Epoch (\d+)/3:", printed, re.M)]
    written = [row["epoch"] for row in runs.read_history(tmp_path / "history.csv")]
    assert console == written == [1, 2, 3]
    assert (tmp_path / "history.csv").read_text().splitlines()[1].startswith("1,")


def test_a_history_counted_from_zero_is_read_from_one(tmp_path):
    old = tmp_path / "history.csv"
    old.write_text("epoch,loss,accuracy\n0,0.7,0.5\n1,0.6,0.6\n")
    assert [(r["epoch"], r["loss"]) for r in runs.read_history(old)] == [(1, 0.7), (2, 0.6)]
    new = tmp_path / "new.csv"
    new.write_text("epoch,loss,accuracy\n1,0.7,0.5\n2,0.6,0.6\n")
    assert [r["epoch"] for r in runs.read_history(new)] == [1, 2]


def test_a_checkpoint_counted_from_zero_resumes_counting_from_one(tmp_path):
    logger = callbacks.CSVLogger(tmp_path / "history.csv")
    logger.on_train_begin()
    logger.set_state({"rows": [{"epoch": 0, "loss": 0.7}, {"epoch": 1, "loss": 0.6}]})
    logger.on_epoch_end(2, {"loss": 0.5})
    assert [r["epoch"] for r in runs.read_history(tmp_path / "history.csv")] == [1, 2, 3]
    assert [r["epoch"] for r in logger.get_state()["rows"]] == [1, 2, 3]


# -- provenance in config.json ------------------------------------------------------------------
def test_versions_name_every_library_a_run_depends_on():
    import matplotlib
    import PIL
    versions = pipeline._versions()
    assert versions["pillow"] == PIL.__version__
    assert versions["matplotlib"] == matplotlib.__version__
    assert versions["python"] == platform.python_version()
    assert pipeline._installed("no-such-distribution-here") is None


def test_machine_records_the_variables_that_change_a_run(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("MINICNN_TEST_VARIABLE", "yes")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("UNRELATED_MINICNN_", "no")
    machine = pipeline._machine()
    environment = machine["environment"]
    assert environment["OMP_NUM_THREADS"] == "3" and environment["OPENBLAS_NUM_THREADS"] == "1"
    assert environment["MINICNN_TEST_VARIABLE"] == "yes"
    assert "UNRELATED_MINICNN_" not in environment and "PATH" not in environment
    assert machine["platform"] == platform.platform()


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_source_names_the_commit_and_whether_the_checkout_was_changed(tmp_path, monkeypatch):
    checkout = tmp_path / "checkout"
    (checkout / "minicnn").mkdir(parents=True)
    (checkout / "minicnn" / "a.py").write_text("x = 1\n")
    _git(checkout, "init", "-q")
    _git(checkout, "add", ".")
    _git(checkout, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert pipeline._source(checkout / "minicnn") == {"git_commit": head, "git_dirty": False}
    (checkout / "untracked.txt").write_text("a run folder, say\n")
    assert pipeline._source(checkout / "minicnn")["git_dirty"] is False
    (checkout / "minicnn" / "a.py").write_text("x = 2\n")
    assert pipeline._source(checkout / "minicnn") == {"git_commit": head, "git_dirty": True}
    # inside another repository (a venv in a project), not a checkout, no git: None
    (checkout / "venv" / "site" / "minicnn").mkdir(parents=True)
    assert pipeline._source(checkout / "venv" / "site" / "minicnn") is None
    (tmp_path / "installed" / "minicnn").mkdir(parents=True)
    assert pipeline._source(tmp_path / "installed" / "minicnn") is None
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert pipeline._source(checkout / "minicnn") is None
