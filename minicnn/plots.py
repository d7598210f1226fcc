"""Figures of a training run (learning curves, confusion matrix, ROC curve) and of the data
and the network (pixel histogram, class counts, image grids, feature maps, heat-map overlays).

Every function builds a :class:`matplotlib.figure.Figure` with the non-interactive Agg canvas
(no window, no pyplot state, safe on a server) and returns it; when ``path`` is given the
figure is also written there as a PNG (atomically: a temporary file, then a rename).
"""
from __future__ import annotations

import io
import itertools

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import metrics
from .io import atomic_write
from .validation import positive_int

__all__ = ["plot_history", "plot_confusion_matrix", "plot_roc", "plot_intensity_histogram",
           "plot_class_counts", "plot_image_grid", "plot_feature_maps", "plot_heatmap_overlay",
           "plot_sweep", "plot_distributions", "plot_probability_shift"]

DPI = 110


def _new_figure(width, height, ncols=1):
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols)
    return fig, axes


def _finish(fig, path):
    """Lay the figure out and, when ``path`` is given, write it as a PNG atomically."""
    fig.tight_layout()
    return _write_png(fig, path)


def _write_png(fig, path, dpi=None):
    """Write the figure to ``path`` as a PNG atomically (nothing when path is None)."""
    if path is not None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        atomic_write(path, buffer.getvalue())
    return fig


def plot_history(history, path=None, best_epoch=None, title=None):
    """Loss and accuracy per epoch, training and validation side by side.

    history: ``{"loss": [...], "accuracy": [...], "val_loss": [...], "val_accuracy": [...]}``
    (``History.history``; the ``val_`` keys are optional). best_epoch: 0-based epoch to mark
    with a dotted line (e.g. the one early stopping kept).
    """
    fig, (ax_loss, ax_acc) = _new_figure(9, 3.6, ncols=2)
    for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        for prefix, label, style in (("", "training", "-o"), ("val_", "validation", "-s")):
            values = history.get(prefix + key)
            if values:
                epochs = np.arange(1, len(values) + 1)
                ax.plot(epochs, values, style, markersize=3, label=label)
        if best_epoch is not None:
            ax.axvline(best_epoch + 1, color="grey", linestyle=":",
                       label=f"kept epoch ({best_epoch + 1})")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _finish(fig, path)


def plot_confusion_matrix(cm, class_names, path=None, title=None):
    """Confusion matrix as a heat map with the counts (and row percentages) written in.

    cm: (K, K) counts, rows true class, columns predicted (``[[TN, FP], [FN, TP]]`` for two
    classes, the layout of :func:`minicnn.metrics.confusion_matrix`); class_names: K names.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(class_names):
        raise ValueError(f"cm must be (K, K) with K = len(class_names) = {len(class_names)}, "
                         f"got shape {cm.shape}")
    fig, ax = _new_figure(4.4, 3.9)
    image = ax.imshow(cm, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            dark = cm[i, j] > cm.max() / 2
            ax.text(j, i, f"{cm[i, j]}\n({share[i, j]:.0%})", ha="center", va="center",
                    color="white" if dark else "black", fontsize=10)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names)
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix", fontsize=10)
    return _finish(fig, path)


def plot_roc(y_true, p, path=None, threshold=None, title=None):
    """ROC curve of scores p (N,) for labels y_true (N,) in {0, 1}, with its AUC.

    threshold: if given, the operating point ``p >= threshold`` is marked on the curve.
    """
    fpr, tpr, _ = metrics.roc_curve(y_true, p)
    auc = metrics.roc_auc(y_true, p)
    fig, ax = _new_figure(4.4, 4.2)
    ax.plot(fpr, tpr, label=f"ROC (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="chance")
    if threshold is not None:
        y_true = np.asarray(y_true)
        scores = np.asarray(p, dtype=float)
        scores = scores[:, 1] if scores.ndim == 2 else scores
        pred = (scores >= threshold).astype(int)
        sens = metrics.sensitivity(y_true, pred)
        spec = metrics.specificity(y_true, pred)
        ax.plot([1 - spec], [sens], "o", color="crimson",
                label=f"threshold {threshold:.3g}: sens {sens:.2f}, spec {spec:.2f}")
    ax.set_xlabel("1 - specificity (false positive rate)")
    ax.set_ylabel("sensitivity (true positive rate)")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or "ROC curve", fontsize=10)
    return _finish(fig, path)


# -- data and network figures -------------------------------------------------------------
def _gray(image, what="image"):
    """(H, W) float array from an (H, W) or (H, W, 1) image."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != 2:
        raise ValueError(f"{what} must have shape (H, W) or (H, W, 1), got {image.shape}")
    return image


