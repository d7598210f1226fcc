"""The X-ray training pipeline behind ``minicnn train``, ``evaluate`` and ``predict``.

A run trains the thesis CNN on the chest X-ray folder and writes a *run folder*:

- ``model.npz``: the trained model (``minicnn.load_model``);
- ``config.json``: every setting, the seed, the data folder, counts per split, versions,
  backend, wall times, and (once done) the decision threshold and kept epoch;
- ``history.csv``: loss and accuracy per epoch, training and validation;
- ``metrics.json``: ``validation`` and ``test`` sections (AUC, accuracy, sensitivity,
  specificity, precision, F1 with 95% intervals, threshold, confusion matrix), each also
  ``at_0.5``;
- ``splits.csv``: which file went to which split;
- ``learning_curves.png``, ``confusion_matrix.png``, ``roc.png``;
- ``report.html``: all of the above on one self-contained page (:mod:`minicnn.report`).

Protocols (DESIGN.md, section 6):

- *honest* (presets ``quick`` and ``full``): validation is a patient-grouped, stratified split
  of ``train/``; the epoch (early stopping) and the decision threshold (Youden's J) are chosen
  on validation only; ``test/`` is scored once, at the end, at 0.5 and at that threshold.
- *thesis* (preset ``thesis``): the thesis's samples (train 970 normal + 1,041 pneumonia,
  test 203 + 313, drawn with the seed), validated on the test sample as the thesis did. Its
  numbers are optimistic and labelled so everywhere.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime
import functools
import json
import math
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import metrics as metrics_module

__all__ = ["Settings", "PRESETS", "PROTOCOLS", "MIN_IMAGE_SIZE", "settings_for", "train_run",
           "evaluate_run", "predict_images", "load_run_model", "format_table"]

PROTOCOLS = {
    "honest": "honest (validation: patient-grouped split of train/; test/ scored once)",
    "thesis": "thesis (optimistic: validated on the test sample)",
}

#: Smallest side the thesis CNN accepts: 38 -> 36 -> 18 -> 16 -> 8 -> 6 -> 3 -> 1.
MIN_IMAGE_SIZE = 38

#: Thesis sample sizes as (normal, pneumonia).
THESIS_TRAIN = (970, 1041)
THESIS_TEST = (203, 313)


@dataclass(frozen=True)
class Settings:
    """Everything a training run depends on (recorded in config.json).

    train_per_class: at most (normal, pneumonia) training images, drawn with the seed from the
        training part; None keeps all. test_per_class: a seeded sample of ``test/`` (thesis).
    patience: early stopping on validation loss with the best epoch's weights restored; None
        runs every epoch and keeps the last weights (as the thesis did).
    rotation/shift/zoom: augmentation strengths (:func:`minicnn.data.augment_batch`; rotation
        is a fraction of a full turn, 0.03 -> +-10.8 degrees), used when ``augment``.
    """

    preset: str
    protocol: str
    image_size: int
    epochs: int
    batch_size: int = 32
    augment: bool = False
    class_weight: str = "none"
    train_per_class: tuple[int, int] | None = None
    test_per_class: tuple[int, int] | None = None
    patience: int | None = None
    val_fraction: float = 0.15
    rotation: float = 0.03
    shift: float = 0.1
    zoom: float = 0.1
    learning_rate: float = 0.001
    seed: int = 0
    data: str | None = None
    out: str | None = None

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {sorted(PROTOCOLS)}, got {self.protocol!r}")
        for name, low in (("image_size", MIN_IMAGE_SIZE), ("epochs", 1), ("batch_size", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                why = (" (the thesis CNN's four 3x3 convolutions and three 2x2 poolings need "
                       f"at least {MIN_IMAGE_SIZE} px)" if name == "image_size" else "")
                raise ValueError(f"{name} must be an integer >= {low}{why}, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.class_weight not in ("balanced", "none"):
            raise ValueError(f"class_weight must be 'balanced' or 'none', got {self.class_weight!r}")
        for name in ("train_per_class", "test_per_class"):
            value = getattr(self, name)
            if value is not None and (len(value) != 2 or min(value) < 1):
                raise ValueError(f"{name} must be None or (normal, pneumonia) counts >= 1, "
                                 f"got {value!r}")
        if self.patience is not None and self.patience < 0:
            raise ValueError(f"patience must be None or >= 0, got {self.patience}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")

    def to_dict(self):
        return dataclasses.asdict(self)


PRESETS = {
    # The honest protocol at 48 px on a seeded, class-balanced sample of at most 300 training
    # images per class (validation and test untouched): about 2 minutes on 2 busy cores,
    # decoding included.
    "quick": Settings(preset="quick", protocol="honest", image_size=48, epochs=3,
                      batch_size=32, augment=False, class_weight="balanced",
                      train_per_class=(300, 300), patience=2),
    # The thesis: its sample sizes, 150 px, batch 32, 20 epochs of Adam, validated on its test
    # sample, last epoch's weights kept.
    "thesis": Settings(preset="thesis", protocol="thesis", image_size=150, epochs=20,
                       batch_size=32, augment=False, class_weight="none",
                       train_per_class=THESIS_TRAIN, test_per_class=THESIS_TEST,
                       patience=None),
    # Everything honest: all of train/ minus the validation patients, augmentation, balanced
    # class weights, early stopping on validation loss.
    "full": Settings(preset="full", protocol="honest", image_size=150, epochs=30,
                     batch_size=32, augment=True, class_weight="balanced",
                     train_per_class=None, patience=4),
}


def settings_for(preset="quick", **overrides):
    """The preset's settings with every override that is not None applied.

    ``train_per_class`` may be an int n (n per class) or 0 (all images).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(changes) - {f.name for f in dataclasses.fields(Settings)}
    if unknown:
        raise TypeError(f"unknown settings {sorted(unknown)}")
    per_class = changes.get("train_per_class")
    if isinstance(per_class, (int, np.integer)) and not isinstance(per_class, bool):
        if per_class < 0:
            raise ValueError(f"train_per_class must be >= 0 (0 = all), got {per_class}")
        changes["train_per_class"] = None if per_class == 0 else (int(per_class),) * 2
    return dataclasses.replace(PRESETS[preset], **changes)


