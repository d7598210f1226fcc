"""Teaching material stays honest: each example ends with exercises answered in
docs/answers.md and docs/es/respuestas.md, the thesis's slips listed in docs/equations.md add
up, feature-map grids carry colour bars, and quick-mode samples are seeded and one image per
patient."""
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, real_data_dir
from minicnn import plots, thesis

EXAMPLES = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))
ANSWER_PAGES = ["answers.md", "es/respuestas.md"]            # English and Spanish


def exercises_of(script):
    """The numbered questions of an example's last cell, "## Exercises"."""
    text = script.read_text(encoding="utf-8")
    tail = text.rsplit("# ## Exercises", 1)
    return re.findall(r"^# (\d)\. ", tail[1], re.M) if len(tail) == 2 else []


@pytest.mark.parametrize("page", ANSWER_PAGES)
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_ends_with_exercises_answered_in_the_docs(script, page):
    numbers = exercises_of(script)
    assert 2 <= len(numbers) <= 4, f"{script.name}: {len(numbers)} exercises"
    answers = (ROOT / "docs" / page).read_text(encoding="utf-8")
    section = re.search(rf"^## {script.stem[:2]} .*?(?=^## |\Z)", answers, re.M | re.S)
    assert section, f"docs/{page} has no section for example {script.stem[:2]}"
    answered = re.findall(r"^(\d)\. ", section.group(0), re.M)
    assert answered == numbers, f"{script.name}: questions {numbers}, answers {answered}"


def test_the_thesis_slips_arithmetic():
    """docs/equations.md, "Where minicnn differs from the thesis": the numbers it states."""
    train, test = 1041 + 970, 313 + 203
    assert train + test == 2527 != 2542
    assert round(100 * train / (train + test), 1) == 79.6
    assert thesis.pooling_sizes()[-1] == (7, 1568) and 6272 // 2 == 3136
    assert round(float(np.exp(-0.34)), 2) == 0.71 and round(100 * (1 - 0.8622), 1) == 13.8


def test_feature_map_grids_have_a_colour_bar_per_map():
    """And a map that is all 0 (a filter ReLU switched off) says so, instead of a colour bar
    around 0 that suggests values."""
    maps = np.random.default_rng(0).normal(size=(6, 6, 5))
    maps[:, :, 1] = 0
    fig = plots.plot_feature_maps(maps, max_maps=4)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 4
    assert [ax.get_title() for ax in fig.axes[:2]] == ["channel 0", "channel 1 (all 0)"]


def test_patient_sample_is_seeded_and_one_image_per_patient(tmp_path, monkeypatch):
    data = real_data_dir()
    if data is None:
        pytest.skip("the chest X-ray data set is not available")
    from minicnn.data import patient_id
    from minicnn.data.subsets import load_patient_sample, one_file_per_patient
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path))
    folder = Path(data) / "train" / "PNEUMONIA"
    first = one_file_per_patient(folder, 40, seed=0)
    assert first == one_file_per_patient(folder, 40, seed=0) != one_file_per_patient(
        folder, 40, seed=1)
    assert len({patient_id(p) for p in first}) == 40
    ds = load_patient_sample(Path(data) / "test", 3, 16, seed=0)
    again = load_patient_sample(Path(data) / "test", 3, 16, seed=0)        # from the cache
    assert ds.x.shape == (6, 16, 16, 1) and list(ds.y) == [0, 0, 0, 1, 1, 1]
    assert np.array_equal(ds.x, again.x) and ds.paths == again.paths