def _gray_limits(image):
    """vmin/vmax for imshow: [0, 1] for images in that range (so contrast is comparable
    between images), the image's own range otherwise."""
    if image.size and image.min() >= 0 and image.max() <= 1:
        return {"vmin": 0.0, "vmax": 1.0}
    return {}


def _grid_shape(n):
    cols = max(1, int(np.ceil(np.sqrt(n))))
    return int(np.ceil(n / cols)), cols


def plot_intensity_histogram(image, path=None, bins=64):
    """Histogram of one image's pixel values (image (H, W) or (H, W, 1), values in [0, 1]).

    The bars count pixels, so their heights add up to H * W; the mean is marked.
    """
    values = _gray(image).ravel()
    if values.size == 0:
        raise ValueError("the image has no pixels")
    low, high = min(0.0, values.min()), max(1.0, values.max())
    fig, ax = _new_figure(5.0, 3.4)
    ax.hist(values, bins=bins, range=(low, high), color="slategray")
    ax.axvline(values.mean(), color="crimson", linestyle="--", linewidth=1,
               label=f"mean {values.mean():.3f}")
    ax.set_xlabel("pixel value (0 = black, 1 = white)")
    ax.set_ylabel("number of pixels")
    ax.set_title(f"pixel values of one image ({values.size:,} pixels)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _finish(fig, path)


def plot_class_counts(counts, path=None):
    """Bar chart of images per class; counts: ``{class name: count}``, bars in that order,
    each labelled with its number."""
    if not counts:
        raise ValueError("counts is empty; expected {class name: count}")
    names = [str(name) for name in counts]
    values = [int(v) for v in counts.values()]
    fig, ax = _new_figure(max(3.6, 1.3 * len(names) + 1.5), 3.4)
    colors = [f"C{i}" for i in range(len(names))]
    bars = ax.bar(names, values, color=colors)
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2, fontsize=9)
    ax.set_ylabel("images")
    ax.set_ylim(0, max(values + [1]) * 1.15)
    ax.set_title(f"images per class (total {sum(values):,})", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _finish(fig, path)


def plot_image_grid(images, titles=None, rows=5, cols=5, path=None):
    """Gray images (N, H, W) or (N, H, W, 1) in a rows x cols grid, row by row.

    The first rows * cols images are shown; cells without an image are hidden.
    titles: optional list of one title per image.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[3] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, 1), got {images.shape}")
    rows, cols = positive_int(rows, "rows"), positive_int(cols, "cols")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    fig = Figure(figsize=(1.9 * cols, 2.0 * rows), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for k, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= len(images):
            ax.set_visible(False)
            continue
        image = images[k].astype(np.float64)
        ax.imshow(image, cmap="gray", **_gray_limits(image))
        if titles is not None:
            ax.set_title(str(titles[k]), fontsize=8)
    return _finish(fig, path)


def plot_feature_maps(maps, path=None, max_maps=16, title=None):
    """The first ``max_maps`` channels of one sample's activations ``maps`` (H, W, C), each
    in its own cell with its own colour scale and colour bar (a square-ish grid; empty cells
    hidden)."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (H, W, C) for one sample, got {maps.shape}")
    max_maps = positive_int(max_maps, "max_maps")
    n = min(maps.shape[2], max_maps)
    rows, cols = _grid_shape(n)
    fig = Figure(figsize=(2.1 * cols, 1.8 * rows + (0.4 if title else 0)), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for k, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= n:
            ax.set_visible(False)
            continue
        lo, hi = float(maps[:, :, k].min()), float(maps[:, :, k].max())
        flat = not hi > lo              # e.g. all 0 after ReLU: drawn dark, said in the title
        image = ax.imshow(maps[:, :, k], cmap="viridis", vmin=lo, vmax=lo + 1 if flat else hi)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=6)
        ax.set_title(f"channel {k}" + (f" (all {lo:g})" if flat else ""), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _finish(fig, path)


def plot_heatmap_overlay(image, heatmap, path=None, alpha=0.4, title=None):
    """A gray image (H, W) or (H, W, 1) with a colour heat map (H, W), values in [0, 1]
    (e.g. Grad-CAM or saliency from :mod:`minicnn.explain`), drawn over it with opacity
    ``alpha``, and a colourbar for the heat map."""
    image = _gray(image)
    heatmap = _gray(heatmap, "heatmap")
    if heatmap.shape != image.shape:
        raise ValueError(f"heatmap has shape {heatmap.shape}, the image {image.shape}; "
                         f"resize the heat map to the image first")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    fig, ax = _new_figure(4.4, 3.9)
    ax.imshow(image, cmap="gray", **_gray_limits(image))
    layer = ax.imshow(heatmap, cmap="jet", alpha=alpha, vmin=0.0, vmax=1.0)
    fig.colorbar(layer, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "heat map over the image", fontsize=10)
    return _finish(fig, path)


def plot_sweep(rows, summary, metric_names, parts, path=None, labels=None):
    """A sweep's sweep.png: one panel per metric and part (rows of
    :mod:`minicnn.sweep_results`); a point per seed, the mean and its 95% interval per setting
    (the rates' axes show [0, 1]; a metric called "loss" starts at 0).

    rows: the finished runs' sweep.csv rows (dicts with "setting" and "<part>_<metric>"); summary:
    {setting: {part: {metric: {"mean", "ci_low", "ci_high"}}}}; labels: {setting: label}."""
    settings = list(summary)
    names = [(labels or {}).get(s, s) for s in settings]
    fig = Figure(figsize=(max(10, 1.1 * len(metric_names) * len(settings)), 6.5),
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(parts), len(metric_names), squeeze=False)
    for (i, part), (j, metric) in itertools.product(enumerate(parts), enumerate(metric_names)):
        ax = axes[i][j]
        for k, setting in enumerate(settings):
            points = [r[f"{part}_{metric}"] for r in rows if r["setting"] == setting
                      and r.get(f"{part}_{metric}") is not None]
            ax.plot([k + 0.12] * len(points), points, "o", color="#7a8ca3", ms=4)
            d = summary[setting][part][metric]
            if d["mean"] is not None:
                low, high = (d["ci_low"], d["ci_high"]) if d["ci_low"] is not None else (
                    d["mean"], d["mean"])
                ax.errorbar([k - 0.12], [d["mean"]], yerr=[[d["mean"] - low], [high - d["mean"]]],
                            fmt="s", color="#c0392b", capsize=4, ms=5)
        ax.set_title(f"{part} {metric}", fontsize=9)
        ax.set_ylim(*((0, None) if metric == "loss" else (-0.02, 1.02)))
        ax.set_xlim(-0.6, len(settings) - 0.4)
        ax.set_xticks(range(len(settings)), names, rotation=30, ha="right", fontsize=7)
    return _write_png(fig, path, dpi=100)


def plot_distributions(samples, path=None, title=None, bins=40):
    """Histograms (as densities, step lines) of several per-image quantities, one panel
    each, for several groups of images side by side.

    samples: ``{quantity: {group: values (N_group,)}}``, e.g. ``{"mean": {"train/":
    ..., "test/": ...}}``; every quantity's groups share one set of bins; a group keeps its
    colour across panels.
    """
    if not samples:
        raise ValueError("samples is empty; expected {quantity: {group: values}}")
    groups = list(dict.fromkeys(g for by_group in samples.values() for g in by_group))
    fig, axes = _new_figure(3.4 * len(samples), 3.2, ncols=len(samples))
    axes = np.atleast_1d(axes)
    for ax, (quantity, by_group) in zip(axes, samples.items()):
        values = np.concatenate([np.asarray(v, np.float64) for v in by_group.values()])
        edges = np.histogram_bin_edges(values, bins=bins)
        for group, v in by_group.items():
            ax.hist(v, bins=edges, density=True, histtype="step", linewidth=1.4,
                    color=f"C{groups.index(group)}", label=f"{group} ({len(v)})")
        ax.set_xlabel(quantity)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("density")
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return _finish(fig, path)


def plot_probability_shift(p_by_group, priors, path=None, bins=25):
    """Histograms of P(pneumonia) for groups of images (``{group: (N,)}``, e.g. validation
    and the unlabeled test images), with the class priors they imply (``{label: value}``,
    vertical lines)."""
    fig, ax = _new_figure(6.0, 3.6)
    edges = np.linspace(0, 1, bins + 1)
    for i, (group, p) in enumerate(p_by_group.items()):
        ax.hist(p, bins=edges, density=True, histtype="step", linewidth=1.5, color=f"C{i}",
                label=f"{group} ({len(p)})")
    for j, (label, value) in enumerate(priors.items()):
        ax.axvline(value, color=f"C{j + len(p_by_group)}", linestyle="--", linewidth=1,
                   label=f"{label}: {value:.3f}")
    ax.set_xlabel("P(pneumonia)")
    ax.set_ylabel("density")
    ax.set_title("the model's probabilities, and the class priors they imply", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _finish(fig, path)
