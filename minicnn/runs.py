"""Run folders: what a training run writes, and how it is read back.

One run, one folder. ``minicnn train`` claims its folder before writing anything and then
writes, each file atomically (a temporary file, then a rename, so a crash leaves the old
file or the new one, never half of one):

- ``config.json``: settings, seed, data folder, counts, versions, wall times and the
  run's ``status`` with its ``reason`` (below); once finished also the decision
  ``threshold`` (a probability in [0, 1]) and the kept epoch;
- ``splits.csv``: one row ``path, label, split`` per file of train/ and test/;
- ``history.csv``: loss and accuracy per epoch, rewritten after every epoch;
- ``model.npz``: the kept model (:func:`minicnn.load_model`);
- ``metrics.json``: validation and test reports (:func:`minicnn.metrics.binary_report`);
- ``learning_curves.png``, ``confusion_matrix.png``, ``roc.png`` and ``report.html``;
- ``run.lock`` while the run is alive: the process id and host that own the folder;
- ``checkpoint/`` while the run is unfinished: the training's state after the last finished
  epoch (:mod:`minicnn.checkpoint`), from which ``minicnn train --resume`` goes on; removed
  when the run finishes.

Status in config.json: ``running``; ``done``; ``diverged`` (training stopped when the loss
stopped being finite; the last finite epoch was kept, and the run finished); ``interrupted``
(Ctrl-C) or ``failed`` (an error), each with a ``reason``. A run killed outright (SIGKILL,
power cut) cannot say so itself: it stays ``running`` with a ``run.lock`` whose process is
gone, and :func:`run_status` reports it as ``did not finish``. :func:`reclaim` takes such a
folder back (or an ``interrupted`` or ``failed`` one) to resume it from its checkpoint.

Readers (``evaluate``, ``predict``, ``report``) check what they read: a damaged or truncated
JSON file is named in a :class:`~minicnn.validation.RunFolderError`, and a threshold that
is not a finite number in [0, 1] is refused.
"""
from __future__ import annotations

import contextlib
import csv
import datetime
import hashlib
import io
import itertools
import json
import math
import os
import socket
from pathlib import Path

import numpy as np

from . import runfiles
from .callbacks import numbered_from_one
from .data import DEFAULT_CLASS_NAMES
from .io import atomic_write
from .model import Ensemble, load_model
from .settings import EQUALIZE
from .validation import RunFolderError, fraction

__all__ = ["RunFolder", "claim", "reclaim", "read_json", "read_config", "read_history",
           "run_status", "load_run", "pneumonia_probability", "label", "test_not_scored",
           "MODEL", "CONFIG", "HISTORY", "METRICS", "SPLITS", "LOCK", "REPORT", "FIGURES",
           "FINISHED", "CHECKPOINT", "ENSEMBLE", "members", "equalize_of", "validation_files",
           "adapted_metrics"]

MODEL, CONFIG, HISTORY, METRICS = "model.npz", "config.json", "history.csv", "metrics.json"
#: config.json's ``kind`` of an ensemble's folder (a run folder has none).
ENSEMBLE = "ensemble"
SPLITS, LOCK, REPORT = "splits.csv", "run.lock", "report.html"
CHECKPOINT = "checkpoint"
FIGURES = ("learning_curves.png", "confusion_matrix.png", "roc.png")

#: Statuses of a run that ended with a model and a threshold.
FINISHED = ("done", "diverged")


def adapted_metrics(name):
    """The file of a run folder that ``minicnn evaluate --adapt`` writes an adaptation's
    scores to (``name`` as :func:`minicnn.adapt.adapt_name` spells it)."""
    return f"metrics-adapt-{name}.json"


def now():
    """The local time as ISO text, to the second (config.json's ``started``/``finished``)."""
    return datetime.datetime.now().isoformat(timespec="seconds")


