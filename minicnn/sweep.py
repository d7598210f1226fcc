"""``minicnn sweep``: the same training over several seeds and settings, on Dask.

Every (setting, seed) pair is one task that writes one run folder, exactly as
``minicnn train`` does, into ``DIR/runs/<setting>-seed<k>/``. Tasks run on a
``distributed.LocalCluster`` of this machine, or on an existing cluster (a Client, a Cluster
object, ``--scheduler``, ``--scheduler-file`` or DASK_SCHEDULER_ADDRESS). A task's key holds
a token of its run folder and settings, and its result is checked against that folder, so no
run is lost or counted twice between sweeps; a task is handed to Dask only when a worker
thread is free, so no run waits on a busy worker while another idles. A task whose worker
dies is run again and resumes from its run's checkpoint; running the same command again
skips the finished runs and resumes the others. The runs' epochs reach the sweep command as
Dask events. At the end the sweep folder gets its results (:mod:`minicnn.sweep_results`:
sweep.csv, summary.json, summary.md, sweep.png).

Dask is imported only when a sweep runs on a cluster: ``import minicnn`` never imports it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import itertools
import json
import logging
import os
import re
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from . import logs, pipeline, runs
from .report import write_report
from .scoring import evaluate_run
from .settings import Settings, settings_for
from .data import find_data_dir
from .io import atomic_write
from .sweep_results import SWEEP, collect, write_results
from .validation import RunFolderError, SettingError

__all__ = ["plan", "run_sweep", "run_task", "task_key", "score_test", "default_workers",
           "slurm_cluster", "SchedulerError", "KILL_ONCE", "EVENTS"]

#: Test-only: the path of a flag file; the first task to create it kills its own worker
#: process (SIGKILL) once its run has saved a checkpoint after epoch 1.
KILL_ONCE = "MINICNN_SWEEP_KILL_ONCE"
#: The Dask event topic of the runs' progress lines, and the lines sent there.
EVENTS = "minicnn-sweep"
PROGRESS = re.compile(r"(Epoch \d+/\d+: |resuming |done in )")
#: Seconds between two looks for a free worker thread while runs wait to be handed to Dask.
FREE_THREAD_POLL_S = 1.0
log = logging.getLogger(__name__)


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
    repeated = sorted({seed for seed in seeds if list(seeds).count(seed) > 1})
    if repeated:
        raise SettingError(f"--seeds: {', '.join(map(str, repeated))} given more than once; "
                           "each seed is one run, give each once")
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
    _one_task_per_folder(tasks)
    return tasks


def _one_task_per_folder(tasks):
    """SettingError when two settings would share a run folder (values alike as names)."""
    seen = {}
    for task in tasks:
        other = seen.setdefault(task.run_dir, task)
        if other is not task:
            raise SettingError(f"--set: {other.values} and {task.values} would share the run "
                               f"folder {Path(task.run_dir).name}; give values that differ "
                               "in letters or digits")


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


@contextlib.contextmanager
def _numba_threads(threads):
    """At most ``threads`` Numba threads for the time of one task, the worker's own put back
    afterwards. Nothing else of the worker's process changes: the model's calls put BLAS on
    one thread while they run and reuse their own arrays (:mod:`minicnn.runtime`)."""
    import numba
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(before)


class _RunLog(io.TextIOBase):
    """A run's log as plain lines: of a progress bar's redraw frames (each ended by a
    carriage return) only the last one of a line is kept. Each line that ends an epoch, or
    says the run resumes or is done, is also passed to ``send``."""

    def __init__(self, file, send):
        super().__init__()
        self._file, self._send, self._line = file, send, ""

    def writable(self):
        return True

    def write(self, text):
        *lines, last = (self._line + text).split("\n")
        self._line = last.rsplit("\r", 1)[-1] if "\r" in last[:-1] else last
        for line in lines:
            line = line.rstrip("\r").rsplit("\r", 1)[-1].rstrip()
            if line:
                self._file.write(line + "\n")
                if PROGRESS.match(line):
                    self._send(line)
        return len(text)

    def flush(self):
        self._file.flush()


def _event_sender(run):
    """A function sending one progress line of ``run`` as a Dask event (topic EVENTS) from
    the worker running this task; one that does nothing outside a worker."""
    try:
        from distributed import get_worker
        worker = get_worker()
    except (ImportError, ValueError):
        return lambda line: None
    return lambda line: worker.log_event(EVENTS, {"run": run, "line": line})


def run_task(task, threads=1, command=None):
    """Train, resume or skip one task's run in this process, with minicnn's process settings
    for that time only; returns ``(run folder, what was done)``: "trained", "resumed" or
    "skipped". What the training prints goes to ``DIR/logs/<run>.log`` as plain lines."""
    run = Path(task.run_dir).name
    log = Path(task.run_dir).parent.parent / "logs" / f"{run}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f, _numba_threads(threads):
        lines = _RunLog(f, _event_sender(run))
        with contextlib.redirect_stdout(lines), contextlib.redirect_stderr(lines), \
                logs.to_stderr():
            return _run_task(task, command)


def _run_task(task, command):
    state = _state(task.run_dir, task.settings)
    if state == "done":
        return task.run_dir, "skipped"
    if state == "running":
        raise RunFolderError(f"{task.run_dir} is being trained by a live process")
    if os.environ.get(KILL_ONCE):
        _kill_once_after_epoch_1(task.run_dir, os.environ[KILL_ONCE])
    if state == "resume":
        pipeline.resume_run(task.run_dir, data=task.settings.data, command=command,
                            report=write_report)
        return task.run_dir, "resumed"
    if state == "restart":
        shutil.rmtree(task.run_dir)
    pipeline.train_run(task.settings, command=command, report=write_report)
    return task.run_dir, "trained"


# -- the cluster --------------------------------------------------------------------------
class SchedulerError(ValueError):
    """A Dask scheduler that cannot be reached, or an address that is not a scheduler's."""


