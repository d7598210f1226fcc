"""Every interval that ``binary_report`` puts in metrics.json, against values worked out here
from the formulas (Wilson for proportions, DeLong for the AUC), never from the code under
test. Also the Youden threshold and the z of other confidence levels, by hand."""
import math

import pytest

from minicnn import metrics as M

Z95 = 1.959963984540054          # Phi^-1(0.975)
Z90 = 1.6448536269514722         # Phi^-1(0.95)

# 8 pneumonia and 7 normal scores; one tie across the classes (0.6).
POS = [0.95, 0.9, 0.8, 0.7, 0.65, 0.6, 0.55, 0.3]
NEG = [0.6, 0.5, 0.45, 0.4, 0.35, 0.2, 0.1]
Y = [1] * len(POS) + [0] * len(NEG)
P = POS + NEG


def wilson(k, n, z):
    """Wilson score interval written out: centre (k + z^2/2) / (n + z^2), half-width
    z sqrt(k (n - k) / n + z^2 / 4) / (n + z^2); 0 and 1 exactly at k = 0 and k = n."""
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return [0.0 if k == 0 else centre - half, 1.0 if k == n else centre + half]


def sample_variance(values):
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1)


@pytest.mark.parametrize("confidence,z", [(0.95, Z95), (0.90, Z90)])
def test_every_proportion_interval_at_threshold_one_half(confidence, z):
    """At 0.5: TP 7 (all but 0.3), FN 1, FP 2 (0.6, 0.5), TN 5. Each interval is the Wilson
    interval of its own k / n: accuracy 12/15, sensitivity 7/8, specificity TN/(TN+FP) = 5/7,
    precision 7/9."""
    r = M.binary_report(Y, P, threshold=0.5, confidence=confidence)
    assert r["confusion_matrix"] == [[5, 2], [1, 7]] and r["n"] == 15
    expected = {"accuracy": (12, 15), "sensitivity": (7, 8), "specificity": (5, 7),
                "precision": (7, 9)}
    for name, (k, n) in expected.items():
        assert r[name] == pytest.approx(k / n, rel=1e-12), name
        assert r[name + "_ci"] == pytest.approx(wilson(k, n, z), rel=1e-9, abs=1e-12), name
    assert r["f1"] == pytest.approx(2 * 7 / (2 * 7 + 2 + 1), rel=1e-12)
    assert r["threshold"] == 0.5


def test_hand_values_of_the_wilson_formula():
    """The formula above, evaluated once more by hand: 5/7 -> [0.35893, 0.91778],
    12/15 -> [0.54815, 0.92952] at 95%; 5/7 -> [0.40867, 0.90043] at 90%."""
    assert wilson(5, 7, Z95) == pytest.approx([0.358934, 0.917781], abs=1e-6)
    assert wilson(12, 15, Z95) == pytest.approx([0.548146, 0.929525], abs=1e-6)
    assert wilson(5, 7, Z90) == pytest.approx([0.408668, 0.900434], abs=1e-6)
    assert M.wilson_interval(5, 7) == pytest.approx((0.358934, 0.917781), abs=1e-6)
    assert M.wilson_interval(5, 7, confidence=0.9) == pytest.approx((0.408668, 0.900434),
                                                                     abs=1e-6)


def test_intervals_at_the_ends_are_closed_forms():
    """At 0.61: TP 5, FN 3, FP 0, TN 7. Specificity 7/7 and precision 5/5 have k = n, where
    the Wilson interval is [n / (n + z^2), 1]."""
    r = M.binary_report(Y, P, threshold=0.61)
    assert r["confusion_matrix"] == [[7, 0], [3, 5]]
    assert r["specificity_ci"] == pytest.approx([7 / (7 + Z95 ** 2), 1.0], rel=1e-9)
    assert r["specificity_ci"][1] == 1.0 and r["precision_ci"][1] == 1.0
    assert r["precision_ci"] == pytest.approx([5 / (5 + Z95 ** 2), 1.0], rel=1e-9)
    assert r["sensitivity_ci"] == pytest.approx(wilson(5, 8, Z95), rel=1e-9)
    assert r["accuracy_ci"] == pytest.approx(wilson(12, 15, Z95), rel=1e-9)
    # nobody predicted positive: precision undefined, sensitivity 0/8 -> [0, z^2 / (8 + z^2)]
    r = M.binary_report(Y, P, threshold=0.99)
    assert r["precision"] is None and r["precision_ci"] == [None, None]
    assert r["sensitivity_ci"] == pytest.approx([0.0, Z95 ** 2 / (8 + Z95 ** 2)], rel=1e-9)
    assert r["sensitivity_ci"][0] == 0.0


