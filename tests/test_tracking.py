"""`minicnn train --mlflow URI` logs the finished run to MLflow, read back here from a local
file store: the settings, history.csv's rows per epoch, metrics.json's figures, the files."""
import contextlib
import io
import json
import sys

import pytest

from minicnn import runs
from minicnn.cli import main

from folders import make_chest_xray


def test_without_mlflow_the_flag_fails_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)          # as if not installed
    argv = ["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"),
            "--mlflow"]
    assert main(argv) == 2
    assert "pip install 'minicnn-xray[mlflow]'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_uri_mlflow_refuses_fails_before_training(tmp_path, capsys):
    pytest.importorskip("mlflow")
    argv = ["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"),
            "--mlflow", "nosuch://x"]
    assert main(argv) == 2
    assert "minicnn train: error: --mlflow nosuch://x: " in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_run_logged_to_a_local_file_store(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))
    data, out, store = make_chest_xray(tmp_path / "chest_xray"), tmp_path / "run", tmp_path / "ml"
    argv = ["train", "--data", str(data), "--image-size", "40", "--epochs", "2",
            "--batch-size", "8", "--out", str(out), "--mlflow", f"file:{store}"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(argv) == 0
    assert f"(file:{store})" in printed.getvalue()

    client = MlflowClient(tracking_uri=f"file:{store}")
    (logged,) = client.search_runs([client.get_experiment_by_name("minicnn").experiment_id])
    config = runs.read_config(out)
    metrics = json.loads((out / "metrics.json").read_text())
    history = runs.read_history(out / "history.csv")
    assert logged.info.run_name == out.name and logged.info.status == "FINISHED"
    assert logged.data.params == {k: str(v) for k, v in config["settings"].items()}
    val_loss = client.get_metric_history(logged.info.run_id, "val_loss")
    assert [(m.step, m.value) for m in sorted(val_loss, key=lambda m: m.step)] == [
        (row["epoch"], row["val_loss"]) for row in history]
    assert logged.data.metrics["test_auc"] == metrics["test"]["auc"]
    assert logged.data.metrics["validation_accuracy_at_0.5"] == \
        metrics["validation"]["at_0.5"]["accuracy"]
    assert logged.data.metrics["threshold"] == metrics["threshold"]
    assert logged.data.tags["minicnn.status"] == "done"
    files = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"config.json", "metrics.json", "history.csv", "model.npz"} <= files