# -- writing ------------------------------------------------------------------------------
class RunFolder:
    """A claimed run folder (``path``); every write goes through a temporary file and a
    rename. Made by :func:`claim`."""

    def __init__(self, path):
        self.path = Path(path)

    def file(self, name):
        return self.path / name

    def write_json(self, name, data):
        """``data`` (a dict) as indented JSON; NaN and infinities are written as null."""
        text = json.dumps(_finite(data), indent=2, allow_nan=False, default=_json_default)
        text += "\n"
        atomic_write(self.file(name), text.encode("utf-8"))

    def write_splits(self, rows):
        """splits.csv from ``(path, label, split)`` rows."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["path", "label", "split"])
        writer.writerows((path, int(label), split) for path, label, split in rows)
        atomic_write(self.file(SPLITS), buffer.getvalue().encode("utf-8"))

    def finish(self, config, status, reason=None):
        """Record how the run ended in config.json, then give the folder up (remove
        run.lock). ``config`` is updated in place."""
        config.update(status=status, reason=reason, finished=now())
        try:
            self.write_json(CONFIG, config)
        finally:
            self.release()

    def release(self):
        """Give the folder up: remove run.lock."""
        self.file(LOCK).unlink(missing_ok=True)


def remove_partial_files(run_dir):
    """Remove what an atomic write left behind when its process was killed mid-write
    (``.tmp-*.part`` files, :func:`minicnn.io.atomic_write`), in a run folder being resumed."""
    for leftover in Path(run_dir).rglob(".tmp-*.part"):
        leftover.unlink(missing_ok=True)


def claim(out=None, preset="run", parent="runs"):
    """Claim a fresh run folder for this process and return its :class:`RunFolder`.

    out: the folder to use (made if missing; an existing one must be empty). None: a new
    folder ``<parent>/<preset>-<date>-<time>`` (``-2``, ``-3``, ... when taken), made with
    ``mkdir`` without exist_ok, so two runs can never get the same one. The claim itself is
    ``run.lock``, created with O_EXCL: of two runs aimed at one folder exactly one gets it;
    the other gets a RunFolderError saying what to do.
    """
    path = _claim_named(Path(out)) if out else _claim_default(Path(parent), preset)
    _lock(path)
    return RunFolder(path)


def reclaim(run_dir):
    """Take an unfinished run folder back to resume it; returns ``(RunFolder, config)``.

    RunFolderError, saying why, when ``run_dir`` is not a run folder, has finished (``done``
    or ``diverged``), has no checkpoint, or is locked by a live run. A ``run.lock`` whose
    process is gone (a run killed outright) is taken over.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise RunFolderError(f"no run folder at {path}")
    with _reclaiming(path):
        return _reclaim(path)


@contextlib.contextmanager
def _reclaiming(path):
    """While reclaiming ``path``: an exclusive flock on the folder, so that of two processes
    that both judge its lock stale, the second reads the first's fresh lock (no fcntl, as on
    Windows: no flock)."""
    try:
        import fcntl
    except ImportError:                    # pragma: no cover (Windows)
        yield
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)                       # releases the flock


def _reclaim(path):
    config = read_config(path)
    lock = _read_lock(path)
    if lock is not None and _alive(lock):
        raise RunFolderError(f"run {path} is locked by a live run (process {lock.get('pid')} "
                             f"on {lock.get('host')})")
    status, _ = run_status(path, config)
    if status in FINISHED:
        raise RunFolderError(f"run {path} is {status}: there is nothing to resume")
    if not (path / CHECKPOINT / "state.json").is_file():
        raise RunFolderError(f"run {path} ({status}) has no checkpoint: it stopped before "
                             f"its first epoch began; train it again in a new folder")
    (path / LOCK).unlink(missing_ok=True)        # a dead process's lock, if any
    _lock(path)
    return RunFolder(path), config


def _lock(path):
    """Create ``path/run.lock`` (O_EXCL: fails if it exists) naming this process."""
    try:
        fd = os.open(path / LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise RunFolderError(f"{path} was just claimed by another run; choose another "
                             f"--out") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": now(),
                   "process_start": _process_start(os.getpid())}, f)


def _claim_named(path):
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"--out {path} is a file; give the name of a new folder")
    path.mkdir(parents=True, exist_ok=True)
    if any(path.iterdir()):
        raise RunFolderError(f"output folder {path} is not empty ({_owner(path)}); choose "
                             f"another --out")
    return path


def _claim_default(parent, preset):
    parent.mkdir(parents=True, exist_ok=True)
    base = f"{preset}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    for n in itertools.count(1):
        path = parent / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _owner(path):
    """Who uses a non-empty folder, in words."""
    lock = _read_lock(path)
    if lock is not None and _alive(lock):
        return f"a run in process {lock.get('pid')} is writing into it"
    return "it holds another run" if (path / CONFIG).exists() else "it holds other files"


