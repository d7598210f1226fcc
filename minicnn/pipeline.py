"""The X-ray training pipeline behind ``minicnn train``, ``evaluate`` and ``predict``.

A run trains the thesis CNN on the chest X-ray folder in named phases (load, split, train,
choose the epoch and the threshold, evaluate, write) and leaves a *run folder*
(:mod:`minicnn.runs`: model.npz, config.json, history.csv, metrics.json, splits.csv, the
figures and report.html).

Protocols:

- *honest* (presets ``quick`` and ``full``): validation is a patient-grouped, stratified split
  of ``train/``; the epoch (early stopping) and the decision threshold (Youden's J) are chosen
  on validation only; ``test/`` is scored once, at the end, at 0.5 and at that threshold.
- *thesis* (preset ``thesis``): the thesis's samples (train 970 normal + 1,041 pneumonia,
  test 203 + 313, drawn with the seed), validated on the test sample as the thesis did. Its
  numbers are optimistic and labelled so everywhere.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import scipy
import skimage
import sklearn

from . import __version__, checkpoint, get_backend, logs, plots, runs
from . import metrics as metrics_module
from .callbacks import (CSVLogger, DivergenceGuard, EarlyStopping, RecomputeBatchNorm,
                        StopOnSignal, WeightAverage)
from .data import (class_weights_balanced, default_cache_dir, find_data_dir, load_image_folder,
                   patient_id, run_data_dir, stratified_sample, train_val_split,
                   training_augmenter)
from .metrics import format_table
from .models import thesis_cnn
from .optimizers import Adam, ExponentialDecay
from .scoring import call_report, finite_probability, score, test_figures
from .settings import PROTOCOLS, Settings
from .validation import DataError, RunFolderError

__all__ = ["train_run", "resume_run", "environment"]


# -- helpers ------------------------------------------------------------------------------
log = logging.getLogger(__name__)


def _say(message=""):
    """A result of the run (its folder, the table of scores) on stdout; what happens on the
    way goes to ``log``."""
    print(message, flush=True)


def _versions():
    return {"python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__, "scikit-image": skimage.__version__,
            "pillow": _installed("pillow"), "matplotlib": _installed("matplotlib"),
            "minicnn": __version__}


def _installed(distribution):
    """A distribution's installed version, or None."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


#: The environment variables that change how a run computes (threads, caches, data).
ENVIRONMENT_PREFIXES = ("MINICNN_", "OPENBLAS_", "OMP_")


def _machine():
    return {"platform": platform.platform(), "processor": platform.machine(),
            "cpu_count": os.cpu_count(), "numba_threads": int(numba.get_num_threads()),
            "environment": {k: v for k, v in sorted(os.environ.items())
                            if k.startswith(ENVIRONMENT_PREFIXES)}}


