"""minicnn.metrics against hand-computed values and scikit-learn."""

import json
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from minicnn import metrics as M

# Hand example: TP = 4, FN = 2, FP = 1, TN = 3.
Y_TRUE = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
Y_PRED = np.array([1, 1, 1, 1, 0, 0, 1, 0, 0, 0])


def test_confusion_matrix_and_ratios_by_hand():
    cm = M.confusion_matrix(Y_TRUE, Y_PRED)
    assert cm.tolist() == [[3, 1], [2, 4]]  # rows true, columns predicted
    assert M.accuracy(Y_TRUE, Y_PRED) == pytest.approx(7 / 10)
    assert M.sensitivity(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    assert M.specificity(Y_TRUE, Y_PRED) == pytest.approx(3 / 4)
    assert M.precision(Y_TRUE, Y_PRED) == pytest.approx(4 / 5)
    assert M.f1(Y_TRUE, Y_PRED) == pytest.approx(8 / 11)


def test_against_sklearn_on_random_data():
    rng = np.random.default_rng(0)
    y, yp = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    assert M.confusion_matrix(y, yp).tolist() == skm.confusion_matrix(y, yp).tolist()
    assert M.accuracy(y, yp) == pytest.approx(skm.accuracy_score(y, yp))
    assert M.sensitivity(y, yp) == pytest.approx(skm.recall_score(y, yp))
    assert M.specificity(y, yp) == pytest.approx(skm.recall_score(y, yp, pos_label=0))
    assert M.precision(y, yp) == pytest.approx(skm.precision_score(y, yp))
    assert M.f1(y, yp) == pytest.approx(skm.f1_score(y, yp))
    p = rng.random(200)
    assert M.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p))


def test_undefined_ratios_are_nan():
    assert math.isnan(M.sensitivity([0, 0], [0, 1]))
    assert math.isnan(M.precision([1, 0], [0, 0]))
    assert M.specificity([0, 0], [0, 1]) == 0.5


def test_wilson_interval_by_hand():
    # 8 / 10, z = 1.95996: centre = (8 + z^2/2) / (10 + z^2) = 0.71674,
    # half-width = z * sqrt(8 * 2 / 10 + z^2 / 4) / (10 + z^2) = 0.22658.
    lo, hi = M.wilson_interval(8, 10)
    assert lo == pytest.approx(0.49016, abs=1e-4) and hi == pytest.approx(0.94332, abs=1e-4)
    assert M.wilson_interval(0, 10)[0] == 0.0 and M.wilson_interval(10, 10)[1] == 1.0
    lo90, hi90 = M.wilson_interval(8, 10, confidence=0.90)
    assert lo < lo90 < hi90 < hi
    assert all(math.isnan(v) for v in M.wilson_interval(0, 0))
    with pytest.raises(ValueError, match="k <= n"):
        M.wilson_interval(11, 10)


def test_auc_by_hand_and_ties():
    y, p = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    assert M.roc_auc(y, p) == pytest.approx(0.75)  # 3 of the 4 (pos, neg) pairs are ordered
    assert M.roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    fpr, tpr, thr = M.roc_curve(y, p)
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1] and tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    assert np.isinf(thr[0])


def test_delong_interval_by_hand():
    # V10 (positives 0.35, 0.8) = [0.5, 1]; V01 (negatives 0.1, 0.4) = [1, 0.5];
    # var = 0.125 / 2 + 0.125 / 2 = 0.125 -> 0.75 -+ 1.95996 * 0.35355 -> (0.05705, 1.44 -> 1).
    lo, hi = M.auc_ci([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert lo == pytest.approx(0.057048, abs=1e-5) and hi == 1.0


def brute_force_delong_se(y, p):
    y, p = np.asarray(y), np.asarray(p)
    pos, neg = p[y == 1], p[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), math.sqrt(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg))


def test_delong_matches_pairwise_definition_with_ties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 120)
    p = np.round(rng.random(120) * 0.6 + 0.4 * y, 1)  # coarse scores: many ties
    auc, se = brute_force_delong_se(y, p)
    lo, hi = M.auc_ci(y, p)
    assert (lo + hi) / 2 == pytest.approx(auc)
    assert (hi - lo) / 2 == pytest.approx(1.959964 * se, rel=1e-5)


