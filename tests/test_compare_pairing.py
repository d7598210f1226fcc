"""``compare`` pairs the settings' runs by seed, whatever seeds each sweep ran and in whatever
order its sweep.json lists them (the same seed draws the same split, sample and initial
weights, so only runs of the same seed differ by the setting alone)."""
import pytest

from minicnn import sweep_results

from folders import fake_sweep

# seed: (validation auc, validation loss); the numbers are chosen so that pairing by
# position, or by sorted position, gives other differences
BASE = {0: (0.80, 0.50), 1: (0.90, 0.30), 2: (0.60, 0.90), 4: (0.70, 0.60)}
OTHER = {0: (0.83, 0.45), 1: (0.91, 0.32), 3: (0.99, 0.01), 4: (0.78, 0.50)}
COMMON = (0, 1, 4)      # the seeds both have: differences +0.03, +0.01, +0.08 in auc


def _reordered(values, order):
    return {seed: values[seed] for seed in order}


@pytest.mark.parametrize("base_order,other_order", [
    ((0, 1, 2, 4), (0, 1, 3, 4)),
    ((2, 4, 0, 1), (0, 1, 3, 4)),
    ((4, 1, 2, 0), (3, 4, 1, 0)),
])
def test_differences_are_paired_by_seed_in_any_order(tmp_path, base_order, other_order):
    base = fake_sweep(tmp_path / "a", "full", _reordered(BASE, base_order))
    other = fake_sweep(tmp_path / "b", "full_bn", _reordered(OTHER, other_order))
    first, second = sweep_results.compare([base, other])
    assert first["seeds"] == [0, 1, 2, 4] and second["seeds"] == [0, 1, 3, 4]
    for metric, column in (("auc", 0), ("loss", 1)):
        expected = [OTHER[s][column] - BASE[s][column] for s in COMMON]
        d = second["vs_first"][metric]
        assert d["n"] == len(COMMON)
        assert d["mean"] == pytest.approx(sum(expected) / len(expected))
        assert (d["min"], d["max"]) == pytest.approx((min(expected), max(expected)))


def test_the_difference_of_a_setting_with_itself_is_zero_in_any_order(tmp_path):
    base = fake_sweep(tmp_path / "a", "full", BASE)
    again = fake_sweep(tmp_path / "b", "full_again", _reordered(BASE, (4, 2, 1, 0)))
    d = sweep_results.compare([base, again])[1]["vs_first"]["auc"]
    assert d["n"] == 4 and (d["min"], d["max"]) == (0.0, 0.0)


def test_paired_takes_only_the_seeds_both_have_by_key():
    values = {3: 1.0, 0: 2.0, 5: None, 1: 4.0}
    reference = {0: 0.5, 1: 3.0, 3: 0.25, 5: 1.0, 7: 9.0}
    assert sorted(sweep_results._paired(values, reference)) == [0.75, 1.0, 1.5]
