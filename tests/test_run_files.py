"""A run folder's files for programs (docs/run_folder.md): epochs counted from 1 alike in
history.csv, metrics.json and the console, older files still read, and metrics.json and
config.json valid against their documented JSON schemas."""
import contextlib
import importlib.resources
import io
import json
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import numpy as np
import pytest

import minicnn
from minicnn import callbacks, layers, pipeline, runs
from minicnn.cli import main

from folders import make_chest_xray


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


# -- the JSON schemas ---------------------------------------------------------------------------
SCHEMAS = importlib.resources.files("minicnn") / "schemas"


def _validator(name):
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def run_folders(tmp_path_factory):
    """Real run folders of `minicnn train` on a tiny synthetic data set: the honest
    protocol, the honest protocol without scoring test/, and the thesis protocol."""
    root = tmp_path_factory.mktemp("schema")
    data = make_chest_xray(root / "chest_xray")
    extra = {"honest": [], "validation-only": ["--validation-only"],
             "thesis": ["--protocol", "thesis"]}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINICNN_CACHE", str(root / "cache"))
        mp.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))
        for name, flags in extra.items():
            argv = ["train", "--data", str(data), "--image-size", "40", "--epochs", "2",
                    "--batch-size", "8", "--out", str(root / name), *flags]
            with contextlib.redirect_stdout(io.StringIO()):
                assert main(argv) == 0, argv
    return {name: root / name for name in extra}


@pytest.mark.parametrize("name", ["honest", "validation-only", "thesis"])
def test_run_folders_match_the_documented_schemas(run_folders, name):
    run_dir = run_folders[name]
    metrics, config = (json.loads((run_dir / f).read_text()) for f in ("metrics.json",
                                                                       "config.json"))
    _validator("metrics").validate(metrics)
    _validator("config").validate(config)
    assert (metrics["test"] is None) == (name == "validation-only")
    history = runs.read_history(run_dir / "history.csv")
    assert metrics["kept_epoch"] in [row["epoch"] for row in history]
    assert {"pillow", "matplotlib"} <= set(config["versions"])
    assert config["machine"]["environment"]["OMP_NUM_THREADS"] == os.environ.get(
        "OMP_NUM_THREADS", "2")
    assert "source" in config


def test_the_schemas_refuse_what_they_rule_out(run_folders):
    metrics = json.loads((run_folders["honest"] / "metrics.json").read_text())
    config = json.loads((run_folders["honest"] / "config.json").read_text())
    broken = [("metrics", {**metrics, "kept_epoch": 0}),          # an epoch counted from 0
              ("metrics", {**metrics, "threshold": 1.5}),
              ("metrics", {k: v for k, v in metrics.items() if k != "validation"}),
              ("metrics", {**metrics, "test": {**metrics["test"], "auc_ci": [0.5]}}),
              ("config", {**config, "status": "finished"}),
              ("config", {**config, "source": {"git_commit": "HEAD", "git_dirty": False}}),
              ("config", {**config, "machine": {**config["machine"],
                                                "environment": {"PATH": "/bin"}}})]
    for name, document in broken:
        assert not _validator(name).is_valid(document), (name, document)


def test_docs_describe_the_schemas():
    text = (Path(__file__).resolve().parents[1] / "docs" / "run_folder.md").read_text()
    for name in ("metrics", "config"):
        schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
        assert f"minicnn/schemas/{name}.schema.json" in text
        for key in schema["required"]:
            assert f"`{key}`" in text, (name, key)


def test_the_report_shows_the_provenance(run_folders):
    from minicnn import report
    config = json.loads((run_folders["honest"] / "config.json").read_text())
    config["source"] = {"git_commit": "a" * 40, "git_dirty": True}
    html = report._versions_section(config)
    for value in ("OMP_NUM_THREADS", config["versions"]["pillow"], "git commit", "a" * 40,
                  "git dirty", config["machine"]["platform"]):
        assert value in html, value
    assert "{" not in html                      # no dict printed whole
