"""``minicnn ensemble``: several finished runs as one model that averages their probabilities.

The members are run folders, or ``SWEEP_DIR/SETTING`` for every run of one setting of a sweep
(its seeds). They must agree on what a prediction means: the image size, the equalisation,
the protocol, the class names and the validation images (an image one member validated on
must not be another's training image, or the ensemble's validation would be optimistic; a
sweep gives its seeds one validation set with ``--set split_seed=N``).

The ensemble's P(pneumonia) is the mean of its members' (:class:`minicnn.model.Ensemble`);
its threshold is Youden's J on that mean over the shared validation images, the rule a single
run uses. It is written as a run folder (config.json with ``"kind": "ensemble"`` and the
member folders, metrics.json, splits.csv, report.html; no model.npz: the members hold the
weights) that ``minicnn evaluate``, ``predict``, ``report`` and ``explore`` accept; test/ is
not scored until ``minicnn evaluate --model RUN`` scores it once, as for a validation-only
run.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

from . import metrics as metrics_module
from . import runs
from .adapt import run_training_prior
from .data import run_data_dir
from .data.loader import load_files
from .model import Ensemble
from .pipeline import environment
from .scoring import call_report, finite_probability, score
from .settings import PROTOCOLS
from .sweep_results import SWEEP
from .validation import RunFolderError

__all__ = ["member_folders", "build_ensemble"]

#: splits.csv's names of the images a run validated on (honest; thesis).
VALIDATION_SPLITS = ("validation", "test+validation")


def member_folders(refs):
    """The run folders (Paths) that ``refs`` name, in order: a run folder itself, or
    ``SWEEP_DIR/SETTING`` (a setting of a sweep folder: every run of it, in sweep.json's
    order). FileNotFoundError for anything else; RunFolderError when a setting has runs that
    are not finished."""
    folders = []
    for ref in map(Path, refs):
        if (ref / runs.CONFIG).is_file():
            folders.append(ref)
        elif (ref.parent / SWEEP).is_file():
            folders += _setting_runs(ref.parent, ref.name)
        else:
            raise FileNotFoundError(f"{ref} is neither a run folder (no {runs.CONFIG}) nor "
                                    f"SWEEP_DIR/SETTING (no {ref.parent / SWEEP})")
    return folders


def _setting_runs(sweep_dir, setting):
    plan = runs.read_json(sweep_dir / SWEEP)
    names = [entry["run"] for entry in plan["runs"] if entry["setting"] == setting]
    if not names:
        known = sorted({entry["setting"] for entry in plan["runs"]})
        raise FileNotFoundError(f"sweep {sweep_dir} has no setting {setting!r}; its settings: "
                                f"{', '.join(known)}")
    folders = [sweep_dir / "runs" / name for name in dict.fromkeys(names)]
    unfinished = [f.name for f in folders if not (f / runs.CONFIG).is_file()
                  or runs.run_status(f)[0] not in runs.FINISHED]
    if unfinished:
        raise RunFolderError(f"{sweep_dir}/{setting}: runs not finished: "
                             f"{', '.join(unfinished)}; an ensemble needs all of them")
    return folders


# -- the members must agree ---------------------------------------------------------------
def _facts(run_dir, info, config):
    """What the members of an ensemble must share, by name."""
    validation = runs.validation_files(run_dir, config, config.get("data_dir") or "",
                                       VALIDATION_SPLITS)
    return {"image size": info["image_size"], "equalisation": info["equalize"],
            "protocol": info["protocol"], "class names": info["class_names"],
            "data folder": config.get("data_dir"), "validation split": sorted(validation)}


def _check_alike(folders, infos, configs):
    """RunFolderError naming the first fact two members differ in."""
    for folder, config in zip(folders, configs):
        if config.get("kind") == runs.ENSEMBLE:
            raise RunFolderError(f"{folder} is an ensemble itself; give its members instead")
    first = _facts(folders[0], infos[0], configs[0])
    for folder, info, config in zip(folders[1:], infos[1:], configs[1:]):
        facts = _facts(folder, info, config)
        for what, value in first.items():
            if facts[what] == value:
                continue
            if what == "validation split":
                raise RunFolderError(
                    f"the members validated on different images: {folders[0]} and {folder} "
                    f"({len(value)} and {len(facts[what])} validation images, "
                    f"{len(set(value) & set(facts[what]))} shared); one member's validation "
                    f"images are another's training images, so the ensemble has no honest "
                    f"validation set. Train the members on one split (a sweep with --set "
                    f"split_seed=N)")
            raise RunFolderError(f"the members differ in {what}: {value!r} ({folders[0]}) "
                                 f"and {facts[what]!r} ({folder}); an ensemble's members must "
                                 f"share it")


# -- building one -------------------------------------------------------------------------
def build_ensemble(refs, out=None, data=None, command=None, report=None):
    """Write the run folder of the ensemble of the runs ``refs`` names (see
    :func:`member_folders`; at least two) to ``out`` (new or empty; None: runs/ensemble-
    <timestamp>) and return its path. data: the chest_xray folder the validation images are
    read from (default: the members'). report: as :func:`minicnn.pipeline.train_run`'s."""
    folders = [f.absolute() for f in member_folders(refs)]
    if len(folders) < 2:
        raise ValueError(f"an ensemble needs at least 2 runs, got {len(folders)}")
    twice = sorted({str(f) for f in folders if folders.count(f) > 1})
    if twice:
        raise ValueError(f"a run is named twice among the members: {', '.join(twice)}; each "
                         f"member counts once")
    loaded = [runs.load_run(folder) for folder in folders]
    configs = [runs.read_config(folder) for folder in folders]
    infos = [info for _, info in loaded]
    _check_alike(folders, infos, configs)
    model = Ensemble([member for member, _ in loaded])
    settings = {**configs[0]["settings"], "out": None}
    batch_size, seed = settings.get("batch_size", 32), configs[0].get("seed", 0)
    root = run_data_dir(data, configs[0].get("data_dir"))
    files = runs.validation_files(folders[0], configs[0], root, VALIDATION_SPLITS)
    ds = load_files(root, files, infos[0]["class_names"], infos[0]["image_size"],
                    progress=False, strict=True, equalize=infos[0]["equalize"])
    x, y = ds.x, ds.y
    p = finite_probability(model, x, batch_size, "validation")
    threshold = metrics_module.youden_threshold(y, p)
    run = runs.claim(out, runs.ENSEMBLE)
    settings["out"] = str(run.path)
    config = {"kind": runs.ENSEMBLE, "members": [str(f) for f in folders],
              "member_seeds": [c.get("seed") for c in configs],
              "member_training_priors": [run_training_prior(c) for c in configs],
              "command": command if command is not None else " ".join(sys.argv),
              "status": "running", "started": runs.now(), "settings": settings, "seed": seed,
              "protocol": configs[0].get("protocol"), "data_dir": configs[0].get("data_dir"),
              "run_dir": str(run.path.absolute()), "class_names": infos[0]["class_names"],
              "threshold": threshold, **environment()}
    run.write_json(runs.CONFIG, config)
    run.write_splits(_splits(folders))
    run.write_json(runs.METRICS, _metrics(configs[0], infos[0], threshold,
                                          score(y, p, threshold, seed), len(folders)))
    call_report(report, run.path, root, {**config, "status": "done"})
    run.finish(config, "done")
    return run.path


def _splits(folders):
    """splits.csv's rows: each file's split as the members share it; "train" when any
    member trained on it."""
    table = {}
    for folder in folders:
        with open(folder / runs.SPLITS, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                key = (row["path"], int(row["label"]))
                if table.get(key) != "train":
                    table[key] = row["split"]
    return [(path, label, split) for (path, label), split in table.items()]


def _metrics(config, info, threshold, validation, n_members):
    """metrics.json of an ensemble: its validation report; test/ not scored yet."""
    honest = (config.get("settings") or {}).get("protocol") == "honest"
    return {"kind": runs.ENSEMBLE, "members": n_members,
            "preset": (config.get("settings") or {}).get("preset"),
            "protocol": info["protocol"] or PROTOCOLS["honest"], "honest": honest,
            "threshold": threshold,
            "threshold_rule": "Youden's J (sensitivity + specificity - 1) maximised on "
                              "validation, on the members' mean probability",
            "class_names": info["class_names"], "positive_class": info["class_names"][1],
            "validation": validation, "test": None}