# -- helpers ------------------------------------------------------------------------------
def _log(message=""):
    print(message, flush=True)


def _versions():
    import numba
    import scipy
    import skimage
    import sklearn

    from . import __version__
    return {"python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__, "scikit-image": skimage.__version__,
            "minicnn": __version__}


def _machine():
    return {"platform": platform.platform(), "processor": platform.machine(),
            "cpu_count": os.cpu_count(), "numba_threads": _numba_threads()}


def _numba_threads():
    try:
        import numba
        return int(numba.get_num_threads())
    except Exception:  # pragma: no cover - numba without threading layer
        return None


def _write_json(path, data):
    from .io import atomic_write
    atomic_write(path, (json.dumps(data, indent=2, allow_nan=False, default=_json_default)
                        + "\n").encode("utf-8"))


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _make_run_dir(settings):
    if settings.out:
        run_dir = Path(settings.out)
        if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
            raise ValueError(f"output folder {run_dir} already exists and is not empty; "
                             f"choose another --out")
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{settings.preset}-{stamp}"
        run_dir, n = base, 1
        while run_dir.exists():
            n += 1
            run_dir = base.with_name(f"{base.name}-{n}")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _data_folders(settings):
    from .data import find_data_dir
    root = find_data_dir(settings.data).resolve()
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise FileNotFoundError(f"{root} has no {split}/ folder; expected "
                                    f"chest_xray/{{train,test}}/{{NORMAL,PNEUMONIA}}/")
    return root


def _counts(y, class_names):
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(class_names))
    return {**{name: int(c) for name, c in zip(class_names, counts)}, "total": int(counts.sum())}


def _capped_sample(y, per_class, rng, what):
    """Seeded stratified sample of at most per_class[c] indices of each class c."""
    from .data import stratified_sample
    available = np.bincount(y, minlength=len(per_class))
    wanted = {c: int(min(k, available[c])) for c, k in enumerate(per_class)}
    if any(wanted[c] < k for c, k in enumerate(per_class)):
        _log(f"note: {what}: asked for {tuple(per_class)} images per class, only "
             f"{tuple(int(a) for a in available)} available; using {tuple(wanted.values())}")
    return stratified_sample(y, wanted, rng)


def _probability(model, x, batch_size):
    """P(pneumonia) for x (N, S, S, 1): column 1 of the softmax output."""
    return model.predict(x, batch_size=batch_size)[:, 1].astype(np.float64)