def test_bootstrap_interval_is_seeded_and_sensible():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 150)
    p = rng.random(150) + 0.5 * y
    a = M.auc_ci(y, p, method="bootstrap", n_boot=300, seed=3)
    assert a == M.auc_ci(y, p, method="bootstrap", n_boot=300, seed=3)
    assert a != M.auc_ci(y, p, method="bootstrap", n_boot=300, seed=4)
    auc = M.roc_auc(y, p)
    assert a[0] < auc < a[1]
    d = M.auc_ci(y, p)
    assert abs((a[1] - a[0]) - (d[1] - d[0])) < 0.05  # both near the same width
    with pytest.raises(ValueError, match="method"):
        M.auc_ci(y, p, method="magic")


def test_youden_threshold():
    # threshold 0.35: sensitivity 1, specificity 1 -> J = 1
    assert M.youden_threshold([0, 0, 1, 1], [0.1, 0.3, 0.35, 0.8]) == pytest.approx(0.35)
    # J = 0.5 at both 0.8 and 0.35: ties go to the higher threshold
    assert M.youden_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.8)
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    p = rng.random(300) * 0.7 + 0.3 * y
    t = M.youden_threshold(y, p)
    pred = (p >= t).astype(int)
    j = M.sensitivity(y, pred) + M.specificity(y, pred) - 1
    for other in np.unique(p):
        q = (p >= other).astype(int)
        assert M.sensitivity(y, q) + M.specificity(y, q) - 1 <= j + 1e-12


def test_binary_report_keys_values_and_json():
    y = Y_TRUE
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.55, 0.2, 0.1, 0.45])
    r = M.binary_report(y, p, threshold=0.5)
    assert set(r) == {"auc", "auc_ci", "accuracy", "accuracy_ci", "sensitivity",
                      "sensitivity_ci", "specificity", "specificity_ci", "precision",
                      "precision_ci", "f1", "threshold", "confusion_matrix", "n"}
    assert r["confusion_matrix"] == [[3, 1], [2, 4]] and r["n"] == 10
    assert r["accuracy"] == pytest.approx(0.7) and r["f1"] == pytest.approx(8 / 11)
    assert r["sensitivity_ci"] == pytest.approx(list(M.wilson_interval(4, 6)))
    assert r["auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert r["auc_ci"][0] < r["auc"] < r["auc_ci"][1]
    assert json.loads(json.dumps(r, allow_nan=False)) == r
    for key, value in r.items():
        if key.endswith("_ci"):
            assert type(value) is list and all(type(v) is float for v in value)
        elif key in ("n",):
            assert type(value) is int
        elif key != "confusion_matrix":
            assert type(value) is float, key
    assert all(type(v) is int for rowv in r["confusion_matrix"] for v in rowv)
    # a softmax output (N, 2) gives the same report
    assert M.binary_report(y, np.stack([1 - p, p], axis=1)) == r
    # p >= threshold counts as positive
    assert M.binary_report(y, p, threshold=0.55)["confusion_matrix"] == [[3, 1], [2, 4]]
    assert M.binary_report(y, p, threshold=0.56)["confusion_matrix"] == [[4, 0], [2, 4]]


def test_binary_report_undefined_values_are_none():
    r = M.binary_report([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], threshold=0.9)
    assert r["precision"] is None and r["precision_ci"] == [None, None]
    assert r["sensitivity"] == 0.0
    json.dumps(r, allow_nan=False)


def test_errors():
    with pytest.raises(ValueError, match="3 samples.*2"):
        M.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="4 samples but p has 3"):
        M.binary_report([0, 1, 1, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="both classes"):
        M.roc_auc([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(ValueError, match="both classes"):
        M.binary_report([0, 0], [0.2, 0.5])
    with pytest.raises(ValueError, match="only 0 and 1"):
        M.confusion_matrix([0, 2], [0, 1])
    with pytest.raises(ValueError, match="shape"):
        M.roc_auc([0, 1], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        M.roc_auc([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="empty"):
        M.accuracy([], [])
