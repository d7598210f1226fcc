"""``minicnn shift``: how the images of test/ differ from those of train/, measured without
test/'s labels (docs/shift.md).

The report folder holds shift.json, shift.md and figures: the per-image intensity and
contrast of train/ (per class) and of test/ (per folder only: its class folders are never
read, :func:`minicnn.data.load_unlabeled`); a *domain classifier* (a logistic regression
telling train/ images from test/ ones from simple per-image features, cross-validated with
patients kept within one fold), whose AUC is 0.5 when the two folders look alike; and, with a
run, the model's P(pneumonia) on its validation images and on test/, with the class prior
each implies (their mean, and the EM estimate of :func:`minicnn.adapt.em_prior`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from . import adapt, plots, runs
from .data import find_data_dir, load_image_folder, load_unlabeled, patient_id, run_data_dir
from .data.loader import load_files
from .io import atomic_write
from .validation import DataError

__all__ = ["image_statistics", "image_features", "domain_classifier", "grouped_auc_interval",
           "write_shift_report", "PERCENTILES"]

#: The percentiles of each image's pixel values that the report describes.
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
HISTOGRAM_BINS, THUMBNAIL = 32, 16


CHUNK = 256          # images converted to float64 at a time


def _by_chunks(function, x):
    """``function`` (a dict of per-image arrays) applied to x in chunks of CHUNK images and
    the results concatenated: float64 copies of a few images at a time, not of all."""
    parts = [function(np.asarray(x[i:i + CHUNK], np.float64)) for i in range(0, len(x), CHUNK)]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def image_statistics(x):
    """Per-image intensity and contrast of x (N, S, S, 1) in [0, 1]: ``{"mean", "sd",
    "p1", ..., "p99"}``, each (N,) float64 (sd: of the pixel values, ddof 0)."""
    return _by_chunks(_statistics, x)


def _statistics(x):
    flat = x.reshape(len(x), -1)
    stats = {"mean": flat.mean(axis=1), "sd": flat.std(axis=1)}
    for q, values in zip(PERCENTILES, np.percentile(flat, PERCENTILES, axis=1)):
        stats[f"p{q}"] = values
    return stats


def image_features(x):
    """The domain classifier's per-image features of x (N, S, S, 1): ``{"statistics":
    (N, 9) the mean, sd and percentiles, "histogram": (N, 32) the share of pixels in 32 equal
    bins of [0, 1], "thumbnail": (N, 256) the image averaged down to 16 x 16}``."""
    return _by_chunks(_features, x)


def _features(x):
    n, side = len(x), x.shape[1]
    stats = np.column_stack(list(_statistics(x).values()))
    flat = np.clip(x.reshape(n, -1), 0, 1)
    bins = np.minimum((flat * HISTOGRAM_BINS).astype(int), HISTOGRAM_BINS - 1)
    histogram = np.stack([np.bincount(b, minlength=HISTOGRAM_BINS) for b in bins]) / flat.shape[1]
    edges = np.linspace(0, side, THUMBNAIL + 1).astype(int)     # ragged blocks when S % 16
    rows = np.add.reduceat(x[:, :, :, 0], edges[:-1], axis=1)
    blocks = np.add.reduceat(rows, edges[:-1], axis=2)
    sizes = np.outer(np.diff(edges), np.diff(edges))
    return {"statistics": stats, "histogram": histogram,
            "thumbnail": (blocks / sizes).reshape(n, -1)}


def grouped_auc_interval(domain, p, groups, n_boot=1000, seed=0, confidence=0.95):
    """Percentile interval of the AUC of scores p (N,) for labels domain (N,) under a
    bootstrap that resamples whole groups (patients), so images of one patient count as one
    draw (a DeLong interval would treat them as independent)."""
    domain, p = np.asarray(domain), np.asarray(p, np.float64)
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)]
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        pick = np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])
        y, s = domain[pick], p[pick]
        m, k = int(y.sum()), int(len(y) - y.sum())
        if m and k:
            aucs.append((rankdata(s)[y == 1].sum() - m * (m + 1) / 2) / (m * k))
    alpha = (1 - confidence) / 2
    return [float(v) for v in np.quantile(aucs, [alpha, 1 - alpha])]


def domain_classifier(features, domain, groups, folds=5, seed=0):
    """Out-of-fold P(test/) of a standardised logistic regression on ``features`` (N, F),
    ``domain`` (N,) 1 for test/ images, 0 for train/ ones, with StratifiedGroupKFold(folds)
    over ``groups`` (patient ids: a patient's images never on both sides of a fold).
    Returns ``{"auc", "auc_ci" (patient bootstrap), "folds", "p"}``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    domain = np.asarray(domain)
    p = np.empty(len(domain))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, held in splitter.split(features, domain, groups):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(features[train], domain[train])
        p[held] = model.predict_proba(features[held])[:, 1]
    return {"auc": float(roc_auc_score(domain, p)),
            "auc_ci": grouped_auc_interval(domain, p, groups, seed=seed), "folds": folds,
            "p": p}


def _summary(values):
    """mean, sd and quartiles of a quantity over images."""
    v = np.asarray(values, np.float64)
    q = np.percentile(v, [5, 25, 50, 75, 95])
    return {"n": len(v), "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1
            else 0.0, **{f"q{k}": float(x) for k, x in zip((5, 25, 50, 75, 95), q)}}


def _intensity(train, test):
    """Per-image statistics of train/ (all and per class) and test/ (all only), as the
    figure's samples and shift.json's summaries."""
    groups = {"train/": image_statistics(train.x)}
    for label, name in enumerate(train.class_names):
        groups[f"train/{name}"] = {q: v[train.y == label] for q, v in groups["train/"].items()}
    groups["test/ (unlabeled)"] = image_statistics(test.x)
    quantities = list(groups["train/"])
    samples = {q: {g: stats[q] for g, stats in groups.items()} for q in quantities}
    summaries = {g: {q: _summary(stats[q]) for q in quantities} for g, stats in groups.items()}
    return samples, summaries


def _domain(train, test, folds, seed):
    """The domain classifier on each feature set alone and on all of them."""
    domain = np.concatenate([np.zeros(len(train)), np.ones(len(test))]).astype(int)
    groups = np.array([patient_id(p) for p in [*train.paths, *test.paths]])
    train_features, test_features = image_features(train.x), image_features(test.x)
    sets = {k: np.concatenate([train_features[k], test_features[k]]) for k in train_features}
    sets["all"] = np.column_stack(list(sets.values()))
    out = {name: domain_classifier(f, domain, groups, folds, seed) for name, f in sets.items()}
    return {name: {k: v for k, v in r.items() if k != "p"} for name, r in out.items()}


def _validation_images(run_dir, config, root, image_size):
    """The run's validation images (x, y) from its splits.csv, re-rooted at ``root``."""
    files = runs.validation_files(run_dir, config, root)
    if not files:
        raise DataError(f"{run_dir} has no validation images in its splits.csv (the thesis "
                        f"protocol validates on test/); use an honest run")
    ds = load_files(root / "train", files, config.get("class_names") or ["NORMAL",
                                                                           "PNEUMONIA"],
                    image_size, equalize=runs.equalize_of(config, Path(run_dir) / runs.CONFIG))
    return ds.x, ds.y


def _model_section(model_ref, root, test, batch_size=32):
    """P(pneumonia) on the run's validation images and on test/, and the priors they imply."""
    model, info = runs.load_run(model_ref)
    if info["run_dir"] is None:
        raise DataError("--model needs a run folder (its validation images and training "
                        "prior), not a bare model file")
    config = runs.read_config(info["run_dir"])
    x_val, y_val = _validation_images(info["run_dir"], config, root, info["image_size"])
    train_prior = adapt.run_training_prior(config)
    p_val = runs.pneumonia_probability(model, x_val, batch_size)
    p_test = runs.pneumonia_probability(model, test.x, batch_size)
    section = {"run": str(model_ref), "training_prior": train_prior,
               "threshold": info["threshold"]}
    for part, p in (("validation", p_val), ("test", p_test)):
        section[part] = {"n": len(p), "mean_probability": float(p.mean()),
                         "share_above_threshold": float((p >= info["threshold"]).mean()),
                         "em_prior": (adapt.em_prior(p, train_prior)["prior"]
                                      if train_prior is not None else None)}
    section["validation"]["true_prior"] = float(y_val.mean())   # train/ labels: allowed
    return section, {"validation": p_val, "test/ (unlabeled)": p_test}


def write_shift_report(data=None, model=None, out="shift-report", image_size=None, folds=5,
                       seed=0):
    """Write the report folder ``out`` (shift.json, shift.md, intensity.png and, with a
    run ``model``, probabilities.png); returns its path. image_size: the images' side
    (default: the run's, else 150). test/'s class folders are never read."""
    model_info = runs.load_run(model)[1] if model is not None else None
    size = image_size or (model_info["image_size"] if model_info else 150)
    root = (run_data_dir(data, runs.read_config(model_info["run_dir"]).get("data_dir"))
            if model_info and model_info["run_dir"] else find_data_dir(data)).resolve()
    equalize = model_info["equalize"] if model_info else "none"    # what the model sees
    train = load_image_folder(root / "train", size, equalize=equalize)
    test = load_unlabeled(root / "test", size, equalize=equalize)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    samples, summaries = _intensity(train, test)
    plots.plot_distributions({q: samples[q] for q in ("mean", "sd", "p5", "p95")},
                             out / "intensity.png",
                             title="per-image intensity and contrast, train/ and test/")
    report = {"data_dir": str(root), "image_size": size,
              "counts": {"train": {**{n: int((train.y == i).sum())
                                      for i, n in enumerate(train.class_names)},
                                   "total": len(train)}, "test": {"total": len(test)}},
              "intensity": summaries, "domain_classifier": _domain(train, test, folds, seed),
              "model": None}
    if model is not None:
        report["model"], p_by_group = _model_section(model, root, test)
        m = report["model"]
        priors = {"validation EM prior": m["validation"]["em_prior"],
                  "test EM prior": m["test"]["em_prior"]}
        plots.plot_probability_shift(p_by_group, {k: v for k, v in priors.items()
                                                  if v is not None},
                                     out / "probabilities.png")
    atomic_write(out / "shift.json", (json.dumps(report, indent=2) + "\n").encode("utf-8"))
    atomic_write(out / "shift.md", _markdown(report).encode("utf-8"))
    return out


def _markdown(report):
    """shift.md: the report's numbers in words and tables, with its figures."""
    lines = [f"# How test/ differs from train/ ({report['data_dir']}, {report['image_size']} "
             f"px)", "", "test/ was read without its labels (its class folders are ignored).",
             "", "## Per-image intensity and contrast", "",
             "| images | n | mean intensity | sd (contrast) | 5th percentile | 95th percentile |",
             "|---|---|---|---|---|---|"]
    for group, stats in report["intensity"].items():
        cells = [f"{stats[q]['mean']:.3f} ± {stats[q]['sd']:.3f}"
                 for q in ("mean", "sd", "p5", "p95")]
        lines.append(f"| {group} | {stats['mean']['n']} | " + " | ".join(cells) + " |")
    lines += ["", "(each cell: mean ± sd over images)", "", "![](intensity.png)", "",
              "## Domain classifier: train/ or test/?", "",
              "A logistic regression on each image's features, cross-validated with each "
              "patient's images in one fold; AUC 0.5: the folders look alike, 1: each image "
              "tells where it comes from. Interval: 95%, bootstrap over patients.", "",
              "| features | AUC [95% interval] |", "|---|---|"]
    for name, r in report["domain_classifier"].items():
        lines.append(f"| {name} | {r['auc']:.3f} [{r['auc_ci'][0]:.3f}, {r['auc_ci'][1]:.3f}] |")
    if report["model"] is not None:
        lines += _model_markdown(report["model"])
    return "\n".join(lines) + "\n"


def _model_markdown(m):
    def cell(v):
        return "" if v is None else f"{v:.3f}"
    lines = ["", f"## The model of {m['run']}", "",
             f"Training prior (what its probabilities are calibrated to): "
             f"{cell(m['training_prior'])}; threshold {m['threshold']:.3f}.", "",
             "| images | n | mean P(pneumonia) | share >= threshold | EM prior | true prior |",
             "|---|---|---|---|---|---|"]
    for part in ("validation", "test"):
        r = m[part]
        lines.append(f"| {part} | {r['n']} | {cell(r['mean_probability'])} | "
                     f"{cell(r['share_above_threshold'])} | {cell(r['em_prior'])} | "
                     f"{cell(r.get('true_prior'))} |")
    return lines + ["", "(true prior: validation only, from train/'s labels; test/'s are "
                        "never read)", "", "![](probabilities.png)"]
