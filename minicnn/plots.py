"""Figures of a training run: learning curves, confusion matrix, ROC curve.

Every function builds a :class:`matplotlib.figure.Figure` with the non-interactive Agg canvas
(no window, no pyplot state, safe on a server) and returns it; when ``path`` is given the
figure is also written there as a PNG.
"""
from __future__ import annotations

import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import metrics

__all__ = ["plot_history", "plot_confusion_matrix", "plot_roc"]

DPI = 110


def _new_figure(width, height, ncols=1):
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols)
    return fig, axes


def _finish(fig, path):
    fig.tight_layout()
    if path is not None:
        fig.savefig(os.fspath(path), format="png")
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