def _finite(value):
    """``value`` with every float that is NaN or infinite (in dicts and lists) as None."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return None
    return value


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


# -- reading ------------------------------------------------------------------------------
def read_json(path, required=True):
    """The JSON object in ``path`` (a dict), read and checked by :func:`minicnn.runfiles.load`
    (type, size, depth and, for the run and sweep files, the keys readers use). A missing
    file gives None unless ``required``; anything else wrong is a RunFolderError naming the
    file (and the key)."""
    return runfiles.load(path, required)


def identity(settings):
    """A run's identity from its settings (a dict, as config.json's ``settings``): ``{"seed",
    "settings_sha256"}``, the SHA-256 of the settings that decide the training (where the
    data and the run folder are, left out). RunFolderError when ``settings`` is no object."""
    if not isinstance(settings, dict):
        raise RunFolderError(f"the run's settings must be a JSON object, got {settings!r:.60}")
    deciding = {k: v for k, v in settings.items() if k not in ("data", "out")}
    text = json.dumps(deciding, sort_keys=True, default=str)
    return {"seed": settings.get("seed"),
            "settings_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def read_config(run_dir):
    """config.json of ``run_dir`` (RunFolderError when missing or damaged)."""
    return read_json(Path(run_dir) / CONFIG)


def read_history(path):
    """Rows of a history.csv as dicts (epoch int counted from 1, also for an older file that
    counted from 0; the rest floats, None when unreadable), or None when the file is
    missing."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        return None
    return numbered_from_one([{key: _number(key, value) for key, value in row.items()
                               if key is not None} for row in rows])


def _number(key, value):
    try:
        return int(value) if key == "epoch" else float(value)
    except (TypeError, ValueError):
        return None


