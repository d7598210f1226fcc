"""Scoring a trained model: the reports of a run's probabilities, its test figures, and
``minicnn evaluate`` and ``minicnn predict`` on a finished run folder or a model file.

The training pipeline (:mod:`minicnn.pipeline`) scores validation and test with the same
functions, so a run's numbers and a later ``minicnn evaluate`` of it agree to the bit.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import sys
import warnings
from pathlib import Path

import numpy as np

from . import adapt as adapt_module
from . import metrics as metrics_module
from . import logs, plots, runs
from .data import (decode_image, file_problem, load_image_folder, load_unlabeled,
                   preprocess_image, run_data_dir, training_augmenter)
from .io import atomic_write
from .metrics import format_table
from .settings import PROTOCOLS, Settings
from .validation import DataError

__all__ = ["score", "finite_probability", "test_figures", "call_report", "evaluate_run",
           "predict_images", "format_predictions", "PREDICT_FORMATS"]


log = logging.getLogger(__name__)


def _say(message=""):
    """A result (scores, a file written) on stdout; what happens on the way goes to ``log``."""
    print(message, flush=True)


def score(y, p, threshold, seed):
    """binary_report of labels y (N,) and P(pneumonia) p (N,) at ``threshold``, with the
    report at 0.5 under "at_0.5" and the cross-entropy ``loss`` of p."""
    scores = metrics_module.binary_report(y, p, threshold=threshold, seed=seed)
    q = np.clip(np.where(np.asarray(y) == 1, p, 1 - p), 1e-7, 1.0)
    scores["loss"] = float(-np.mean(np.log(q)))
    scores["at_0.5"] = metrics_module.binary_report(y, p, threshold=0.5, seed=seed)
    return scores


def finite_probability(model, x, batch_size, what):
    """P(pneumonia) (N,) for x, or a ValueError when any is not finite."""
    p = runs.pneumonia_probability(model, x, batch_size)
    if not np.isfinite(p).all():
        raise ValueError(f"the model gives non-finite probabilities for "
                         f"{int((~np.isfinite(p)).sum())} of {len(p)} {what} images; its "
                         f"weights are damaged (diverged training?)")
    return p


def test_figures(run_dir, class_names, y_test, evaluation, protocol):
    """confusion_matrix.png and roc.png of the test scores, at the validation threshold."""
    threshold = evaluation["threshold"]
    plots.plot_confusion_matrix(np.array(evaluation["test"]["confusion_matrix"]), class_names,
                                Path(run_dir) / "confusion_matrix.png",
                                title=f"test, threshold {threshold:.3f} (chosen on validation)")
    plots.plot_roc(y_test, evaluation["p_test"], Path(run_dir) / "roc.png", threshold=threshold,
                   title="test ROC" + (" (thesis: test = validation)"
                                       if protocol == PROTOCOLS["thesis"] else ""))


def call_report(report, run_dir, data_root, config=None):
    """Call ``report(run_dir, data_dir=data_root, config=config)`` (e.g.
    :func:`minicnn.report.write_report`: report.html) for a run whose files are written;
    config: the run's config as about to be recorded (None: as config.json says). None does
    nothing, and a failure only warns (the run itself is complete)."""
    if report is None:
        return None
    try:
        path = report(run_dir, data_dir=data_root, config=config)
    except Exception as exc:  # the report is a convenience; never lose a finished run to it
        warnings.warn(f"the run is complete, but its report.html could not be written "
                      f"({type(exc).__name__}: {exc}); retry with: minicnn report --model "
                      f"{run_dir}",
                      RuntimeWarning, stacklevel=2)
        return None
    _say(f"report: {path}")
    return path


# -- a finished run or a model file ------------------------------------------------------
def evaluate_run(ref, data=None, batch_size=32, report=None, adapt=(), tta=0,
                 predictions=None):
    """Score a run folder's (or model file's) model on the whole ``test/`` folder of
    ``data`` (default: the run's own chest_xray folder, else the usual places).

    adapt: methods of :func:`minicnn.adapt.parse_adapt` ("bn", "prior"), tta: draws of the
    run's training augmentations to average, predictions: a CSV file to write; with any of
    them the adapted scores are computed too (:func:`_evaluate_adapted`) and returned under
    ``"adapted"``; without them, the behaviour below is unchanged.

    Reports at the run's threshold and at 0.5; returns ``{"model", "threshold", "data_dir",
    "test", "recorded"}`` and prints a table. A run trained with ``score_test=False`` gets
    these scores written into its metrics.json, with the test figures (and a new report.html
    by ``report``, as :func:`minicnn.pipeline.train_run`'s) (``recorded`` True); that happens
    once: later calls only print. FileNotFoundError when the run's data folder is gone and no
    ``data`` is given: never a silent fall-back to other images.
    """
    model, info = runs.load_run(ref)
    config = runs.read_config(Path(info["run_dir"])) if info["run_dir"] else {}
    _refuse_impossible_adaptation(model, config, adapt, tta)
    root = run_data_dir(data, config.get("data_dir")).resolve()
    if not (root / "test").is_dir():
        raise FileNotFoundError(f"{root} has no test/ folder")
    ds = load_image_folder(root / "test", info["image_size"], equalize=info["equalize"],
                           progress=logs.shows_progress(log))
    if len(np.unique(ds.y)) < 2:
        raise DataError(f"{root / 'test'} holds only one class; AUC and specificity need both")
    settings, metrics = _unscored_run(info["run_dir"], config) or (None, None)
    seed = 0
    if settings is not None:                  # score as the run itself would have
        batch_size, seed = settings.batch_size, settings.seed
    p = finite_probability(model, ds.x, batch_size, "test")
    scores = score(ds.y, p, info["threshold"], seed=seed)
    log.info("minicnn evaluate: %s on %s (%d px)", ref, root / "test", info["image_size"])
    if info["protocol"] and info["protocol"].startswith("thesis"):
        log.warning("this run followed the thesis protocol; its threshold was chosen on a test "
                    "sample, so the numbers at that threshold are optimistic.")
    source = "the run's, chosen on validation" if info["run_dir"] else "a bare model file"
    _say(f"threshold {info['threshold']:.3f} ({source})")
    _say(format_table([("test @ 0.5", scores["at_0.5"]), ("test @ threshold", scores)]))
    if settings is not None:
        _record_test(info, metrics, ds, p, scores, root, report)
    result = {"model": str(ref), "threshold": info["threshold"], "data_dir": str(root),
              "test": scores, "recorded": settings is not None}
    if adapt or tta or predictions is not None:
        how = {"methods": tuple(adapt), "tta": int(tta), "batch_size": batch_size,
               "seed": seed, "predictions": predictions}
        result["adapted"] = _evaluate_adapted(model, info, config, root, ds, scores, how)
    return result


def _unscored_run(run_dir, config):
    """(settings, metrics) of a run folder (its config.json: ``config``) trained with
    score_test=False whose test scores are not recorded yet; None otherwise (a model file,
    or test already scored)."""
    if run_dir is None:
        return None
    metrics = runs.read_json(Path(run_dir) / runs.METRICS, required=False)
    if not runs.test_not_scored(metrics):
        return None
    return Settings.from_dict(config.get("settings")), metrics


def _record_test(info, metrics, ds, p, scores, root, report):
    """Write a validation-only run's test scores: metrics.json, the figures, report.html."""
    run_dir = Path(info["run_dir"])
    metrics.update(test=scores, test_scored={"at": runs.now(), "data_dir": str(root),
                                             "command": " ".join(sys.argv)})
    runs.RunFolder(run_dir).write_json(runs.METRICS, metrics)
    test_figures(run_dir, info["class_names"], ds.y,
                  {"threshold": info["threshold"], "test": scores, "p_test": p},
                  metrics.get("protocol"))
    call_report(report, run_dir, root)
    _say(f"recorded in {run_dir / runs.METRICS} (test/ is now scored for this run)")


# -- adapted to test/ without its labels (docs/shift.md) ------------------------------------
def _refuse_impossible_adaptation(model, config, methods, tta):
    """ValueError for an adaptation this model or run cannot have, before any image is read."""
    if "bn" in methods:
        adapt_module.batchnorm_layers(model)
    if "prior" in methods and adapt_module.run_training_prior(config) is None:
        priors = config.get("member_training_priors")
        raise ValueError(adapt_module.NO_TRAINING_PRIOR if priors is None else
                         adapt_module.MEMBERS_DIFFER.format(", ".join(map(str, priors))))
    if tta and not config.get("settings"):
        raise ValueError(TTA_NEEDS_RUN)
    if tta and training_augmenter(Settings.from_dict(config["settings"])) is None:
        raise ValueError(adapt_module.NO_AUGMENTATION)


TTA_NEEDS_RUN = "--tta needs a run folder (its training augmentations), not a bare model file"


def _adapted_test_probability(model, info, config, root, how):
    """(the unlabeled test images, minicnn.adapt.adapted_probability's result, the seed of
    the test-time augmentation or None) for test/ read without labels
    (:func:`minicnn.data.load_unlabeled`): nothing here sees a label."""
    settings = Settings.from_dict(config["settings"]) if config.get("settings") else None
    if how["tta"] and settings is None:
        raise ValueError(TTA_NEEDS_RUN)
    images = load_unlabeled(root / "test", info["image_size"], equalize=info["equalize"])
    augment = training_augmenter(settings) if settings is not None else None
    tta_seed = settings.seed if how["tta"] else None
    result = adapt_module.adapted_probability(
        model, images.x, how["methods"], how["tta"], adapt_module.run_training_prior(config),
        augment, tta_seed, how["batch_size"])
    return images, result, tta_seed


def _evaluate_adapted(model, info, config, root, ds, unadapted, how):
    """Score the adapted test probabilities at the run's threshold, print them, write
    ``metrics-adapt-NAME.json`` into a run folder (never metrics.json) and, when asked, the
    predictions CSV; returns the adapted file's content."""
    images, result, tta_seed = _adapted_test_probability(model, info, config, root, how)
    label_of = dict(zip(ds.paths, ds.y))               # labels only to score, afterwards
    y = np.array([label_of[path] for path in images.paths])
    threshold = info["threshold"]
    scores = score(y, result["p_adapted"], threshold, seed=how["seed"])
    name = adapt_module.adapt_name(how["methods"], how["tta"])
    section = {"name": name, "methods": list(how["methods"]), "tta": how["tta"],
               "tta_seed": tta_seed, "prior": result["prior"],
               "threshold_on_unadapted_scale": adapt_module.threshold_on_unadapted_scale(
                   threshold, result["prior"]),
               "data_dir": str(root), "at": runs.now(), "command": " ".join(sys.argv)}
    _say(f"adapted ({name}): " + _prior_words(result["prior"]))
    _say(format_table([("adapted @ 0.5", scores["at_0.5"]), ("adapted @ threshold", scores)]))
    if how["predictions"] is not None:
        _write_predictions(how["predictions"], images.names, result)
        _say(f"predictions: {how['predictions']}")
    adapted = {"adaptation": section, "test": scores, "test_unadapted": unadapted}
    if info["run_dir"] is not None:
        metrics = runs.read_json(Path(info["run_dir"]) / runs.METRICS)
        adapted = {**metrics, **adapted}
        runs.RunFolder(info["run_dir"]).write_json(runs.adapted_metrics(name), adapted)
        _say(f"written: {Path(info['run_dir']) / runs.adapted_metrics(name)}")
    return adapted


def _prior_words(prior):
    if prior is None:
        return "the class prior is not re-estimated"
    return (f"test prior of {prior['prior']:.3f} estimated by EM ({prior['iterations']} "
            f"iterations) against the training prior {prior['train_prior']:.3f}")


def _write_predictions(path, names, result):
    """The CSV of each test image's file name and probabilities, unadapted and adapted."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "probability", "probability_adapted"])
    writer.writerows((name, repr(float(p)), repr(float(q)))
                     for name, p, q in zip(names, result["p"], result["p_adapted"]))
    atomic_write(path, out.getvalue().encode("utf-8"))


def predict_images(ref, paths, batch_size=32):
    """P(pneumonia) and label for each image file, with the run's threshold.

    Returns ``(results, info)``: results holds one dict per path, in order, ``{"path",
    "probability", "label", "error"}``. An image that cannot be used gets ``error`` (its
    message) and no label: a file that is missing, not a regular file or undecodable, an
    image too large to decode (:data:`minicnn.data.loader.MAX_PIXELS`), one holding NaN or
    inf pixels, or one for which the model's probability is not a finite number. The others
    are still predicted. Files decoded as 8- or 16-bit integers are scaled to [0, 1] by their
    type's range. info is :func:`minicnn.runs.load_run`'s (threshold, image_size, ...).
    """
    model, info = runs.load_run(ref)
    results = [{"path": str(path), "probability": None, "label": None, "error": None}
               for path in paths]
    images, slots = [], []
    for slot, entry in enumerate(results):
        try:
            images.append(_read_image(entry["path"], info["image_size"], info["equalize"]))
            slots.append(slot)
        except Exception as exc:  # any unusable file: report it, go on with the others
            entry["error"] = f"{type(exc).__name__}: {exc}"
    if images:
        probabilities = runs.pneumonia_probability(model, np.stack(images), batch_size)
        for slot, prob in zip(slots, probabilities):
            _label(results[slot], float(prob), info)
    return results, info


#: ``minicnn predict --format``: a table to read, or CSV / JSON for programs.
PREDICT_FORMATS = ("text", "csv", "json")
_PREDICT_FIELDS = ("path", "probability", "label", "error")


def format_predictions(results, info, fmt="text"):
    """:func:`predict_images`'s results as text. ``text``: a header naming the threshold and
    a line per labelled image (errors are the caller's to say); ``csv``: a row per image
    with the columns path, probability, label, error (an empty field for a missing value);
    ``json``: ``{"threshold", "image_size", "images": [results]}`` (null for a missing
    value). ValueError for another format."""
    if fmt == "json":
        return json.dumps({"threshold": info["threshold"], "image_size": info["image_size"],
                           "images": results}, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, _PREDICT_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(results)                        # None is written as an empty field
        return out.getvalue()
    if fmt != "text":
        raise ValueError(f"format must be one of {', '.join(PREDICT_FORMATS)}, got {fmt!r}")
    width = max(len(r["path"]) for r in results)
    lines = [f"threshold {info['threshold']:.3f}, {info['image_size']} px; "
             f"P(pneumonia) and label per image:"]
    lines += [f"{r['path']:<{width}}  {r['probability']:.4f}  {r['label']}"
              for r in results if r["error"] is None]
    return "\n".join(lines) + "\n"


def _read_image(path, size, equalize):
    """One image file as the model's input (S, S, 1); OSError/DataError when unusable."""
    problem = file_problem(path)
    if problem:
        raise DataError(problem)
    return preprocess_image(decode_image(path), size, equalize)


def _label(entry, prob, info):
    """Fill in an entry's probability and label, or its error when prob is not finite."""
    entry["probability"] = prob
    entry["label"] = runs.label(prob, info["threshold"], info["class_names"])
    if entry["label"] is None:
        entry["probability"], entry["error"] = None, (
            f"the model's probability is {prob} (not a number): no label is given; the "
            f"model is damaged (diverged training?)")
