"""Reading a run folder from the outside, as a user would: splits.csv, history.csv, the JSON
files and model.npz. Used by the protocol tests to recompute what a run reports."""
import csv
import json
from fractions import Fraction
from pathlib import Path

import numpy as np

import minicnn
from minicnn.data import load_image_folder


def read_json(path):
    return json.loads(Path(path).read_text())


def split_rows(run_dir):
    """splits.csv as a list of dicts (path, label, split)."""
    with open(Path(run_dir) / "splits.csv", newline="") as f:
        return list(csv.DictReader(f))


def history_rows(run_dir):
    """history.csv as a list of dicts of floats (epoch counted from 1)."""
    with open(Path(run_dir) / "history.csv", newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def images_of(run_dir, data_dir, split, image_size):
    """(x, y, paths) of the rows of splits.csv whose split is ``split``, decoded by the
    public loader from the data folder, in splits.csv's order."""
    rows = [r for r in split_rows(run_dir) if r["split"] == split]
    by_path = {}
    for folder in ("train", "test"):
        ds = load_image_folder(Path(data_dir) / folder, image_size, progress=False)
        for x, y, p in zip(ds.x, ds.y, ds.paths):
            by_path[Path(p).resolve()] = (x, int(y))
    picked = [by_path[Path(r["path"]).resolve()] for r in rows]
    assert all(label == int(r["label"]) for (_, label), r in zip(picked, rows))
    x = np.stack([x for x, _ in picked]) if picked else np.empty((0, image_size, image_size, 1))
    return x, np.array([label for _, label in picked], dtype=np.int64), [r["path"] for r in rows]


def saved_model_probability(run_dir, x):
    """P(pneumonia) of the run's saved model (column 1 of its softmax), float64."""
    model = minicnn.load_model(Path(run_dir) / "model.npz")
    return model.predict(x, batch_size=32)[:, 1].astype(np.float64)


def youden_by_hand(y, p, tol=0.0):
    """``(t, J)``: the score t maximising Youden's J = TP/P - FP/N when predicting positive
    for p >= t - tol; ties go to the highest t. J is compared as an exact fraction, so ties
    are real ties. Written out here, independently of minicnn.metrics."""
    y, p = np.asarray(y), np.asarray(p, dtype=np.float64)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    best = None
    for t in sorted(set(p.tolist()), reverse=True):
        chosen = p >= t - tol
        j = Fraction(int((chosen & (y == 1)).sum()), n_pos) - Fraction(
            int((chosen & (y == 0)).sum()), n_neg)
        if best is None or j > best[1]:
            best = (t, j)
    return best


def youden_j_at(y, p, t, tol=0.0):
    """Youden's J (exact fraction) when predicting positive for p >= t - tol."""
    y, p = np.asarray(y), np.asarray(p, dtype=np.float64)
    chosen = p >= t - tol
    return Fraction(int((chosen & (y == 1)).sum()), int((y == 1).sum())) - Fraction(
        int((chosen & (y == 0)).sum()), int((y == 0).sum()))


def validation_threshold_by_hand(run_dir, data_dir, image_size):
    """The threshold the honest protocol must record: Youden's J of the saved model on the
    validation rows of splits.csv."""
    x, y, _ = images_of(run_dir, data_dir, "validation", image_size)
    return youden_by_hand(y, saved_model_probability(run_dir, x))[0]
