"""Patient ids, a patient-grouped stratified validation split, class balancing and sampling.

All functions take label arrays y of shape (N,) (integer class labels) and return index
arrays (int64, sorted) into them, so they work for images, paths and labels alike.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePath

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

__all__ = ["patient_id", "train_val_split", "class_weights_balanced", "oversample",
           "undersample", "stratified_sample"]

_PNEUMONIA_RE = re.compile(r"^(person\d+)_(?:bacteria|virus)_", re.IGNORECASE)
_NORMAL_RE = re.compile(r"^((?:NORMAL2-)?IM-\d+)-", re.IGNORECASE)


def patient_id(path: str | os.PathLike) -> str:
    """Patient id from a file name of the chest X-ray data set.

    ``personNNN_bacteria_MMM.jpeg`` / ``personNNN_virus_MMM.jpeg`` -> ``personNNN``;
    ``IM-NNNN-MMMM.jpeg`` -> ``IM-NNNN``; ``NORMAL2-IM-NNNN-MMMM.jpeg`` -> ``NORMAL2-IM-NNNN``;
    anything else -> the file name without its extension (one group per file).
    """
    name = PurePath(os.fspath(path)).name
    for pattern in (_PNEUMONIA_RE, _NORMAL_RE):
        match = pattern.match(name)
        if match:
            return match.group(1)
    return PurePath(name).stem


def _labels(y, name: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,), got shape {y.shape}")
    if y.size == 0:
        raise ValueError(f"{name} is empty")
    if not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    return y.astype(np.int64)


def train_val_split(y, groups, val_fraction: float = 0.15,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, patient-grouped split of indices into (train_idx, val_idx).

    y: (N,) labels; groups: (N,) patient ids (e.g. ``[patient_id(p) for p in paths]``).
    Uses one fold of ``StratifiedGroupKFold(n_splits=round(1 / val_fraction), shuffle=True,
    random_state=seed)``, so the validation share is about 1 / n_splits (0.15 -> 7 folds
    -> about 14%). No group is on both sides; class ratios are kept approximately.
    """
    y = _labels(y)
    groups = np.asarray(groups)
    if groups.shape != y.shape:
        raise ValueError(f"groups has shape {groups.shape}, expected {y.shape} like y")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n_splits = max(2, round(1 / val_fraction))
    n_groups = len(np.unique(groups))
    if n_groups < n_splits:
        raise ValueError(f"need at least {n_splits} patient groups for val_fraction="
                         f"{val_fraction}, got {n_groups}")
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    train_idx, val_idx = next(folds.split(np.zeros(len(y)), y, groups))
    return np.sort(train_idx).astype(np.int64), np.sort(val_idx).astype(np.int64)


def class_weights_balanced(y) -> dict[int, float]:
    """Keras/sklearn 'balanced' weights: ``n_samples / (n_classes * count[c])`` per class in y."""
    y = _labels(y)
    classes, counts = np.unique(y, return_counts=True)
    return {int(c): float(len(y) / (len(classes) * n)) for c, n in zip(classes, counts)}


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def oversample(y, seed: int | np.random.Generator = 0) -> np.ndarray:
    """Indices (sorted) that keep every sample and add random repeats of the smaller classes.

    Each class ends with as many indices as the largest one (drawn with replacement among
    its own samples, on top of the originals).
    """
    y = _labels(y)
    rng = _rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    parts = []
    for c, n in zip(classes, counts):
        members = np.flatnonzero(y == c)
        parts.append(members)
        parts.append(rng.choice(members, size=counts.max() - n, replace=True))
    return np.sort(np.concatenate(parts)).astype(np.int64)


def undersample(y, seed: int | np.random.Generator = 0) -> np.ndarray:
    """Indices (sorted) of a random subset with as many samples of each class as the smallest."""
    y = _labels(y)
    classes, counts = np.unique(y, return_counts=True)
    return stratified_sample(y, {int(c): int(counts.min()) for c in classes}, seed)


def stratified_sample(y, counts_per_class: Mapping[int, int] | Sequence[int],
                      seed: int | np.random.Generator = 0) -> np.ndarray:
    """Indices (sorted) of ``counts_per_class[c]`` samples of each class c, drawn without
    replacement.

    counts_per_class: {label: count} (or a list indexed by label); classes not named are left
    out. The thesis training sample is ``stratified_sample(y, {0: 970, 1: 1041})``.
    """
    y = _labels(y)
    rng = _rng(seed)
    if not isinstance(counts_per_class, Mapping):
        counts_per_class = dict(enumerate(counts_per_class))
    parts = []
    for c, k in sorted(counts_per_class.items()):
        members = np.flatnonzero(y == c)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"count for class {c} must be an int >= 0, got {k!r}")
        if k > len(members):
            raise ValueError(f"asked for {k} samples of class {c}, only {len(members)} available")
        parts.append(rng.choice(members, size=k, replace=False))
    if not parts:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.concatenate(parts)).astype(np.int64)
