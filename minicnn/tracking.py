"""A finished run folder logged to MLflow (``minicnn train --mlflow [URI]``; the ``mlflow``
extra: ``pip install 'minicnn-xray[mlflow]'``). docs/tracking.md shows it.

What is logged: the run's settings as parameters, each row of history.csv as metrics at step
= epoch (counted from 1, as history.csv), metrics.json's validation and test figures as final
metrics (``validation_auc``, ``test_sensitivity``, ...; ``test_*_at_0.5`` at 0.5), the
status and the git commit as tags, and every file of the run folder as artifacts. The run
folder stays the record; MLflow gets a copy to compare runs in its interface.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from . import runs

#: Where runs go without a URI: a file store in ./mlruns (MLflow's own default folder).
DEFAULT_URI = "file:./mlruns"
EXPERIMENT = "minicnn"
FIGURES = ("auc", "accuracy", "sensitivity", "specificity", "precision", "f1", "loss")


def require_mlflow():
    """MLflow's module; ValueError saying how to install it when it is missing."""
    try:
        import mlflow
    except ImportError:
        raise ValueError("--mlflow needs MLflow: pip install 'minicnn-xray[mlflow]' (from a "
                         "checkout: pip install -e '.[mlflow]')") from None
    return mlflow


def connect(uri=None):
    """An MLflow client for the tracking server or store at ``uri`` (default
    :data:`DEFAULT_URI`); ValueError when MLflow is missing or refuses the URI."""
    mlflow = require_mlflow()
    from mlflow.tracking import MlflowClient
    uri = uri or DEFAULT_URI
    if uri.startswith("file:"):     # MLflow 3 asks for this to keep its file store in use
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        return MlflowClient(tracking_uri=uri)
    except mlflow.exceptions.MlflowException as exc:
        raise ValueError(f"--mlflow {uri}: {exc}") from None


def log_run(run_dir, client, experiment=EXPERIMENT):
    """Log the run folder ``run_dir`` through ``client`` (:func:`connect`) under
    ``experiment``; returns the MLflow run's id. ValueError when MLflow refuses it."""
    from mlflow.exceptions import MlflowException
    try:
        return _log(Path(run_dir), client, experiment)
    except MlflowException as exc:
        raise ValueError(f"the run folder {run_dir} is complete, but MLflow at "
                         f"{client.tracking_uri} did not take it: {exc}") from None


def _log(run_dir, client, experiment):
    from mlflow.entities import Metric, Param, RunTag
    config = runs.read_config(run_dir)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    source = config.get("source") or {}
    tags = {"minicnn.status": config.get("status"), "minicnn.run_dir": str(run_dir.resolve()),
            "mlflow.source.git.commit": source.get("git_commit")}
    run = client.create_run(experiment_id, run_name=run_dir.name, tags={
        k: str(v) for k, v in tags.items() if v is not None})
    run_id, now = run.info.run_id, int(time.time() * 1000)
    params = [Param(k, str(v)) for k, v in sorted(config.get("settings", {}).items())]
    metrics = [Metric(k, v, now, step) for k, v, step in _metrics(run_dir)]
    for start in range(0, max(len(metrics), len(params)), 100):
        client.log_batch(run_id, metrics=metrics[start:start + 100],
                         params=params[start:start + 100], tags=[RunTag("minicnn", "run")])
    client.log_artifacts(run_id, str(run_dir))
    client.set_terminated(run_id, "FINISHED" if config.get("status") in runs.FINISHED
                          else "FAILED")
    return run_id


def _metrics(run_dir):
    """(name, value, step) for each number worth plotting: per epoch from history.csv, then
    the final validation and test figures at step 0."""
    for row in runs.read_history(run_dir / runs.HISTORY) or []:
        for key, value in row.items():
            if key != "epoch" and value is not None:
                yield key, value, row["epoch"]
    metrics = runs.read_json(run_dir / runs.METRICS, required=False) or {}
    for part in ("validation", "test"):
        reports = metrics.get(part) or {}
        for suffix, report in (("", reports), ("_at_0.5", reports.get("at_0.5") or {})):
            for figure in FIGURES:
                if isinstance(report.get(figure), (int, float)):
                    yield f"{part}_{figure}{suffix}", float(report[figure]), 0
    if isinstance(metrics.get("threshold"), (int, float)):
        yield "threshold", float(metrics["threshold"]), 0
