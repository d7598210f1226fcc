"""``minicnn sweep``: the same training over several seeds and settings, on Dask.

Every (setting, seed) pair is one task that writes one run folder, exactly as
``minicnn train`` does, into ``DIR/runs/<setting>-seed<k>/``. Tasks run on a
``distributed.LocalCluster`` of this machine, or on an existing cluster (``--scheduler``).
A task whose worker dies is run again and resumes from its run's checkpoint; running the same
command again skips the finished runs and resumes the others. At the end the sweep folder
gets its results (:mod:`minicnn.sweep_results`: sweep.csv, summary.json, summary.md,
sweep.png).

Dask is imported only when a sweep runs on a cluster: ``import minicnn`` never imports it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json
import os
import re
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from . import pipeline, runs, runtime
from .report import write_report
from .scoring import evaluate_run
from .settings import Settings, settings_for
from .data import find_data_dir
from .io import atomic_write
from .sweep_results import SWEEP, collect, write_results
from .validation import RunFolderError, SettingError

__all__ = ["plan", "run_sweep", "score_test", "KILL_ONCE"]

#: Test-only: the path of a flag file; the first task to create it kills its own worker
#: process (SIGKILL) once its run has saved a checkpoint after epoch 1.
KILL_ONCE = "MINICNN_SWEEP_KILL_ONCE"


# -- the grid (parsed by minicnn.settings.parse_sets, with the sweepable keys) -------------
def _slug_value(value):
    if isinstance(value, tuple):
        value = value[0]
    text = str(value).lower() if value is not None else "none"
    return re.sub(r"[^a-z0-9.]+", "-", text)


def setting_name(preset, values):
    """A setting's folder-name part: ``quick`` or ``quick_augment-true_image_size-64``."""
    return "_".join([preset] + [f"{key}-{_slug_value(v)}" for key, v in values.items()])


@dataclass(frozen=True)
class Task:
    """One run of the sweep: its setting's name and values, seed, folder and settings."""

    setting: str
    values: dict
    seed: int
    run_dir: str
    settings: Settings


def plan(preset, grid, seeds, out, data=None, score_test=True):
    """Every (setting, seed) task of the Cartesian product of ``grid``'s values, each
    checked (SettingError naming the bad value) before anything runs; ``score_test=False``
    leaves test/ unscored in every run (``--validation-only``)."""
    keys = list(grid)
    tasks = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        values = dict(zip(keys, combo))
        name = setting_name(preset, values)
        for seed in seeds:
            run_dir = str((Path(out) / "runs" / f"{name}-seed{seed}").absolute())
            try:
                settings = dataclasses.replace(settings_for(preset), **values,
                                               seed=seed, data=data, out=run_dir,
                                               score_test=score_test)
            except (TypeError, ValueError) as exc:
                raise SettingError(f"--set {', '.join(f'{k}={v}' for k, v in values.items())}"
                                   f": {exc}") from None
            tasks.append(Task(name, values, seed, run_dir, settings))
    return tasks


# -- one task, in a worker process ----------------------------------------------------------
def _same_settings(config, settings):
    """Whether a run folder's settings are the task's (where the data and run folders are,
    and whether test/ is scored yet, do not count)."""
    mine = {k: v for k, v in settings.to_dict().items()
            if k not in ("data", "out", "score_test")}
    theirs = Settings.from_dict(config.get("settings")).to_dict()
    return all(theirs[k] == v for k, v in mine.items())


def _state(run_dir, settings):
    """What a run folder needs: "new", "done", "running" (a live process trains it),
    "resume", or "restart" (it died before its first checkpoint). RunFolderError when it
    holds a run with other settings."""
    path = Path(run_dir)
    if not (path / runs.CONFIG).is_file():
        return "restart" if path.exists() else "new"
    config = runs.read_config(path)
    if not _same_settings(config, settings):
        raise RunFolderError(f"{path} holds a run with other settings; use another --out")
    status, _ = runs.run_status(path, config)
    if status in runs.FINISHED:
        return "done"
    if status == "running":
        return "running"
    return "resume" if (path / runs.CHECKPOINT / "state.json").is_file() else "restart"


def _threads(n):
    """At most ``n`` compute threads for this process's Numba loops."""
    import numba
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


def _kill_once_after_epoch_1(run_dir, flag):
    """Test-only: a thread that SIGKILLs this process once the run's epoch-1 checkpoint is
    saved, if it is the first to create ``flag`` (so one worker dies, once, per sweep)."""
    def watch():
        state, end = Path(run_dir) / runs.CHECKPOINT / "state.json", time.monotonic() + 300
        while True:
            try:
                if json.loads(state.read_text())["epoch"] >= 1:
                    break
            except (OSError, ValueError, KeyError):
                if (Path(run_dir) / runs.MODEL).exists() or time.monotonic() > end:
                    return                     # finished (or stuck) without a checkpoint
            time.sleep(0.01)
        try:
            os.close(os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        Path(flag).write_text(str(run_dir))
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=watch, daemon=True).start()