@pytest.mark.parametrize("confidence,z", [(0.95, Z95), (0.90, Z90)])
def test_auc_and_its_delong_interval_by_hand(confidence, z):
    """Per positive, the share of the 7 negatives below it (a tie counts 1/2):
    V10 = [1, 1, 1, 1, 1, 6.5/7, 6/7, 2/7]; per negative, the share of the 8 positives above
    it: V01 = [5.5/8, 7/8, 7/8, 7/8, 7/8, 1, 1]. AUC = mean V10 = 49.5/56; DeLong's variance
    s^2(V10)/8 + s^2(V01)/7; interval AUC -+ z se, clipped to [0, 1]."""
    v10 = [1, 1, 1, 1, 1, 6.5 / 7, 6 / 7, 2 / 7]
    v01 = [5.5 / 8, 7 / 8, 7 / 8, 7 / 8, 7 / 8, 1, 1]
    auc = 49.5 / 56
    assert sum(v10) / 8 == pytest.approx(auc) and sum(v01) / 7 == pytest.approx(auc)
    se = math.sqrt(sample_variance(v10) / 8 + sample_variance(v01) / 7)
    assert se == pytest.approx(0.0959661, abs=1e-6)
    r = M.binary_report(Y, P, threshold=0.5, confidence=confidence)
    assert r["auc"] == pytest.approx(auc, rel=1e-12)
    assert r["auc_ci"] == pytest.approx([auc - z * se, min(1.0, auc + z * se)], rel=1e-9)
    assert r["auc_ci"][1] == 1.0                      # 0.884 + z 0.096 > 1: clipped
    assert M.auc_ci(Y, P, confidence) == pytest.approx((auc - z * se, min(1.0, auc + z * se)))


def test_report_at_another_threshold_keeps_the_auc_and_moves_the_counts():
    """The threshold changes the confusion matrix and the proportion intervals, not the AUC."""
    a, b = M.binary_report(Y, P, threshold=0.5), M.binary_report(Y, P, threshold=0.61)
    assert a["auc"] == b["auc"] and a["auc_ci"] == b["auc_ci"]
    assert b["threshold"] == 0.61


def test_youden_threshold_by_hand():
    """J = TP/8 - FP/7 at each score: 0.65 -> 5/8 - 0 = 0.625; 0.6 -> 6/8 - 1/7 = 0.607;
    0.55 -> 7/8 - 1/7 = 0.732; 0.5 -> 7/8 - 2/7 = 0.589; 0.3 -> 1 - 5/7 = 0.286. The
    maximum is at 0.55."""
    assert M.youden_threshold(Y, P) == 0.55
    # a negative on top: J at 0.8 = 1/4 - 1/5, at 0.7 = 2/4 - 1/5 = 0.3 (the maximum),
    # at 0.3 = 3/4 - 4/5, at 0.2 = 4/4 - 5/5
    assert M.youden_threshold([0, 1, 1, 0, 0, 0, 1, 0, 1], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4,
                                                            0.3, 0.35, 0.2]) == 0.7


def test_youden_ties_that_floats_round_differently_go_to_the_higher_threshold():
    """J = 1/3 at 0.7 (TPR 2/3, FPR 1/3) and at 0.2 (TPR 1, FPR 2/3): a tie, so 0.7."""
    assert M.youden_threshold([0, 1, 0, 1, 1, 0], [0.9, 0.8, 0.3, 0.7, 0.2, 0.1]) == 0.7