def default_workers():
    """Local worker processes when none are asked for: one per two cores."""
    return max(1, (os.cpu_count() or 2) // 2)


def _refuse_workers(workers, where):
    if workers is not None:
        raise SettingError(f"--workers starts worker processes on this machine, but the sweep "
                           f"runs on the scheduler of {where}, with that cluster's workers; "
                           f"drop --workers")


def _scheduler_file_address(path):
    """The address in a ``dask scheduler --scheduler-file`` FILE, waiting for the file as
    long as Dask waits for a connection (distributed.comm.timeouts.connect)."""
    import dask
    from dask.utils import parse_timedelta
    end = time.monotonic() + parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"))
    while not Path(path).exists() and time.monotonic() < end:
        time.sleep(0.1)
    try:
        return str(json.loads(Path(path).read_text(encoding="utf-8"))["address"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SchedulerError(f"--scheduler-file {path}: no scheduler address in it "
                             f"({type(exc).__name__}: {exc}); start `dask scheduler "
                             f"--scheduler-file {path}` first") from None


def _reach(address):
    """A Client connected to the scheduler at ``address``; SchedulerError naming the address
    and what went wrong."""
    from distributed import Client
    try:
        return Client(address)
    except OSError as exc:                          # refused, timed out, unknown host
        raise SchedulerError(f"cannot reach a Dask scheduler at {address}: {exc}; check that "
                             f"`dask scheduler` runs there and that this machine can reach "
                             f"it") from None
    except ValueError as exc:                       # not an address
        raise SchedulerError(f"{address} is not a scheduler address ({exc}); expected e.g. "
                             f"tcp://HOST:8786") from None
    except Exception as exc:      # e.g. MemoryError: an HTTP answer read as a message length
        raise SchedulerError(f"{address} answered, but not in Dask's protocol "
                             f"({type(exc).__name__}); is it an HTTP server, such as the "
                             f"dashboard's port 8787? Give the scheduler's own address, "
                             f"e.g. tcp://HOST:8786") from None


def _worker_environment(threads):
    """The environment of a worker process that trains with ``threads`` compute threads."""
    return {name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                            "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}


def _local_cluster(workers, threads):
    """A LocalCluster of ``workers`` single-task worker processes, each computing with
    ``threads`` threads, with its dashboard."""
    from distributed import LocalCluster
    return LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1,
                        processes=True, dashboard_address=":8787",
                        env=_worker_environment(threads))


def slurm_cluster(threads=1, memory="8GB", walltime="02:00:00", **kwargs):
    """A dask-jobqueue SLURMCluster (``pip install dask-jobqueue``) whose every job is one
    worker process that trains one run at a time with ``threads`` cores
    (``--cpus-per-task``); ``kwargs`` go to SLURMCluster (``queue``, ``account``, ...).
    ``cluster.scale(jobs=N)`` asks for N jobs; pass the cluster to :func:`run_sweep` as
    ``client``, with the same ``threads``."""
    from dask_jobqueue import SLURMCluster
    exports = " ".join(f"{k}={v}" for k, v in _worker_environment(threads).items())
    prologue = [f"export {exports}", *kwargs.pop("job_script_prologue", [])]
    return SLURMCluster(cores=1, processes=1, job_cpu=threads, memory=memory,
                        walltime=walltime, job_script_prologue=prologue, **kwargs)


def _connect(client, scheduler_file, workers, threads):
    """``(Client, what this sweep opened and closes at the end)``: ``client`` itself, a
    Client of a Cluster object, of an address, of a scheduler file's address, of Dask's
    configured ``scheduler-address`` (DASK_SCHEDULER_ADDRESS), else of a new LocalCluster."""
    import dask
    from distributed import Client
    from distributed.deploy import Cluster
    if isinstance(client, Client):
        return client, []
    if isinstance(client, Cluster):
        opened = Client(client)
        return opened, [opened]
    address = (_scheduler_file_address(scheduler_file) if scheduler_file else
               client or dask.config.get("scheduler-address", None))
    if address:
        if not (client or scheduler_file):
            _refuse_workers(workers, f"Dask's configuration (DASK_SCHEDULER_ADDRESS or "
                                     f"scheduler-address), {address}")
        opened = _reach(address)
        return opened, [opened]
    cluster = _local_cluster(workers, threads)
    opened = Client(cluster)
    return opened, [opened, cluster]


def _show_dashboard(client):
    try:
        import bokeh  # noqa: F401  (distributed serves its dashboard only with bokeh)
        log.info("Dask dashboard: %s", client.dashboard_link)
    except ImportError:
        log.info("Dask dashboard: none here (it needs bokeh: pip install 'bokeh>=3.1')")


def _show_progress(event):
    """Log a run's progress line sent from its worker (a Dask event of topic EVENTS)."""
    _, message = event
    log.info("  %s: %s", message["run"], message["line"])


def task_key(task):
    """The task's Dask key: its setting (``=`` between key and value, so the dashboard groups
    and colours tasks by setting), its seed, and a token of its run folder and settings, so
    two sweeps into two folders on one scheduler never share a task."""
    setting = "_".join([task.settings.preset]
                       + [f"{k}={_slug_value(v)}" for k, v in task.values.items()])
    identity = json.dumps([task.run_dir, task.settings.to_dict()], sort_keys=True, default=str)
    token = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
    return f"{setting}-seed{task.seed}-{token}"


def _checked(task, returned):
    """What the task did, once its run folder is seen finished; RunFolderError otherwise."""
    run_dir, what = returned
    if Path(run_dir) != Path(task.run_dir) or _state(task.run_dir, task.settings) != "done":
        raise RunFolderError(f"the task said {what!r} for {run_dir}, but {task.run_dir} "
                             f"holds no finished run")
    return what


def _free_threads(client, ours):
    """Worker threads that hold no task of any client, less those of this sweep's futures
    ``ours`` that the scheduler has not yet placed on a worker."""
    processing = client.processing()
    placed = {key for keys in processing.values() for key in keys}
    free = sum(max(0, n - len(processing.get(worker, ())))
               for worker, n in client.nthreads().items())
    return free - sum(1 for future in ours if future.key not in placed)


def _submit_all(client, todo, threads, command):
    """Run the tasks; returns {run folder name: what was done or the error}.

    A task is handed to Dask only when a worker thread is free (or when none of this
    sweep's tasks is in flight): Dask places a task on a worker at once, and a run queued
    behind another on a busy worker stays there, since Dask cannot tell an hour-long run
    from a short task, while another worker idles. Each result is checked against its run
    folder, and its future released once read (a finished run is not recomputed when the
    worker holding its result dies)."""
    from distributed import as_completed              # lazy: see the module's docstring
    waiting, futures, done = list(todo), {}, {}
    finished = as_completed()
    with tqdm(total=len(todo), unit="run", desc="sweep", disable=logs.bar_disable(log)) as bar:
        while waiting or futures:
            while waiting and (not futures or _free_threads(client, futures) > 0):
                task = waiting.pop(0)
                future = client.submit(run_task, task, threads, command, retries=2,
                                       pure=False, key=task_key(task))
                futures[future] = task
                finished.add(future)
            if waiting and not finished.has_ready():
                time.sleep(FREE_THREAD_POLL_S)
                continue
            for future in finished.next_batch(block=True):
                task = futures.pop(future)
                name = Path(task.run_dir).name
                try:
                    done[name] = _checked(task, future.result())
                except Exception as exc:  # one failed run must not lose the others
                    done[name] = f"error: {type(exc).__name__}: {exc}"
                    log.warning("sweep: run %s did not finish (%s)", name, done[name])
                finally:
                    future.release()
                bar.update()
    return done


def run_sweep(preset, grid, seeds, out, data=None, client=None, workers=None, threads=1,
              command=None, validation_only=False, scheduler_file=None):
    """Plan, run the unfinished tasks on Dask, and write the results; returns
    ``{"tasks": n, "done": {run: "trained"/"resumed"/"skipped"/"error: ..."}, "results":
    the files written}``. Every setting is checked, and the data folder found, before any
    cluster starts. ``validation_only``: no run scores test/ (:func:`score_test` does it
    later, once, for the setting chosen on validation).

    Where the tasks run: ``client``, a distributed Client, a Cluster object (e.g.
    dask-jobqueue's SLURMCluster) or a scheduler address; else the address in
    ``scheduler_file``; else Dask's configured ``scheduler-address``
    (DASK_SCHEDULER_ADDRESS); else a new LocalCluster of ``workers`` processes (default
    :func:`default_workers`), closed at the end. ``workers`` with a scheduler is refused."""
    if client is not None and scheduler_file:
        raise SettingError("give a scheduler or a scheduler file, not both")
    if client is not None or scheduler_file:
        _refuse_workers(workers, client if isinstance(client, str) else
                        scheduler_file or type(client).__name__)
    root = find_data_dir(data).resolve()
    tasks = plan(preset, grid, seeds, out, str(root), score_test=not validation_only)
    plan_json = _plan_json(preset, grid, seeds, tasks, command)
    _check_out(out, plan_json)
    done = {Path(t.run_dir).name: "skipped" for t in tasks
            if _state(t.run_dir, t.settings) == "done"}
    todo = [t for t in tasks if Path(t.run_dir).name not in done]
    Path(out).mkdir(parents=True, exist_ok=True)
    atomic_write(Path(out) / SWEEP, (json.dumps(plan_json, indent=2) + "\n").encode("utf-8"))
    if todo:
        done.update(_on_cluster(todo, client, scheduler_file, workers, threads, command))
    return {"tasks": len(tasks), "done": done, "results": write_results(out)}


def _on_cluster(todo, client, scheduler_file, workers, threads, command):
    """Run the tasks on the cluster :func:`_connect` finds, showing its dashboard's link and
    the runs' progress; returns {run folder name: what was done or the error}."""
    client, opened = _connect(client, scheduler_file, workers, threads)
    try:
        _show_dashboard(client)
        client.subscribe_topic(EVENTS, _show_progress)
        return _submit_all(client, todo, threads, command)
    finally:
        with contextlib.suppress(Exception):
            client.unsubscribe_topic(EVENTS)
        for thing in opened:
            thing.close()


def score_test(out, data=None):
    """Score test/ once for every finished run of a sweep folder whose test is not scored
    yet (:func:`minicnn.scoring.evaluate_run`), then rewrite the results; returns
    ``(number of runs scored now, the files written)``."""
    rows = collect(out)
    scored = 0
    for row in tqdm(rows, unit="run", desc="test", disable=logs.bar_disable(log)):
        run_dir = Path(out) / "runs" / row["run"]
        if row["status"] in runs.FINISHED and row.get("test_auc") is None:
            with contextlib.redirect_stdout(io.StringIO()):
                evaluate_run(run_dir, data=data, report=write_report)
            scored += 1
    return scored, write_results(out)


def _plan_json(preset, grid, seeds, tasks, command):
    """sweep.json's content: the preset, grid, seeds, command and every run's entry."""
    def plain(value):
        return list(value) if isinstance(value, tuple) else value
    return {"preset": preset, "grid": {k: [plain(v) for v in values]
                                       for k, values in grid.items()},
            "seeds": list(seeds), "command": command,
            "runs": [{"run": Path(t.run_dir).name, "setting": t.setting, "seed": t.seed,
                      "values": {k: plain(v) for k, v in t.values.items()}} for t in tasks]}


def _check_out(out, plan_json):
    """RunFolderError unless ``out`` is new, empty, or this sweep's folder (its sweep.json
    has the same preset, grid and seeds): never a run folder, a file or another sweep."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SettingError(f"--out {out} is a file; give a folder for the sweep")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if (out / runs.CONFIG).exists():
        raise RunFolderError(f"--out {out} is a run folder (it has {runs.CONFIG}); give a new "
                             "folder for the sweep")
    if not (out / SWEEP).is_file():
        raise RunFolderError(f"--out {out} is not empty and holds no {SWEEP}; give a new "
                             "folder for the sweep")
    theirs = runs.read_json(out / SWEEP)
    keys = ("preset", "grid", "seeds")
    if any(theirs.get(k) != plan_json[k] for k in keys):
        was = ", ".join(f"{k} {theirs.get(k)!r}" for k in keys)
        raise RunFolderError(f"--out {out} holds another sweep ({was}); give a new folder, "
                             "or the same preset, --set and --seeds to go on with it")
