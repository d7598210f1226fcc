"""Patient ids, the grouped stratified validation split, class weights and resampling."""

import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from conftest import real_data_dir
from minicnn.data import (class_weights_balanced, oversample, patient_id, stratified_sample,
                          train_val_split, undersample)

REAL_TRAIN = Path(real_data_dir() or "missing-data").resolve() / "train"


@pytest.mark.parametrize("name, expected", [
    ("person1000_bacteria_2931.jpeg", "person1000"),
    ("person1000_virus_1681.jpeg", "person1000"),
    ("person447_virus_921_1.jpeg", "person447"),
    ("/data/train/PNEUMONIA/person3_virus_15.jpeg", "person3"),
    ("IM-0115-0001.jpeg", "IM-0115"),
    ("IM-0429-0001-0002.jpeg", "IM-0429"),
    ("NORMAL2-IM-0173-0001-0001.jpeg", "NORMAL2-IM-0173"),
    ("NORMAL2-IM-1345-0001.jpeg", "NORMAL2-IM-1345"),
    (Path("x/NORMAL/IM-0001-0001.JPEG"), "IM-0001"),
    ("scan 7.png", "scan 7"),
    ("personX_bacteria_1.jpeg", "personX_bacteria_1"),
])
def test_patient_id(name, expected):
    assert patient_id(name) == expected


def real_train_names():
    names, y = [], []
    for cls, label in (("NORMAL", 0), ("PNEUMONIA", 1)):
        files = sorted(os.listdir(REAL_TRAIN / cls))
        names += files
        y += [label] * len(files)
    return names, np.array(y)


@pytest.mark.slow
@pytest.mark.skipif(not REAL_TRAIN.is_dir(), reason=f"real data set not found at {REAL_TRAIN}")
def test_grouped_split_on_real_file_names():
    names, y = real_train_names()
    assert len(names) == 5216
    groups = np.array([patient_id(n) for n in names])
    assert len(np.unique(groups)) < len(names)  # patients do have several images
    train, val = train_val_split(y, groups, val_fraction=0.15, seed=0)
    assert train.dtype == val.dtype == np.int64
    assert np.intersect1d(train, val).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(y)))
    assert not set(groups[train]) & set(groups[val])
    assert 0.11 <= len(val) / len(y) <= 0.18
    overall = y.mean()
    assert abs(y[val].mean() - overall) < 0.03 and abs(y[train].mean() - overall) < 0.03
    # seeded: same seed, same split; another seed, another split
    again = train_val_split(y, groups, val_fraction=0.15, seed=0)
    assert np.array_equal(again[1], val)
    assert not np.array_equal(train_val_split(y, groups, 0.15, seed=1)[1], val)


def test_grouped_split_small_synthetic():
    groups = np.repeat(np.arange(60), 3)
    y = (np.arange(60) % 4 == 0).astype(int).repeat(3)  # class constant within a patient
    train, val = train_val_split(y, groups, val_fraction=0.2, seed=5)
    assert not set(groups[train]) & set(groups[val])
    assert len(val) == len(y) // 5
    assert 0 < y[val].sum() < len(val)


def test_split_errors():
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="groups has shape"):
        train_val_split(y, ["a", "b", "c"])
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(y, ["a", "b", "c", "d"], val_fraction=1.5)
    with pytest.raises(ValueError, match="patient groups"):
        train_val_split(y, ["a", "a", "b", "b"], val_fraction=0.15)


def test_class_weights_balanced():
    y = np.array([0, 0, 0, 1])
    w = class_weights_balanced(y)
    assert w == pytest.approx({0: 4 / 6, 1: 2.0})
    assert all(type(k) is int and type(v) is float for k, v in w.items())
    y = np.repeat([0, 1, 2], [5, 20, 11])
    expected = compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=y)
    assert list(class_weights_balanced(y).values()) == pytest.approx(expected.tolist())
    with pytest.raises(TypeError):
        class_weights_balanced([0.5, 1.0])


def test_oversample():
    y = np.array([0] * 3 + [1] * 10)
    idx = oversample(y, seed=1)
    assert np.bincount(y[idx]).tolist() == [10, 10]
    assert set(range(13)) <= set(idx.tolist())  # every original sample is kept
    assert np.array_equal(idx, oversample(y, seed=1))
    assert np.all(np.diff(idx) >= 0)


def test_undersample():
    y = np.array([0] * 3 + [1] * 10)
    idx = undersample(y, seed=1)
    assert np.bincount(y[idx]).tolist() == [3, 3]
    assert len(set(idx.tolist())) == 6
    assert set(np.flatnonzero(y == 0)) <= set(idx.tolist())
    assert np.array_equal(idx, undersample(y, seed=1))
    others = {tuple(undersample(y, seed=s)) for s in range(10)}
    assert len(others) > 1


def test_stratified_sample_thesis_sizes():
    y = np.repeat([0, 1], [1341, 3875])  # real train counts
    idx = stratified_sample(y, {1: 1041, 0: 970}, seed=0)
    assert len(idx) == 2011 and len(np.unique(idx)) == 2011
    assert np.bincount(y[idx]).tolist() == [970, 1041]
    assert np.array_equal(idx, stratified_sample(y, [970, 1041], seed=0))
    assert not np.array_equal(idx, stratified_sample(y, [970, 1041], seed=1))
    with pytest.raises(ValueError, match="only 1341 available"):
        stratified_sample(y, {0: 2000})
    with pytest.raises(ValueError, match="int >= 0"):
        stratified_sample(y, {0: -1})