def run_task(task, threads=1, command=None):
    """Train, resume or skip one task's run in this process; returns ``(run folder name,
    what was done)``: "trained", "resumed" or "skipped". What the training prints goes to
    ``DIR/logs/<run>.log``."""
    runtime.configure()                 # once per process; later calls do nothing
    _threads(threads)
    log = Path(task.run_dir).parent.parent / "logs" / f"{Path(task.run_dir).name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f, contextlib.redirect_stdout(f), \
            contextlib.redirect_stderr(f):
        return _run_task(task, command)


def _run_task(task, command):
    state = _state(task.run_dir, task.settings)
    if state == "done":
        return Path(task.run_dir).name, "skipped"
    if state == "running":
        raise RunFolderError(f"{task.run_dir} is being trained by a live process")
    if os.environ.get(KILL_ONCE):
        _kill_once_after_epoch_1(task.run_dir, os.environ[KILL_ONCE])
    if state == "resume":
        pipeline.resume_run(task.run_dir, data=task.settings.data, command=command,
                            report=write_report)
        return Path(task.run_dir).name, "resumed"
    if state == "restart":
        shutil.rmtree(task.run_dir)
    pipeline.train_run(task.settings, command=command, report=write_report)
    return Path(task.run_dir).name, "trained"


# -- the cluster --------------------------------------------------------------------------
def _client(scheduler, workers, threads):
    """A distributed Client: to ``scheduler``, or to a new LocalCluster of ``workers``
    single-task worker processes, each computing with ``threads`` threads."""
    from distributed import Client, LocalCluster     # lazy: see the module's docstring
    if scheduler:
        return Client(scheduler)
    limit = str(threads)
    env = {name: limit for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                    "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, env=env)
    return Client(cluster)


def _submit_all(client, todo, threads, command):
    """Run the tasks; returns {run folder name: what was done or the error}."""
    from distributed import as_completed              # lazy: see the module's docstring
    futures = {client.submit(run_task, task, threads, command, retries=2, pure=False,
                             key=f"minicnn-{Path(task.run_dir).name}"): task for task in todo}
    done = {}
    for future in tqdm(as_completed(futures), total=len(futures), unit="run", desc="sweep"):
        name = Path(futures[future].run_dir).name
        try:
            done[name] = future.result()[1]
        except Exception as exc:  # one failed run must not lose the others
            done[name] = f"error: {type(exc).__name__}: {exc}"
            print(f"minicnn sweep: {name}: {done[name]}", flush=True)
    return done


def run_sweep(preset, grid, seeds, out, data=None, scheduler=None, workers=1, threads=1,
              command=None, validation_only=False):
    """Plan, run the unfinished tasks on Dask, and write the results; returns
    ``{"tasks": n, "done": {run: "trained"/"resumed"/"skipped"/"error: ..."}, "results":
    the files written}``. Every setting is checked, and the data folder found, before any
    cluster starts. ``validation_only``: no run scores test/ (:func:`score_test` does it
    later, once, for the setting chosen on validation)."""
    root = find_data_dir(data).resolve()
    tasks = plan(preset, grid, seeds, out, str(root), score_test=not validation_only)
    done = {Path(t.run_dir).name: "skipped" for t in tasks
            if _state(t.run_dir, t.settings) == "done"}
    todo = [t for t in tasks if Path(t.run_dir).name not in done]
    _write_plan(out, preset, grid, seeds, tasks, command)
    if todo:
        client = _client(scheduler, workers, threads)
        try:
            done.update(_submit_all(client, todo, threads, command))
        finally:
            _close(client, scheduler)
    return {"tasks": len(tasks), "done": done, "results": write_results(out)}


def score_test(out, data=None):
    """Score test/ once for every finished run of a sweep folder whose test is not scored
    yet (:func:`minicnn.scoring.evaluate_run`), then rewrite the results; returns
    ``(number of runs scored now, the files written)``."""
    rows = collect(out)
    scored = 0
    for row in tqdm(rows, unit="run", desc="test"):
        run_dir = Path(out) / "runs" / row["run"]
        if row["status"] in runs.FINISHED and row.get("test_auc") is None:
            with contextlib.redirect_stdout(io.StringIO()):
                evaluate_run(run_dir, data=data, report=write_report)
            scored += 1
    return scored, write_results(out)


def _close(client, scheduler):
    cluster = None if scheduler else client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def _write_plan(out, preset, grid, seeds, tasks, command):
    Path(out).mkdir(parents=True, exist_ok=True)
    plan_json = {"preset": preset, "grid": {k: [list(v) if isinstance(v, tuple) else v
                                                for v in values] for k, values in grid.items()},
                 "seeds": list(seeds), "command": command,
                 "runs": [{"run": Path(t.run_dir).name, "setting": t.setting, "seed": t.seed,
                           "values": {k: list(v) if isinstance(v, tuple) else v
                                      for k, v in t.values.items()}} for t in tasks]}
    atomic_write(Path(out) / SWEEP, (json.dumps(plan_json, indent=2) + "\n").encode("utf-8"))