def _read_lock(run_dir):
    try:
        lock = json.loads((Path(run_dir) / LOCK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return lock if isinstance(lock, dict) else None


def _process_start(pid):
    """When process ``pid`` started, in clock ticks since boot (Linux's /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])            # field 22 of proc_pid_stat(5)
    except (OSError, IndexError, ValueError):
        return None


def _alive(lock):
    """True when the process named in a run.lock still runs (or runs on another host): its
    pid exists and, where /proc tells, started when the lock says (not a reused pid)."""
    if lock.get("host") != socket.gethostname():
        return True                       # cannot tell from here; assume it runs
    pid = lock.get("pid")
    if not (isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid < 2 ** 31):
        return False                      # no process has that id: a damaged lock
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    started = _process_start(pid)
    return None in (started, lock.get("process_start")) or started == lock["process_start"]


def run_status(run_dir, config=None):
    """``(status, reason)`` of a run folder, from its config.json and run.lock.

    A run recorded as ``running`` whose process is gone gives ``("did not finish", ...)``:
    it was killed, or the machine stopped, before it could record why.
    """
    config = read_config(run_dir) if config is None else config
    status, reason = str(config.get("status", "unknown")), config.get("reason")
    if status != "running":
        return status, reason
    lock = _read_lock(run_dir)
    if lock is not None and _alive(lock):
        return "running", f"process {lock.get('pid')} on {lock.get('host')} is still training"
    pid = f" (process {lock.get('pid')})" if lock else ""
    return "did not finish", (f"the run{pid} stopped without recording why: it was killed "
                              f"or the machine stopped")


# -- using a run's model ------------------------------------------------------------------
def test_not_scored(metrics):
    """Whether a metrics.json (dict) is a validation-only run's whose test/ is not scored
    yet (``minicnn train --validation-only``)."""
    return isinstance(metrics, dict) and "validation" in metrics and metrics.get("test") is None


def pneumonia_probability(model, x, batch_size=32):
    """P(pneumonia) (N,) float64 for images x (N, S, S, 1): column 1 of the model's softmax
    output, class 1 being PNEUMONIA. Non-finite values are passed through, for the caller
    to refuse."""
    return model.predict(x, batch_size=batch_size)[:, 1].astype(np.float64)


def label(prob, threshold, names):
    """``names[1]`` (pneumonia) when ``prob >= threshold``, ``names[0]`` below it, and None
    when prob is NaN or infinite: a number that is not one never gets a label."""
    if not math.isfinite(prob):
        return None
    return names[1] if prob >= threshold else names[0]


def load_run(ref, config=None):
    """``(model, info)`` from a finished run folder or a model file.

    info: ``threshold`` (the run's, or 0.5 for a bare model file), ``image_size`` (from the
    model), ``class_names``, ``protocol``, ``equalize`` (the preprocessing its images need,
    :func:`minicnn.data.preprocess_image`) and ``run_dir`` (None for a model file). An
    ensemble's folder (config.json's ``kind`` "ensemble", ``minicnn ensemble``) gives a
    :class:`minicnn.model.Ensemble` of its members' models. A run that
    did not finish, or whose config.json is damaged or holds a threshold that is not a finite
    number in [0, 1], is a RunFolderError naming the folder or file. config: the run's
    config.json as about to be recorded (for the report training writes before it is).
    """
    ref = Path(ref)
    if ref.is_dir():
        model, info = _load_folder(ref, config)
    elif ref.is_file():
        model = load_model(ref)
        info = {"threshold": 0.5, "run_dir": None, "class_names": list(DEFAULT_CLASS_NAMES),
                "protocol": None, "equalize": "none"}
    else:
        raise FileNotFoundError(f"no run folder or model file at {ref}")
    shape = model.input_shape
    if len(shape) != 3 or shape[0] != shape[1] or shape[2] != 1:
        raise RunFolderError(f"the model in {ref} expects inputs of shape {shape}; minicnn "
                             f"runs use square gray images (S, S, 1)")
    info["image_size"] = int(shape[0])
    return model, info


def _load_folder(run_dir, config=None):
    config = read_config(run_dir) if config is None else config
    status, reason = run_status(run_dir, config)
    if status not in FINISHED:
        raise RunFolderError(f"run {run_dir} did not finish (status {status}: {reason}); "
                             f"use a finished run")
    info = {"threshold": _threshold(config, run_dir / CONFIG), "run_dir": run_dir,
            "class_names": _class_names(config, run_dir / CONFIG),
            "protocol": config.get("protocol") if isinstance(config.get("protocol"), str)
            else None, "equalize": equalize_of(config, run_dir / CONFIG)}
    if config.get("kind") == ENSEMBLE:
        return Ensemble([load_run(member)[0] for member in members(config, run_dir)]), info
    if not (run_dir / MODEL).is_file():
        raise RunFolderError(f"{run_dir} has no {MODEL}; is it a run folder?")
    return load_model(run_dir / MODEL), info


def members(config, run_dir):
    """The member run folders (Paths) an ensemble's config.json lists; RunFolderError when
    the list is not one of at least two folder names."""
    names = config.get("members")
    if not (isinstance(names, list) and len(names) >= 2
            and all(isinstance(n, str) for n in names)):
        raise RunFolderError(f"{Path(run_dir) / CONFIG}: an ensemble's members must be a list "
                             f"of at least two run folders, got {names!r:.80}")
    return [Path(name) for name in names]


def validation_files(run_dir, config, root, splits=("validation",)):
    """``[(path, label)]`` of the images a run validated on: the rows of its splits.csv whose
    split is in ``splits`` (the thesis protocol's is "test+validation"), each path moved from
    the run's data folder (config.json's ``data_dir``) to ``root``."""
    old = Path(config.get("data_dir") or root)
    with open(Path(run_dir) / SPLITS, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] in splits]
    return [(str(Path(root) / Path(r["path"]).relative_to(old))
             if Path(r["path"]).is_relative_to(old) else r["path"], int(r["label"]))
            for r in rows]


def equalize_of(config, path):
    """The histogram equalisation a run's images get (its ``equalize`` setting; "none" for
    runs made before the setting existed); RunFolderError for an unknown value."""
    settings = config.get("settings")
    value = settings.get("equalize", "none") if isinstance(settings, dict) else "none"
    if value not in EQUALIZE:
        raise RunFolderError(f"{path}: equalize must be one of {', '.join(EQUALIZE)}, got "
                             f"{value!r}; the file is damaged")
    return value


def _threshold(config, path):
    try:
        return fraction(config.get("threshold"), "threshold")
    except (TypeError, ValueError):
        raise RunFolderError(f"{path}: the threshold must be a finite number in [0, 1], got "
                             f"{config.get('threshold')!r}; the file is damaged") from None


def _class_names(config, path):
    names = config.get("class_names", DEFAULT_CLASS_NAMES)
    if not (isinstance(names, list) and len(names) == 2 and all(isinstance(n, str)
                                                                for n in names)):
        raise RunFolderError(f"{path}: class_names must be two names, got {names!r}")
    return names
