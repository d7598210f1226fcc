"""Where the X-rays are looked for (minicnn/data/locate.py, the one list of places)."""
from pathlib import Path

import pytest

from minicnn.data import find_data_dir, locate
from minicnn.validation import DataError


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working directory without data, no $MINICNN_DATA, and a fake checkout."""
    work, checkout = tmp_path / "work", tmp_path / "checkout"
    work.mkdir()
    checkout.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    monkeypatch.setattr(locate, "CHECKOUT", checkout)
    return work, checkout


def test_the_data_beside_the_checkout_is_found_from_anywhere(elsewhere):
    work, checkout = elsewhere
    (checkout / "data" / "chest_xray").mkdir(parents=True)
    with pytest.raises(FileNotFoundError):            # not a checkout: no pyproject.toml
        find_data_dir()
    (checkout / "pyproject.toml").write_text("")
    assert find_data_dir() == checkout / "data" / "chest_xray"
    (work / "data" / "chest_xray").mkdir(parents=True)   # the working directory comes first
    assert find_data_dir() == Path("data/chest_xray")


def test_an_explicit_folder_or_minicnn_data_is_used_alone(elsewhere, monkeypatch):
    work, checkout = elsewhere
    (work / "data" / "chest_xray").mkdir(parents=True)
    monkeypatch.setenv("MINICNN_DATA", str(work / "missing"))
    with pytest.raises(FileNotFoundError, match="missing") as exc:
        find_data_dir()
    assert str(work / "data") not in str(exc.value)
    (work / "a-file").write_text("x")
    with pytest.raises(DataError, match="is a file"):
        find_data_dir(work / "a-file")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_data_dir(work / "nope")


def test_the_places_are_described_from_the_one_list():
    text = locate.describe_places()
    assert "$MINICNN_DATA" in text and all(f"./{p}" in text for p in locate.PLACES)