def _cross_entropy(y, p):
    p = np.clip(np.where(np.asarray(y) == 1, p, 1 - p), 1e-7, 1.0)
    return float(-np.mean(np.log(p)))


def _report(y, p, threshold, seed):
    """binary_report at ``threshold`` with the report at 0.5 under "at_0.5" and the loss."""
    report = metrics_module.binary_report(y, p, threshold=threshold, seed=seed)
    report["loss"] = _cross_entropy(y, p)
    report["at_0.5"] = metrics_module.binary_report(y, p, threshold=0.5, seed=seed)
    return report


def _fmt(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_table(rows):
    """A small text table of (name, report) rows: threshold, n, AUC [95% CI], accuracy,
    sensitivity, specificity, from :func:`minicnn.metrics.binary_report` dicts."""
    head = ("set", "threshold", "n", "AUC [95% CI]", "accuracy", "sensitivity", "specificity")
    lines = [head]
    for name, r in rows:
        lo, hi = r["auc_ci"]
        lines.append((name, _fmt(r["threshold"]), str(r["n"]),
                      f"{_fmt(r['auc'])} [{_fmt(lo)}, {_fmt(hi)}]", _fmt(r["accuracy"]),
                      _fmt(r["sensitivity"]), _fmt(r["specificity"])))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                     for line in lines)