def _source(package_dir=Path(__file__).resolve().parent):
    """``{"git_commit", "git_dirty"}`` when minicnn runs from a git checkout (dirty: tracked
    files changed since that commit), else None (an installed package, or no git)."""
    root = package_dir.parent
    try:
        if Path(_git(root, "rev-parse", "--show-toplevel")).resolve() != root.resolve():
            return None                           # minicnn lies inside another repository
        return {"git_commit": _git(root, "rev-parse", "HEAD"),
                "git_dirty": bool(_git(root, "status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return None


def _git(root, *args):
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          timeout=10, check=True).stdout.strip()


def environment():
    """What config.json records of where a run is computed: ``versions``, ``backend``,
    ``machine`` and ``source`` (the git commit, or None)."""
    return {"versions": _versions(), "backend": get_backend(), "machine": _machine(),
            "source": _source()}


def _data_folders(root):
    """The chest_xray folder ``root`` (resolved), checked to hold train/ and test/."""
    root = root.resolve()
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise FileNotFoundError(f"{root} has no {split}/ folder; expected "
                                    f"chest_xray/{{train,test}}/{{NORMAL,PNEUMONIA}}/")
    return root


def _counts(y, class_names):
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(class_names))
    return {**{name: int(c) for name, c in zip(class_names, counts)}, "total": int(counts.sum())}


def _capped_sample(y, per_class, seed, what):
    """Seeded stratified sample of at most per_class[c] indices of each class c."""
    available = np.bincount(y, minlength=len(per_class))
    wanted = {c: int(min(k, available[c])) for c, k in enumerate(per_class)}
    if any(wanted[c] < k for c, k in enumerate(per_class)):
        log.info("note: %s: asked for %s images per class, only %s available; using %s", what,
                 tuple(per_class), tuple(int(a) for a in available), tuple(wanted.values()))
    return stratified_sample(y, wanted, np.random.default_rng(seed))


# -- training: the phases ------------------------------------------------------------------
@dataclass
class Split:
    """A run's arrays: x_* (N, S, S, 1) float32 and y_* (N,) int64 for training, validation
    and test (under the thesis protocol the test arrays are the validation ones); ``rows``:
    one (path, label, split name) per file of train/ and test/, for splits.csv; ``folders``:
    the labels of all of train/ and of test/; ``skipped``: (path, reason) of unreadable
    files."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    rows: list
    class_names: list
    folders: dict
    skipped: list


@dataclass
class Trained:
    """What the training phase leaves: the model with its kept weights, ``history``
    (per-epoch logs), the kept epoch (0-based) and why it was kept, and the run's status
    ("done", or "diverged" with ``reason``)."""

    model: object
    history: dict
    kept: int
    kept_rule: str
    status: str = "done"
    reason: str | None = None


def _load(settings, data_root):
    """Phase 1, load: the decoded train/ and test/ folders (cached after the first run)."""
    progress = logs.shows_progress(log)
    return tuple(load_image_folder(data_root / folder, settings.image_size, progress=progress,
                                   equalize=settings.equalize) for folder in ("train", "test"))


def _split(settings, train_ds, test_ds):
    """Phase 2, split: the honest or the thesis protocol's sets, each with both classes."""
    seeds = np.random.SeedSequence(settings.seed).spawn(2)
    te = (np.arange(len(test_ds)) if settings.test_per_class is None else
          _capped_sample(test_ds.y, settings.test_per_class, seeds[1], "test sample"))
    train_split = np.full(len(train_ds), "unused", dtype=object)
    test_split = np.full(len(test_ds), "unused", dtype=object)
    if settings.protocol == "honest":
        tr, va = _honest_indices(settings, train_ds, seeds[0])
        train_split[va], test_split[te] = "validation", "test"
        x_val, y_val = train_ds.x[va], train_ds.y[va]
        x_test, y_test = test_ds.x[te], test_ds.y[te]
    else:                                     # one array: validation is the test sample
        per_class = settings.train_per_class or tuple(np.bincount(train_ds.y, minlength=2))
        tr = _capped_sample(train_ds.y, per_class, seeds[0], "thesis training sample")
        test_split[te] = "test+validation"
        x_val = x_test = test_ds.x[te]
        y_val = y_test = test_ds.y[te]
    train_split[tr] = "train"
    rows = [*zip(train_ds.paths, train_ds.y, train_split),
            *zip(test_ds.paths, test_ds.y, test_split)]
    split = Split(train_ds.x[tr], train_ds.y[tr], x_val, y_val, x_test, y_test, rows,
                  train_ds.class_names, {"train_folder": train_ds.y, "test_folder": test_ds.y},
                  train_ds.skipped + test_ds.skipped)
    for what, y in (("validation", y_val), ("test", y_test), ("training", split.y_train)):
        if len(np.unique(y)) < 2:
            raise DataError(f"the {what} set holds only class {split.class_names[int(y[0])]!r} "
                            f"({len(y)} images); the data folder is too small for this run")
    return split


def _honest_indices(settings, train_ds, seed):
    """(training, validation) indices of train/: a patient-grouped split, then the
    training part capped at ``train_per_class``."""
    groups = np.array([patient_id(p) for p in train_ds.paths])
    split_seed = settings.seed if settings.split_seed is None else settings.split_seed
    tr, va = train_val_split(train_ds.y, groups, settings.val_fraction, split_seed)
    if settings.train_per_class is not None:
        tr = tr[_capped_sample(train_ds.y[tr], settings.train_per_class, seed,
                               "training sample")]
    return tr, va


def _train(settings, split, run, resume=None):
    """Phase 3, train: the thesis CNN with Adam; history.csv and the checkpoint are written
    after every epoch, and Ctrl-C stops after the current batch. ``resume``: a loaded
    checkpoint to go on from. Returns the model, the history, the early stopper (or None) and
    the divergence guard."""
    model = thesis_cnn((settings.image_size, settings.image_size, 1), 2, settings.seed,
                       batch_norm=settings.batch_norm, global_pool=settings.global_pool,
                       bn_momentum=settings.bn_momentum)
    model.compile(Adam(_learning_rate(settings, len(split.x_train))),
                  "sparse_categorical_crossentropy", ["accuracy"])
    stopper = (EarlyStopping("val_loss", patience=settings.patience, restore_best_weights=True)
               if settings.patience is not None else None)
    guard = DivergenceGuard(restore_on_divergence=False)
    logger = CSVLogger(run.file(runs.HISTORY))
    rng = np.random.default_rng(settings.seed)           # shuffling and augmentation
    average = WeightAverage(settings.ema_decay) if settings.ema_decay > 0 else None
    parts = {"csv_logger": logger, "divergence_guard": guard,
             "fit_rng": checkpoint.GeneratorState(rng),
             **({"early_stopping": stopper} if stopper else {}),
             **({"weight_average": average} if average else {})}
    saver = checkpoint.TrainingCheckpoint(run.file(runs.CHECKPOINT), parts,
                                          _checkpoint_info(settings, split), resume)
    stop = StopOnSignal()
    with stop:
        history = model.fit(split.x_train, split.y_train, batch_size=settings.batch_size,
                            epochs=settings.epochs, validation_data=(split.x_val, split.y_val),
                            class_weight=_class_weight(settings, split),
                            callbacks=[*_levers(settings, split, average), logger,
                                       *filter(None, [stopper]), guard, saver, stop],
                            seed=rng, augment=training_augmenter(settings),
                            initial_epoch=resume.epoch if resume else 0,
                            verbose=logs.shows_progress(log) and log.info)
    return model, history.history, stopper, guard


def _levers(settings, split, average):
    """The callbacks that change the weights validated and kept, in the order they act before
    validation: the weight average (``ema_decay``), then the BatchNormalization statistics
    recomputed for those weights (``bn_recompute``)."""
    recompute = (RecomputeBatchNorm(split.x_train, settings.batch_size)
                 if settings.bn_recompute else None)
    return [cb for cb in (average, recompute) if cb is not None]


def _learning_rate(settings, n_train):
    """Adam's learning rate: a number, or with ``lr_decay`` < 1 a schedule that multiplies
    it by lr_decay after every epoch of ceil(n_train / batch_size) updates."""
    if settings.lr_decay == 1:
        return settings.learning_rate
    return ExponentialDecay(settings.learning_rate, -(-n_train // settings.batch_size),
                            settings.lr_decay, staircase=True)


def _checkpoint_info(settings, split):
    """What a checkpoint records besides the training's state: the settings and a
    fingerprint (SHA-256) of the training and validation arrays."""
    digest = hashlib.sha256()
    for array in (split.x_train, split.y_train, split.x_val, split.y_val):
        digest.update(np.ascontiguousarray(array).data)
    return {"settings": settings.to_dict(), "identity": runs.identity(settings.to_dict()),
            "data_sha256": digest.hexdigest()}


def _check_same_data(saved, settings, split):
    """RunFolderError when a resumed run would train on other images than it started with."""
    if saved.info.get("data_sha256") != _checkpoint_info(settings, split)["data_sha256"]:
        raise RunFolderError("the training and validation images differ from those the run "
                             "started with (another data folder, or changed files); resume "
                             "with the run's own data (--data)")


def _class_weight(settings, split):
    return class_weights_balanced(split.y_train) if settings.class_weight == "balanced" else None


def _choose_epoch(model, history, stopper, guard):
    """Phase 4a, choose the epoch: early stopping's best, else the last finite one when
    training diverged, else the last. The model ends with that epoch's weights."""
    if not history.get("loss") or (guard.diverged and guard.last_finite_epoch is None):
        raise ValueError("training diverged in its first epoch (the loss was not finite); "
                         "no model to keep. Try a smaller learning rate or other data.")
    status, reason = ("diverged", guard.reason) if guard.diverged else ("done", None)
    if stopper is not None and stopper.best_epoch is not None:
        rule = "lowest validation loss (early stopping, best weights restored)"
        return Trained(model, history, stopper.best_epoch, rule, status, reason)
    if guard.diverged:
        guard.restore()
        rule = "last finite epoch (training diverged after it)"
        return Trained(model, history, guard.last_finite_epoch, rule, status, reason)
    rule = "last epoch (no early stopping, as the thesis)"
    return Trained(model, history, len(history["loss"]) - 1, rule, status, reason)


def _evaluate(settings, trained, split):
    """Phases 4b and 5, choose the threshold (Youden's J on validation) and evaluate:
    validation and test reports at that threshold and at 0.5, with the probabilities; no
    test report (None) when ``settings.score_test`` is False."""
    p_val = finite_probability(trained.model, split.x_val, settings.batch_size, "validation")
    threshold = metrics_module.youden_threshold(split.y_val, p_val)
    evaluation = {"threshold": threshold, "p_test": None, "test": None,
                  "validation": score(split.y_val, p_val, threshold, settings.seed)}
    if settings.score_test:
        p_test = (p_val if split.x_test is split.x_val else
                  finite_probability(trained.model, split.x_test, settings.batch_size, "test"))
        evaluation.update(p_test=p_test, test=_test_report(settings, split.y_test, p_test,
                                                           threshold))
    return evaluation


def _test_report(settings, y, p, threshold):
    test = score(y, p, threshold, settings.seed)
    if settings.protocol == "thesis":
        test["note"] = "same images as validation (the thesis protocol)"
    return test


def _metrics(settings, trained, evaluation, names):
    """metrics.json's content."""
    h = trained.history
    best_acc, best_loss = int(np.nanargmax(h["val_accuracy"])), int(np.nanargmin(h["val_loss"]))
    results = {
        "preset": settings.preset, "protocol": PROTOCOLS[settings.protocol],
        "honest": settings.protocol == "honest", "threshold": evaluation["threshold"],
        "threshold_rule": "Youden's J (sensitivity + specificity - 1) maximised on validation",
        "kept_epoch": trained.kept + 1, "kept_epoch_rule": trained.kept_rule,
        "epochs_run": len(h["loss"]),
        "best_val_accuracy": {"epoch": best_acc + 1, "value": h["val_accuracy"][best_acc]},
        "best_val_loss": {"epoch": best_loss + 1, "value": h["val_loss"][best_loss]},
        "class_names": names, "positive_class": names[1],
        "validation": evaluation["validation"], "test": evaluation["test"]}
    if settings.protocol == "thesis":
        results["thesis_reported"] = {"best_val_accuracy": 0.8622, "epoch": 2,
                                      "lowest_val_loss": 0.34}
    return results


def _write(settings, run, trained, evaluation, split):
    """Phase 6, write: model.npz, metrics.json, the learning curves and, when test was
    scored, the test figures."""
    trained.model.save(run.file(runs.MODEL))
    results = _metrics(settings, trained, evaluation, split.class_names)
    run.write_json(runs.METRICS, results)
    protocol = PROTOCOLS[settings.protocol]
    plots.plot_history(trained.history, run.file("learning_curves.png"),
                       best_epoch=trained.kept, title=f"preset {settings.preset}: {protocol}")
    if evaluation["test"] is not None:
        test_figures(run.path, split.class_names, split.y_test, evaluation, protocol)
    return results


# -- training: the run ------------------------------------------------------------------------
def train_run(settings, command=None, report=None):
    """Train and evaluate one run as ``settings`` says; returns the run folder (a Path).

    command: the command line to record in config.json (default ``sys.argv``). report:
    called as ``report(run_dir, data_dir=...)`` once the run's files are written and before
    its status says done (the command line and sweeps pass
    :func:`minicnn.report.write_report`, so a kill never leaves a done run without its
    report.html); if it fails, a RuntimeWarning says so and the run stands. Raises
    FileNotFoundError (listing the places tried) when no data folder is found, before anything
    is written; RunFolderError when the output folder is taken; ValueError for unusable
    settings or data. A run that stops early records ``"status": "interrupted"`` (Ctrl-C or
    SIGTERM: after the current batch) or ``"failed"``, with the ``reason``, in its
    config.json, and keeps the checkpoint of its last finished epoch (:func:`resume_run`).
    """
    started = time.perf_counter()
    data_root = _data_folders(find_data_dir(settings.data))
    run = runs.claim(settings.out, settings.preset)
    config = {"command": command if command is not None else " ".join(sys.argv),
              "status": "running", "started": runs.now(),
              "settings": settings.to_dict(), "seed": settings.seed,
              "protocol": PROTOCOLS[settings.protocol], "data_dir": str(data_root),
              "run_dir": str(run.path.absolute()),
              "cache_dir": str(default_cache_dir().absolute()), **environment()}
    return _execute(settings, run, config, data_root, started, report)


def resume_run(run_dir, data=None, command=None, report=None):
    """Go on with an unfinished run (interrupted, failed, or killed) from its checkpoint, with
    its own settings, and finish it as :func:`train_run` would; returns the run folder.

    data: the chest_xray folder (default: the one the run used, which must still exist); its
    training and validation images must be the ones the run started with. report: as
    :func:`train_run`'s. RunFolderError when the folder has
    finished, has no checkpoint, is locked by a live run, or its checkpoint is damaged.
    With the same machine and thread count, the result is bit for bit the uninterrupted run's.
    """
    started = time.perf_counter()
    run, config = runs.reclaim(run_dir)
    try:
        saved = checkpoint.load(run.file(runs.CHECKPOINT))
        checkpoint.check_belongs(saved, config, run.path)
        data_root = _data_folders(run_data_dir(data, config.get("data_dir")))
        settings = dataclasses.replace(Settings.from_dict(saved.info.get("settings")),
                                       data=str(data_root))
    except BaseException:
        run.release()
        raise
    config.setdefault("resumed", []).append(
        {"started": runs.now(), "from_epoch": saved.epoch, "data_dir": str(data_root),
         "command": command if command is not None else " ".join(sys.argv)})
    config.update(status="running", reason=None)
    runs.remove_partial_files(run.path)
    log.info("resuming %s after epoch %d", run.path, saved.epoch)
    return _execute(settings, run, config, data_root, started, report, saved)


def _execute(settings, run, config, data_root, started, report, resume=None):
    """Run the phases in a claimed folder, write the report, and record how they ended."""
    run.write_json(runs.CONFIG, config)
    _print_start(settings, data_root)
    try:
        trained = _run_phases(settings, data_root, run, config, started, resume)
        ending = {**config, "status": trained.status, "reason": trained.reason}
        call_report(report, run.path, data_root, ending)        # before config.json says so
    except KeyboardInterrupt:
        run.finish(config, "interrupted", "stopped by Ctrl-C (SIGINT) or SIGTERM")
        raise
    except BaseException as exc:
        run.finish(config, "failed", f"{type(exc).__name__}: {exc}")
        raise
    run.finish(config, trained.status, trained.reason)
    checkpoint.remove(run.file(runs.CHECKPOINT))
    return run.path


def _run_phases(settings, data_root, run, config, started, resume=None):
    """Load, split, train, choose, evaluate, write; returns the Trained result."""
    seconds = {}
    t0 = time.perf_counter()
    split = _split(settings, *_load(settings, data_root))
    seconds["loading"] = time.perf_counter() - t0
    if resume is not None:
        _check_same_data(resume, settings, split)
    run.write_splits(split.rows)
    config.update(_split_facts(split), class_weight_values=_class_weight(settings, split))
    run.write_json(runs.CONFIG, config)
    _print_counts(config["counts"], split.class_names, seconds["loading"])
    t0 = time.perf_counter()
    trained = _choose_epoch(*_train(settings, split, run, resume))
    seconds["training"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    evaluation = _evaluate(settings, trained, split)
    results = _write(settings, run, trained, evaluation, split)
    seconds["evaluation"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - started
    config.update(threshold=evaluation["threshold"], kept_epoch=trained.kept + 1,
                  epochs_run=results["epochs_run"],
                  wall_seconds={k: round(v, 2) for k, v in seconds.items()})
    _print_results(settings, run, trained, results, seconds)
    return trained


def _split_facts(split):
    """config.json's class names, counts per folder and split, and skipped files."""
    names = split.class_names
    parts = {**split.folders, "train": split.y_train, "validation": split.y_val,
             "test": split.y_test}
    return {"class_names": names, "skipped_files": [list(s) for s in split.skipped],
            "counts": {part: _counts(y, names) for part, y in parts.items()}}


# -- training: what it prints ---------------------------------------------------------------
def _print_start(settings, data_root):
    log.info("minicnn train: preset %s, %d px, %d epochs, seed %d; data %s", settings.preset,
             settings.image_size, settings.epochs, settings.seed, data_root)
    log.info("protocol: %s", PROTOCOLS[settings.protocol])
    log.debug("settings: %s", settings.to_dict())
    if settings.protocol == "thesis":
        log.warning("the thesis protocol validates on the test sample, so its validation and "
                    "test numbers are optimistic (not an honest estimate).")


def _print_counts(counts, names, loading_s):
    log.info("images (normal/pneumonia): " + ", ".join(
        f"{k} {counts[k][names[0]]}/{counts[k][names[1]]}"
        for k in ("train", "validation", "test")) + f"; loaded in {loading_s:.1f} s")


def _print_results(settings, run, trained, results, seconds):
    s = seconds
    log.info("done in %.0f s (loading %.0f, training %.0f, evaluation %.0f)", s["total"],
             s["loading"], s["training"], s["evaluation"])
    if trained.status == "diverged":
        log.warning("%s; that epoch's weights were kept and saved.", trained.reason)
    _say(f"\nResults: preset {settings.preset}, protocol {results['protocol']}; run folder "
         f"{run.path}")
    _say(f"kept epoch {trained.kept + 1} of {results['epochs_run']} ({trained.kept_rule}); "
         f"threshold {results['threshold']:.3f} chosen on validation (Youden's J)")
    test = results["test"]
    if test is None:
        _say(format_table([("validation", results["validation"])]))
        _say(f"test/ not scored (validation only); score it once, when the settings are "
             f"chosen, with: minicnn evaluate --model {run.path}")
    else:
        _say(format_table([("validation", results["validation"]),
                           ("test @ 0.5", test["at_0.5"]), ("test @ threshold", test)]))
    if settings.protocol == "thesis":
        best = results["best_val_accuracy"]
        _say(f"best validation accuracy {best['value']:.4f} at epoch {best['epoch']} (the "
             f"thesis reported 0.8622 at epoch 2). OPTIMISTIC: validated on the test sample.")
