"""Binary classification metrics with 95% intervals (label 1 = pneumonia = positive).

y_true: (N,) labels in {0, 1}; y_pred: (N,) predicted labels; p: (N,) scores for class 1
(probabilities, or an (N, 2) softmax output whose column 1 is used). A sample is predicted
positive when ``p >= threshold``. Ratios with a zero denominator are ``nan``.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from scipy.stats import rankdata
from sklearn import metrics as _skm

__all__ = ["confusion_matrix", "accuracy", "sensitivity", "specificity", "precision", "f1",
           "wilson_interval", "roc_curve", "roc_auc", "auc_ci", "youden_threshold",
           "binary_report", "format_number", "format_table"]


def _labels(y, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,), got shape {y.shape}")
    if y.size == 0:
        raise ValueError(f"{name} is empty")
    if y.dtype != bool and not np.issubdtype(y.dtype, np.number):
        raise TypeError(f"{name} must hold 0/1 labels, got dtype {y.dtype}")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise ValueError(f"{name} must hold only 0 and 1, got {np.unique(y[bad])[:5].tolist()}")
    return y.astype(np.int64)


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} samples but y_pred has {len(y_pred)}")
    return y_true, y_pred


def _scores(y_true, p) -> tuple[np.ndarray, np.ndarray]:
    y_true = _labels(y_true, "y_true")
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 2:
        p = p[:, 1]
    if p.ndim != 1:
        raise ValueError(f"p must have shape (N,) or (N, 2), got {p.shape}")
    if len(p) != len(y_true):
        raise ValueError(f"y_true has {len(y_true)} samples but p has {len(p)}")
    if not np.isfinite(p).all():
        raise ValueError("p contains NaN or infinite values")
    return y_true, p


def _ratio(num: int, den: int) -> float:
    return float(num / den) if den else math.nan


def confusion_matrix(y_true, y_pred) -> np.ndarray:
    """(2, 2) int64 counts, rows true, columns predicted: [[TN, FP], [FN, TP]]."""
    y_true, y_pred = _pair(y_true, y_pred)
    return np.bincount(2 * y_true + y_pred, minlength=4).reshape(2, 2).astype(np.int64)


def accuracy(y_true, y_pred) -> float:
    """(TP + TN) / N."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def sensitivity(y_true, y_pred) -> float:
    """Recall of class 1 (pneumonia): TP / (TP + FN)."""
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
    return _ratio(tp, tp + fn)


def specificity(y_true, y_pred) -> float:
    """Recall of class 0 (normal): TN / (TN + FP)."""
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
    return _ratio(tn, tn + fp)


def precision(y_true, y_pred) -> float:
    """Positive predictive value: TP / (TP + FP)."""
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
    return _ratio(tp, tp + fp)


def f1(y_true, y_pred) -> float:
    """Harmonic mean of precision and sensitivity: 2 TP / (2 TP + FP + FN)."""
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion k / n; (nan, nan) when n == 0.

    centre = (k + z^2/2) / (n + z^2), half-width = z sqrt(k (n - k) / n + z^2 / 4) / (n + z^2).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (math.nan, math.nan)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


def _check_two_classes(y_true: np.ndarray) -> None:
    if len(np.unique(y_true)) < 2:
        raise ValueError(f"ROC/AUC needs both classes in y_true, got only class {int(y_true[0])}")


def roc_curve(y_true, p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) of sklearn.metrics.roc_curve (thresholds decreasing, first inf)."""
    y_true, p = _scores(y_true, p)
    _check_two_classes(y_true)
    return _skm.roc_curve(y_true, p, drop_intermediate=False)


def roc_auc(y_true, p) -> float:
    """Area under the ROC curve (ties count one half)."""
    y_true, p = _scores(y_true, p)
    _check_two_classes(y_true)
    return float(_skm.roc_auc_score(y_true, p))


def auc_ci(y_true, p, confidence: float = 0.95, method: str = "delong",
           n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Interval for the ROC AUC, clipped to [0, 1].

    method 'delong': normal interval with DeLong's variance (DeLong et al., 1988), computed
    from mid-ranks; needs at least 2 samples of each class, else (nan, nan).
    method 'bootstrap': percentile interval of ``n_boot`` stratified resamples, seeded by seed.
    """
    y_true, p = _scores(y_true, p)
    _check_two_classes(y_true)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    pos, neg = p[y_true == 1], p[y_true == 0]
    m, n = len(pos), len(neg)
    if method == "delong":
        if m < 2 or n < 2:
            return (math.nan, math.nan)
        ranks_all = rankdata(np.concatenate([pos, neg]))
        v10 = (ranks_all[:m] - rankdata(pos)) / n          # per positive: share of negatives below
        v01 = 1 - (ranks_all[m:] - rankdata(neg)) / m      # per negative: share of positives above
        auc = v10.mean()
        se = math.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n)
        z = NormalDist().inv_cdf(0.5 + confidence / 2)
        return (float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se)))
    if method == "bootstrap":
        if n_boot < 1:
            raise ValueError(f"n_boot must be >= 1, got {n_boot}")
        rng = np.random.default_rng(seed)
        aucs = np.empty(n_boot)
        for b in range(n_boot):
            ranks = rankdata(np.concatenate([rng.choice(pos, m), rng.choice(neg, n)]))
            aucs[b] = (ranks[:m].sum() - m * (m + 1) / 2) / (m * n)  # Mann-Whitney U / (m n)
        alpha = (1 - confidence) / 2
        lo, hi = np.quantile(aucs, [alpha, 1 - alpha])
        return (float(lo), float(hi))
    raise ValueError(f"method must be 'delong' or 'bootstrap', got {method!r}")


