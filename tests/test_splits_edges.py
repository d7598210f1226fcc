"""minicnn.data.splits at its edges: defaults (seed 0, val_fraction 0.15), the number of folds,
the argument checks and their messages, counts of zero and empty samples (found by mutation
testing, docs/testing.md)."""
import numpy as np
import pytest

from minicnn.data import (class_weights_balanced, oversample, stratified_sample,
                          train_val_split, undersample)

Y = np.array([0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1])


def test_defaults_are_seed_zero():
    """Calling without a seed is seed 0 (and seed 1 differs), for every sampler."""
    for sample in (oversample, undersample):
        assert sample(Y).tolist() == sample(Y, 0).tolist()
        assert any(sample(Y, s).tolist() != sample(Y).tolist() for s in (1, 2, 3))
    counts = {0: 2, 1: 3}
    assert stratified_sample(Y, counts).tolist() == stratified_sample(Y, counts, 0).tolist()
    assert any(stratified_sample(Y, counts, s).tolist() != stratified_sample(Y, counts).tolist()
               for s in (1, 2, 3))
    y, groups = np.array([0, 1] * 35), np.arange(70)
    default = train_val_split(y, groups)
    same = train_val_split(y, groups, 0.15, 0)
    assert all(a.tolist() == b.tolist() for a, b in zip(default, same))
    assert default[1].tolist() != train_val_split(y, groups, 0.15, 1)[1].tolist()


def test_validation_share_is_one_fold_of_round_one_over_fraction():
    """0.15 -> 7 folds: 70 one-image patients give exactly 10 in validation (5 per class);
    0.5 -> 2 folds: half; the same seed gives the same split."""
    y, groups = np.array([0, 1] * 35), np.arange(70)
    train, val = train_val_split(y, groups, 0.15, seed=4)
    assert len(val) == 10 and np.bincount(y[val]).tolist() == [5, 5] and len(train) == 60
    again = train_val_split(y, groups, 0.15, seed=4)
    assert val.tolist() == again[1].tolist()
    y2, groups2 = np.array([0, 1] * 10), np.arange(20)
    assert len(train_val_split(y2, groups2, 0.5, seed=4)[1]) == 10


def test_as_many_groups_as_folds_is_enough():
    """7 patients and val_fraction 0.15 (7 folds): allowed, one patient goes to validation."""
    y = np.array([0, 1] * 7)
    groups = np.arange(14) // 2                       # 7 patients, 2 images each
    train, val = train_val_split(y, groups, 0.15, seed=0)
    assert len(set(groups[val])) == 1 and len(val) == 2
    with pytest.raises(ValueError, match=r"need at least 7 patient groups for "
                                         r"val_fraction=0.15, got 6"):
        train_val_split(y[:12], groups[:12], 0.15)


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.2])
def test_val_fraction_outside_zero_one_is_an_error(bad):
    with pytest.raises(ValueError, match=rf"val_fraction must be in \(0, 1\), got {bad}"):
        train_val_split(np.array([0, 1] * 10), np.arange(20), bad)


def test_label_checks_name_y():
    with pytest.raises(ValueError, match=r"^y must be 1-D \(N,\), got shape \(1, 2\)"):
        class_weights_balanced([[0, 1]])
    with pytest.raises(ValueError, match=r"^y is empty$"):
        oversample([])
    with pytest.raises(TypeError, match=r"^y must hold integer class labels, got dtype "
                                        r"float64"):
        undersample([0.0, 1.0])
    assert class_weights_balanced([1]) == {1: 1.0}          # one sample is not empty
    assert class_weights_balanced(np.array([True, False, False, False])) == {0: 4 / 6,
                                                                           1: 4 / 2}


def test_stratified_sample_counts_zero_bool_and_empty():
    """A count of 0 is allowed (no sample of that class); True is not a count; no class at
    all gives an empty int64 array."""
    picked = stratified_sample(Y, {0: 0, 1: 3}, seed=1)
    assert len(picked) == 3 and set(Y[picked].tolist()) == {1}
    with pytest.raises(ValueError, match="count for class 0 must be an int >= 0, got True"):
        stratified_sample(Y, {0: True})
    with pytest.raises(ValueError, match="count for class 1 must be an int >= 0, got -1"):
        stratified_sample(Y, [1, -1])
    empty = stratified_sample(Y, {})
    assert empty.shape == (0,) and empty.dtype == np.int64