def _write_splits(path, parts):
    """splits.csv: one row per file of train/ and test/ with its label and split."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "split"])
        for paths, labels, splits in parts:
            for p, label, split in zip(paths, labels, splits):
                writer.writerow([p, int(label), split])


# -- training -----------------------------------------------------------------------------
def train_run(settings, command=None):
    """Train and evaluate one run as ``settings`` says; returns the run folder (a Path).

    command: the command line to record in config.json (default ``sys.argv``). Raises
    FileNotFoundError (listing the places tried) when no data folder is found, before anything
    is written, and ValueError for unusable settings or data. A run that fails after its
    folder was made is marked ``"status": "failed: ..."`` in its config.json. A finished run
    ends by writing report.html; if that fails, a RuntimeWarning says so and the run stands.
    """
    from . import get_backend
    from .data import default_cache_dir

    started = time.perf_counter()
    data_root = _data_folders(settings)
    run_dir = _make_run_dir(settings)
    protocol = PROTOCOLS[settings.protocol]
    config = {"command": command if command is not None else " ".join(sys.argv),
              "status": "running",
              "started": datetime.datetime.now().isoformat(timespec="seconds"),
              "settings": settings.to_dict(), "seed": settings.seed, "protocol": protocol,
              "data_dir": str(data_root), "run_dir": str(run_dir.absolute()),
              "cache_dir": str(default_cache_dir().absolute()),
              "versions": _versions(), "backend": get_backend(),
              "machine": _machine()}
    _write_json(run_dir / "config.json", config)
    _log(f"minicnn train: preset {settings.preset}, {settings.image_size} px, "
         f"{settings.epochs} epochs, seed {settings.seed}; data {data_root}")
    _log(f"protocol: {protocol}")
    if settings.protocol == "thesis":
        _log("WARNING: the thesis protocol validates on the test sample, so its validation "
             "and test numbers are optimistic (not an honest estimate).")
    try:
        _train_and_evaluate(settings, data_root, run_dir, config, started)
    except BaseException as exc:
        config["status"] = f"failed: {type(exc).__name__}: {exc}"
        _write_json(run_dir / "config.json", config)
        raise
    _write_report(run_dir, data_root)
    return run_dir


def _write_report(run_dir, data_root):
    """report.html for a finished run; a failure only warns (the run itself is complete)."""
    try:
        from .report import write_report
        path = write_report(run_dir, data_dir=data_root)
    except Exception as exc:  # the report is a convenience; never lose a finished run to it
        warnings.warn(f"the run is complete, but its report.html could not be written "
                      f"({type(exc).__name__}: {exc}); retry with: minicnn report {run_dir}",
                      RuntimeWarning, stacklevel=2)
        return None
    _log(f"report: {path}")
    return path


def _train_and_evaluate(settings, data_root, run_dir, config, started):
    """The body of :func:`train_run`: load, split, train, evaluate, write, print."""
    from .callbacks import CSVLogger, EarlyStopping
    from .data import (augment_batch, class_weights_balanced, load_image_folder, patient_id,
                       train_val_split)
    from .models import thesis_cnn
    from .optimizers import Adam

    protocol = config["protocol"]
    # Loading (decoded arrays are cached, so later runs skip the decoding).
    t0 = time.perf_counter()
    train_ds = load_image_folder(data_root / "train", settings.image_size)
    test_ds = load_image_folder(data_root / "test", settings.image_size)
    names = train_ds.class_names
    loading_s = time.perf_counter() - t0

    # Splits.
    seeds = np.random.SeedSequence(settings.seed).spawn(2)
    if settings.protocol == "honest":
        groups = np.array([patient_id(p) for p in train_ds.paths])
        tr, va = train_val_split(train_ds.y, groups, settings.val_fraction, settings.seed)
        if settings.train_per_class is not None:
            tr = tr[_capped_sample(train_ds.y[tr], settings.train_per_class,
                                   np.random.default_rng(seeds[0]), "training sample")]
        te = np.arange(len(test_ds))
        if settings.test_per_class is not None:
            te = _capped_sample(test_ds.y, settings.test_per_class,
                                np.random.default_rng(seeds[1]), "test sample")
        x_val, y_val = train_ds.x[va], train_ds.y[va]
        train_split = np.full(len(train_ds), "unused", dtype=object)
        train_split[tr], train_split[va] = "train", "validation"
        test_split = np.full(len(test_ds), "unused", dtype=object)
        test_split[te] = "test"
    else:
        per_class = settings.train_per_class or tuple(np.bincount(train_ds.y, minlength=2))
        tr = _capped_sample(train_ds.y, per_class, np.random.default_rng(seeds[0]),
                            "thesis training sample")
        te = (np.arange(len(test_ds)) if settings.test_per_class is None else
              _capped_sample(test_ds.y, settings.test_per_class,
                             np.random.default_rng(seeds[1]), "thesis test sample"))
        x_val, y_val = test_ds.x[te], test_ds.y[te]
        train_split = np.full(len(train_ds), "unused", dtype=object)
        train_split[tr] = "train"
        test_split = np.full(len(test_ds), "unused", dtype=object)
        test_split[te] = "test+validation"
    x_train, y_train = train_ds.x[tr], train_ds.y[tr]
    if settings.protocol == "thesis":         # one array: validation is the test sample
        x_test, y_test = x_val, y_val
    else:
        x_test, y_test = test_ds.x[te], test_ds.y[te]
    for what, y in (("validation", y_val), ("test", y_test), ("training", y_train)):
        if len(np.unique(y)) < 2:
            raise ValueError(f"the {what} set holds only class {names[int(y[0])]!r} "
                             f"({len(y)} images); the data folder is too small for this run")
    _write_splits(run_dir / "splits.csv", [(train_ds.paths, train_ds.y, train_split),
                                           (test_ds.paths, test_ds.y, test_split)])
    config["counts"] = {"train_folder": _counts(train_ds.y, names),
                        "test_folder": _counts(test_ds.y, names),
                        "train": _counts(y_train, names),
                        "validation": _counts(y_val, names),
                        "test": _counts(y_test, names)}
    config["skipped_files"] = [list(s) for s in train_ds.skipped + test_ds.skipped]
    config["class_names"] = names
    _log("images (normal/pneumonia): " + ", ".join(
        f"{k} {v[names[0]]}/{v[names[1]]}" for k, v in config["counts"].items()
        if k in ("train", "validation", "test")) + f"; loaded in {loading_s:.1f} s")

    # Model and training.
    model = thesis_cnn((settings.image_size, settings.image_size, 1), 2, settings.seed)
    model.compile(Adam(settings.learning_rate), "sparse_categorical_crossentropy", ["accuracy"])
    class_weight = class_weights_balanced(y_train) if settings.class_weight == "balanced" else None
    config["class_weight_values"] = class_weight
    callbacks = [CSVLogger(run_dir / "history.csv")]
    stopper = None
    if settings.patience is not None:
        stopper = EarlyStopping("val_loss", patience=settings.patience,
                                restore_best_weights=True)
        callbacks.append(stopper)
    augment = (functools.partial(augment_batch, rotation=settings.rotation,
                                 shift=settings.shift, zoom=settings.zoom)
               if settings.augment else None)
    _write_json(run_dir / "config.json", config)
    t0 = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=settings.batch_size,
                        epochs=settings.epochs, validation_data=(x_val, y_val),
                        class_weight=class_weight, callbacks=callbacks, seed=settings.seed,
                        augment=augment)
    training_s = time.perf_counter() - t0
    h = history.history
    if not h.get("loss"):
        raise ValueError("training stopped in its first epoch (the loss was not finite); "
                         "no model to evaluate")
    epochs_run = len(h["loss"])
    if stopper is not None and stopper.best_epoch is not None:
        kept = stopper.best_epoch
        kept_rule = "lowest validation loss (early stopping, best weights restored)"
    else:
        kept = epochs_run - 1
        kept_rule = "last epoch (no early stopping, as the thesis)"
    model.save(run_dir / "model.npz")

    # Evaluation: threshold on validation, test scored once.
    t0 = time.perf_counter()
    p_val = _probability(model, x_val, settings.batch_size)
    threshold = metrics_module.youden_threshold(y_val, p_val)
    p_test = p_val if x_test is x_val else _probability(model, x_test, settings.batch_size)
    validation = _report(y_val, p_val, threshold, settings.seed)
    test = _report(y_test, p_test, threshold, settings.seed)
    if settings.protocol == "thesis":
        test["note"] = "same images as validation (the thesis protocol)"
    best_acc = int(np.argmax(h["val_accuracy"]))
    best_loss = int(np.argmin(h["val_loss"]))
    results = {
        "preset": settings.preset, "protocol": protocol,
        "honest": settings.protocol == "honest",
        "threshold": threshold,
        "threshold_rule": "Youden's J (sensitivity + specificity - 1) maximised on validation",
        "kept_epoch": kept + 1, "kept_epoch_rule": kept_rule, "epochs_run": epochs_run,
        "best_val_accuracy": {"epoch": best_acc + 1, "value": h["val_accuracy"][best_acc]},
        "best_val_loss": {"epoch": best_loss + 1, "value": h["val_loss"][best_loss]},
        "class_names": names, "positive_class": names[1],
        "validation": validation, "test": test,
    }
    if settings.protocol == "thesis":
        results["thesis_reported"] = {"best_val_accuracy": 0.8622, "epoch": 2,
                                      "lowest_val_loss": 0.34}
    _write_json(run_dir / "metrics.json", results)

    from . import plots
    plots.plot_history(h, run_dir / "learning_curves.png", best_epoch=kept,
                       title=f"preset {settings.preset}: {protocol}")
    cm_title = f"test, threshold {threshold:.3f} (chosen on validation)"
    plots.plot_confusion_matrix(np.array(test["confusion_matrix"]), names,
                                run_dir / "confusion_matrix.png", title=cm_title)
    plots.plot_roc(y_test, p_test, run_dir / "roc.png", threshold=threshold,
                   title="test ROC" + (" (thesis: test = validation)"
                                       if settings.protocol == "thesis" else ""))
    evaluation_s = time.perf_counter() - t0

    config.update(status="done", threshold=threshold, kept_epoch=kept + 1,
                  epochs_run=epochs_run,
                  finished=datetime.datetime.now().isoformat(timespec="seconds"),
                  wall_seconds={"loading": round(loading_s, 2), "training": round(training_s, 2),
                                "evaluation": round(evaluation_s, 2),
                                "total": round(time.perf_counter() - started, 2)})
    _write_json(run_dir / "config.json", config)

    total_s = config["wall_seconds"]["total"]
    _log(f"\ndone in {total_s:.0f} s (loading {loading_s:.0f}, training {training_s:.0f}, "
         f"evaluation {evaluation_s:.0f}); run folder {run_dir}")
    _log(f"\nResults: preset {settings.preset}, protocol {protocol}")
    _log(f"kept epoch {kept + 1} of {epochs_run} ({kept_rule}); threshold {threshold:.3f} "
         f"chosen on validation (Youden's J)")
    _log(format_table([("validation", validation), ("test @ 0.5", test["at_0.5"]),
                       ("test @ threshold", test)]))
    if settings.protocol == "thesis":
        _log(f"best validation accuracy {h['val_accuracy'][best_acc]:.4f} at epoch "
             f"{best_acc + 1} (the thesis reported 0.8622 at epoch 2). OPTIMISTIC: validated "
             f"on the test sample.")


# -- using a trained model ----------------------------------------------------------------
def load_run_model(ref):
    """``(model, info)`` from a run folder or a model file.

    info: threshold (the run's, or 0.5 for a bare model file), image_size, class_names,
    protocol and run_dir (None for a bare model file).
    """
    from .model import load_model
    ref = Path(ref)
    if ref.is_dir():
        model_path = ref / "model.npz"
        if not model_path.is_file():
            raise FileNotFoundError(f"{ref} is not a run folder: it has no model.npz")
        model = load_model(model_path)
        config = {}
        if (ref / "config.json").is_file():
            config = json.loads((ref / "config.json").read_text())
        threshold = config.get("threshold")
        if threshold is None:
            warnings.warn(f"{ref / 'config.json'} records no threshold (unfinished run?); "
                          f"using 0.5", stacklevel=2)
            threshold = 0.5
        info = {"threshold": float(threshold), "run_dir": ref,
                "class_names": config.get("class_names", ["NORMAL", "PNEUMONIA"]),
                "protocol": config.get("protocol"),
                "image_size": config.get("settings", {}).get("image_size")}
    elif ref.is_file():
        model = load_model(ref)
        info = {"threshold": 0.5, "run_dir": None, "class_names": ["NORMAL", "PNEUMONIA"],
                "protocol": None, "image_size": None}
    else:
        raise FileNotFoundError(f"no run folder or model file at {ref}")
    shape = model.input_shape
    if len(shape) != 3 or shape[0] != shape[1] or shape[2] != 1:
        raise ValueError(f"the model expects inputs of shape {shape}; minicnn runs use square "
                         f"gray images (S, S, 1)")
    if info["image_size"] not in (None, shape[0]):
        warnings.warn(f"config.json says image size {info['image_size']}, the model expects "
                      f"{shape[0]}; using {shape[0]}", stacklevel=2)
    info["image_size"] = int(shape[0])
    return model, info


def evaluate_run(ref, data=None, batch_size=32):
    """Score a run folder's (or model file's) model on the whole ``test/`` folder.

    Reports at the run's threshold and at 0.5; returns ``{"model", "threshold", "data_dir",
    "test"}`` and prints a table.
    """
    from .data import find_data_dir, load_image_folder
    model, info = load_run_model(ref)
    root = find_data_dir(data).resolve()
    if not (root / "test").is_dir():
        raise FileNotFoundError(f"{root} has no test/ folder")
    ds = load_image_folder(root / "test", info["image_size"])
    if len(np.unique(ds.y)) < 2:
        raise ValueError(f"{root / 'test'} holds only one class; AUC and specificity need both")
    p = _probability(model, ds.x, batch_size)
    report = _report(ds.y, p, info["threshold"], seed=0)
    _log(f"minicnn evaluate: {ref} on {root / 'test'} ({info['image_size']} px)")
    if info["protocol"] and info["protocol"].startswith("thesis"):
        _log("note: this run followed the thesis protocol; its threshold was chosen on a test "
             "sample, so the numbers at that threshold are optimistic.")
    source = "the run's, chosen on validation" if info["run_dir"] else "a bare model file"
    _log(f"threshold {info['threshold']:.3f} ({source})")
    _log(format_table([("test @ 0.5", report["at_0.5"]), ("test @ threshold", report)]))
    return {"model": str(ref), "threshold": info["threshold"], "data_dir": str(root),
            "test": report}


def predict_images(ref, paths, batch_size=32):
    """P(pneumonia) and label for each image file, with the run's threshold.

    Returns ``(results, info)``: results holds one dict per path, in order, ``{"path",
    "probability", "label", "error"}`` (a file that cannot be read gets ``error``, its
    message, and None for the others; the rest are still predicted); info is
    :func:`load_run_model`'s (threshold, image_size, ...).
    """
    from .data import decode_image, preprocess_image
    model, info = load_run_model(ref)
    size, threshold, names = info["image_size"], info["threshold"], info["class_names"]
    results, images, slots = [], [], []
    for path in paths:
        entry = {"path": str(path), "probability": None, "label": None, "error": None}
        try:
            if not os.path.isfile(path):
                raise FileNotFoundError("no such file")
            images.append(preprocess_image(decode_image(path), size))
            slots.append(len(results))
        except Exception as exc:  # any unreadable file: report it, go on with the others
            entry["error"] = f"{type(exc).__name__}: {exc}"
        results.append(entry)
    if images:
        p = _probability(model, np.stack(images), batch_size)
        for i, prob in zip(slots, p):
            results[i]["probability"] = float(prob)
            results[i]["label"] = names[1] if prob >= threshold else names[0]
    return results, info