def youden_threshold(y_true, p) -> float:
    """Threshold maximising Youden's J = sensitivity + specificity - 1 (use validation data).

    Returns one of the scores in p; predict positive when ``p >= threshold``. Ties go to the
    highest threshold.
    """
    y_true, p = _scores(y_true, p)
    fpr, tpr, thresholds = roc_curve(y_true, p)
    positives = int(y_true.sum())
    negatives = len(y_true) - positives
    # J compared exactly, as J * P * N = TP * N - FP * P in integers: as floats, equal J's
    # can differ by one rounding (2/3 - 1/3 < 1 - 2/3) and a tie would go the wrong way
    tp, fp = np.rint(tpr * positives).astype(np.int64), np.rint(fpr * negatives).astype(np.int64)
    finite = np.isfinite(thresholds)
    j = (tp * negatives - fp * positives)[finite]
    return float(thresholds[finite][np.argmax(j)])


def binary_report(y_true, p, threshold: float = 0.5, confidence: float = 0.95,
                  auc_method: str = "delong", seed: int = 0) -> dict:
    """All metrics for scores p at ``threshold``, as a JSON-serialisable dict.

    Keys: auc, auc_ci, accuracy, accuracy_ci, sensitivity, sensitivity_ci, specificity,
    specificity_ci, precision, precision_ci, f1, threshold, confusion_matrix ([[TN, FP],
    [FN, TP]]), n. Intervals are [low, high] lists: Wilson for proportions, ``auc_method``
    ('delong' or seeded 'bootstrap') for the AUC. Undefined values (0/0) are None.
    """
    y_true, p = _scores(y_true, p)
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold}")
    y_pred = (p >= threshold).astype(np.int64)
    cm = confusion_matrix(y_true, y_pred)
    tn, fp, fn, tp = (int(v) for v in cm.ravel())
    n = tn + fp + fn + tp

    def num(v: float) -> float | None:
        return None if math.isnan(v) else float(v)

    def interval(k: int, total: int) -> list:
        return [num(v) for v in wilson_interval(k, total, confidence)]

    return {
        "auc": num(roc_auc(y_true, p)),
        "auc_ci": [num(v) for v in auc_ci(y_true, p, confidence, auc_method, seed=seed)],
        "accuracy": num(_ratio(tp + tn, n)),
        "accuracy_ci": interval(tp + tn, n),
        "sensitivity": num(_ratio(tp, tp + fn)),
        "sensitivity_ci": interval(tp, tp + fn),
        "specificity": num(_ratio(tn, tn + fp)),
        "specificity_ci": interval(tn, tn + fp),
        "precision": num(_ratio(tp, tp + fp)),
        "precision_ci": interval(tp, tp + fp),
        "f1": num(_ratio(2 * tp, 2 * tp + fp + fn)),
        "threshold": float(threshold),
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "n": n,
    }


# -- as text ---------------------------------------------------------------------------------
def format_number(value, digits=3):
    """A metric as text: ``digits`` decimals, 'n/a' for None, NaN or a non-number."""
    if not isinstance(value, (int, float, np.integer, np.floating)) or (
            isinstance(value, (float, np.floating)) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"



def format_table(rows):
    """A small text table of (name, report) rows: threshold, n, AUC [95% CI], accuracy,
    sensitivity, specificity, from :func:`minicnn.metrics.binary_report` dicts (the
    console's summary of a run or an evaluation)."""
    head = ("set", "threshold", "n", "AUC [95% CI]", "accuracy", "sensitivity", "specificity")
    lines = [head]
    for name, r in rows:
        lo, hi = (format_number(v) for v in r["auc_ci"])
        lines.append((name, format_number(r["threshold"]), str(r["n"]),
                      f"{format_number(r['auc'])} [{lo}, {hi}]",
                      *(format_number(r[k]) for k in ("accuracy", "sensitivity", "specificity"))))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                     for line in lines)
