"""minicnn.metrics at its edges: argument checks and their messages, the bootstrap interval's
levels and defaults, the full ROC curve, one-class and tiny samples (found by mutation
testing, docs/testing.md). Expected values are worked out by hand."""
import math

import numpy as np
import pytest

from minicnn import metrics as M

Z95 = 1.959963984540054


def test_label_checks_name_the_argument_and_the_bad_values():
    with pytest.raises(ValueError, match=r"^y_pred must hold only 0 and 1, got \[2\]"):
        M.accuracy([0, 1], [0, 2])
    with pytest.raises(ValueError, match=r"^y_true must hold only 0 and 1, got \[2, 3, 4, 5, "
                                         r"6\]$"):
        M.accuracy([2, 3, 4, 5, 6, 7, 0], [0] * 7)
    with pytest.raises(ValueError, match=r"^y_true must be 1-D \(N,\), got shape \(2, 2\)"):
        M.confusion_matrix([[0, 1], [1, 0]], [0, 1])
    with pytest.raises(TypeError, match=r"^y_true must hold 0/1 labels, got dtype <U1"):
        M.sensitivity(np.array(["0", "1"]), [0, 1])
    with pytest.raises(ValueError, match=r"^y_true must hold only 0 and 1"):
        M.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"^p contains NaN or infinite values$"):
        M.binary_report([0, 1], [0.1, np.inf])
    with pytest.raises(ValueError, match=r"^threshold must be a finite number, got nan"):
        M.binary_report([0, 1], [0.1, 0.9], threshold=float("nan"))
    with pytest.raises(ValueError, match=r"got only class 1$"):
        M.roc_auc([1], [0.5])
    # booleans are labels too
    assert M.accuracy(np.array([True, False]), np.array([True, True])) == 0.5


def test_confusion_matrix_is_int64():
    cm = M.confusion_matrix([0, 1, 1], [0, 1, 0])
    assert cm.dtype == np.int64 and cm.tolist() == [[1, 0], [1, 1]]


def test_roc_curve_keeps_every_threshold():
    """Collinear points are kept (drop_intermediate=False): one point per distinct score."""
    fpr, tpr, thresholds = M.roc_curve([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])
    assert thresholds[1:].tolist() == [0.4, 0.3, 0.2, 0.1] and np.isinf(thresholds[0])
    assert tpr.tolist() == [0, 0.5, 1, 1, 1] and fpr.tolist() == [0, 0, 0, 0.5, 1]


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -0.2])
def test_confidence_outside_zero_one_is_an_error(bad):
    with pytest.raises(ValueError, match=rf"confidence must be in \(0, 1\), got {bad}"):
        M.wilson_interval(3, 5, confidence=bad)
    with pytest.raises(ValueError, match=rf"confidence must be in \(0, 1\), got {bad}"):
        M.auc_ci([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], confidence=bad)


def test_wilson_argument_checks_and_small_counts_by_hand():
    for k, n in ((-1, 5), (6, 5), (0, -1)):
        with pytest.raises(ValueError, match=rf"need 0 <= k <= n, got k={k}, n={n}"):
            M.wilson_interval(k, n)
    # 1 of 10: centre (1 + z^2/2) / (10 + z^2), half z sqrt(0.9 + z^2/4) / (10 + z^2)
    centre = (1 + Z95 ** 2 / 2) / (10 + Z95 ** 2)
    half = Z95 * math.sqrt(1 * 9 / 10 + Z95 ** 2 / 4) / (10 + Z95 ** 2)
    assert M.wilson_interval(1, 10) == pytest.approx((centre - half, centre + half), rel=1e-12)
    assert M.wilson_interval(1, 10)[0] == pytest.approx(0.0178762, abs=1e-6)
    # 0 of 10: [0, z^2 / (10 + z^2)]
    assert M.wilson_interval(0, 10) == pytest.approx((0.0, Z95 ** 2 / (10 + Z95 ** 2)))


def test_delong_needs_two_of_each_class():
    """One positive: DeLong's variance is undefined, so the interval is (nan, nan)."""
    lo, hi = M.auc_ci([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.4])
    assert math.isnan(lo) and math.isnan(hi)
    lo, hi = M.auc_ci([0, 1, 1, 1], [0.1, 0.2, 0.3, 0.4])
    assert math.isnan(lo) and math.isnan(hi)


def test_bootstrap_interval_of_a_perfect_separation_is_one():
    """Every resample of perfectly separated scores has AUC = U / (m n) = 1 exactly."""
    y = [0] * 5 + [1] * 6
    p = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
    assert M.auc_ci(y, p, method="bootstrap", n_boot=50) == (1.0, 1.0)
    # and of a perfect inversion, 0
    assert M.auc_ci(y, p[::-1], method="bootstrap", n_boot=50) == (0.0, 0.0)


def test_bootstrap_interval_takes_the_alpha_over_two_quantiles(monkeypatch):
    """A percentile interval: the (1 - c)/2 and 1 - (1 - c)/2 quantiles of the resampled AUCs."""
    asked = []
    real = np.quantile

    def quantile(a, q, *args, **kwargs):
        asked.append(list(np.atleast_1d(q)))
        return real(a, q, *args, **kwargs)
    monkeypatch.setattr(M.np, "quantile", quantile)
    y, p = [0, 0, 0, 1, 1, 1], [0.1, 0.5, 0.3, 0.4, 0.8, 0.9]
    M.auc_ci(y, p, confidence=0.9, method="bootstrap", n_boot=20)
    assert asked == [pytest.approx([0.05, 0.95])]


def test_bootstrap_defaults_and_arguments():
    """Defaults n_boot=2000, seed=0; n_boot >= 1; binary_report passes method and seed on."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 40)
    p = rng.random(40) + 0.3 * y
    default = M.auc_ci(y, p, method="bootstrap")
    assert default == M.auc_ci(y, p, method="bootstrap", n_boot=2000, seed=0)
    assert default != M.auc_ci(y, p, method="bootstrap", n_boot=2000, seed=1)
    assert default != M.auc_ci(y, p, method="bootstrap", n_boot=2001, seed=0)
    one = M.auc_ci(y, p, method="bootstrap", n_boot=1)
    assert one[0] == one[1]
    with pytest.raises(ValueError, match="n_boot must be >= 1, got 0"):
        M.auc_ci(y, p, method="bootstrap", n_boot=0)
    r = M.binary_report(y, p, auc_method="bootstrap", seed=5)
    assert r["auc_ci"] == list(M.auc_ci(y, p, method="bootstrap", seed=5))
    assert M.binary_report(y, p, auc_method="bootstrap")["auc_ci"] == list(default)
    assert M.binary_report(y, p)["auc_ci"] == list(M.auc_ci(y, p))
