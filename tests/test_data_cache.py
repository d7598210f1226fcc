"""The decode cache behind load_image_folder: one entry per image content and size, shared by
every folder, sample and label order; hits, changed files, corrupt entries, the size limit,
``minicnn cache info`` and ``minicnn cache clear``."""

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import minicnn.data.loader as loader
from minicnn.data import cache as cache_mod
from minicnn.cli import main
from minicnn.data import default_cache_dir, load_image_folder, load_patient_sample

S = 12


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "imgs"
    for cls, values in (("NORMAL", (10, 60, 110)), ("PNEUMONIA", (160, 210))):
        (root / cls).mkdir(parents=True)
        for v in values:
            Image.new("L", (20, 16), v).save(root / cls / f"img{v}.png")
    return root


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


@pytest.fixture
def count_decodes(monkeypatch):
    """Counts calls of the decoder used by the loader."""
    calls = []
    real = loader.decode_image

    def counting(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(loader, "decode_image", counting)
    return calls


def load(root, cache_dir, **kw):
    return load_image_folder(root, image_size=S, cache_dir=cache_dir, progress=False, **kw)


def forbid_decoding(monkeypatch):
    def fail(path):
        raise AssertionError(f"decoded {path} although it should come from the cache")

    monkeypatch.setattr(loader, "decode_image", fail)


def same(a, b):
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.x.dtype == b.x.dtype == np.float32 and a.y.dtype == b.y.dtype == np.int64
    assert a.paths == b.paths and a.class_names == b.class_names and a.skipped == b.skipped


def entries(cache_dir, suffix=".f32"):
    return sorted((cache_dir / cache_mod.STORE).rglob(f"*{suffix}"))


def test_second_load_is_served_from_cache(folder, cache_dir, monkeypatch):
    first = load(folder, cache_dir)
    files = entries(cache_dir)
    assert len(files) == 5 and {f.parent.parent.name for f in files} == {f"{S}px"}
    assert all(f.stat().st_size == 4 * S * S for f in files)
    assert not list(cache_dir.rglob("*.tmp"))  # every temporary file was renamed into place
    forbid_decoding(monkeypatch)
    second = load(folder, cache_dir)
    same(first, second)
    assert all(isinstance(p, str) for p in second.paths)


def test_default_cache_dir_from_environment(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "envcache"))
    assert default_cache_dir() == tmp_path / "envcache"
    load_image_folder(folder, image_size=S, progress=False)
    assert len(entries(tmp_path / "envcache")) == 5
    monkeypatch.delenv("MINICNN_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "minicnn"


def test_use_cache_false_writes_nothing(folder, cache_dir):
    load(folder, cache_dir, use_cache=False)
    assert not cache_dir.exists()


def test_the_key_is_the_content_not_the_path_the_time_or_the_labels(folder, cache_dir, tmp_path,
                                                                     count_decodes):
    first = load(folder, cache_dir)
    assert len(count_decodes) == 5
    target = folder / "NORMAL" / "img60.png"
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))   # touched only
    copy = shutil.copytree(folder, tmp_path / "elsewhere")               # another folder
    relabelled = load(copy, cache_dir, class_names=["PNEUMONIA", "NORMAL"])
    same(first, load(folder, cache_dir))
    assert len(count_decodes) == 5
    assert list(relabelled.y) == [0, 0, 1, 1, 1]
    np.testing.assert_array_equal(relabelled.x[2:], first.x[:3])


def test_a_sample_and_a_seed_share_the_entries_of_the_whole_folder(tmp_path, cache_dir,
                                                                   monkeypatch):
    from folders import make_chest_xray
    data = make_chest_xray(tmp_path / "chest_xray")
    monkeypatch.setenv("MINICNN_CACHE", str(cache_dir))
    whole = load_image_folder(data / "test", image_size=S, progress=False)
    forbid_decoding(monkeypatch)
    for seed in (0, 1):
        sample = load_patient_sample(data / "test", per_class=2, image_size=S, seed=seed)
        for path, x in zip(sample.paths, sample.x):
            np.testing.assert_array_equal(x, whole.x[whole.paths.index(path)])


def test_adding_or_replacing_a_file_decodes_only_that_file(folder, cache_dir, count_decodes):
    first = load(folder, cache_dir)
    Image.new("L", (20, 16), 250).save(folder / "PNEUMONIA" / "new.png")
    second = load(folder, cache_dir)
    assert len(count_decodes) == 5 + 1 and len(second) == len(first) + 1
    # same name, same mtime, other size and content
    target = folder / "NORMAL" / "img10.png"
    st = target.stat()
    Image.new("L", (30, 30), 99).save(target)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    third = load(folder, cache_dir)
    assert len(count_decodes) == 5 + 1 + 1
    np.testing.assert_allclose(third.x[0], 99 / 255, rtol=1e-5)


def test_the_size_is_part_of_the_key(folder, cache_dir, count_decodes):
    a = load(folder, cache_dir)
    b = load_image_folder(folder, image_size=S + 2, cache_dir=cache_dir, progress=False)
    assert b.x.shape[1:] == (S + 2, S + 2, 1) and a.x.shape[1:] == (S, S, 1)
    assert len(count_decodes) == 10 and len(entries(cache_dir)) == 10


@pytest.mark.parametrize("garbage", [b"", b"short", b"\0" * (4 * S * S + 4)])
def test_a_corrupt_entry_is_rebuilt_with_warning(folder, cache_dir, monkeypatch, garbage):
    first = load(folder, cache_dir)
    entries(cache_dir)[0].write_bytes(garbage)
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        second = load(folder, cache_dir)
    same(first, second)
    forbid_decoding(monkeypatch)  # the rebuilt entry is good again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same(first, load(folder, cache_dir))


def test_skipped_files_are_remembered(folder, cache_dir, monkeypatch):
    (folder / "PNEUMONIA" / "broken.jpeg").write_bytes(b"\xff\xd8\xff not really")
    with pytest.warns(UserWarning, match="broken.jpeg"):
        first = load(folder, cache_dir)
    assert [Path(p).name for p, _ in first.skipped] == ["broken.jpeg"]
    assert len(entries(cache_dir, ".err")) == 1
    forbid_decoding(monkeypatch)
    with pytest.warns(UserWarning, match="broken.jpeg.*remembered in cache"):
        second = load(folder, cache_dir)
    assert second.paths == first.paths and len(second.skipped) == 1
    with pytest.raises(ValueError, match="broken.jpeg"):
        load(folder, cache_dir, strict=True)


def test_unwritable_cache_warns_and_still_loads(folder, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.warns(UserWarning, match="could not write cache"):
        ds = load(folder, blocker / "cache")
    assert len(ds) == 5


def test_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        cache_mod._write_atomic(tmp_path / "c.f32", b"1234")
    assert list(tmp_path.iterdir()) == []


def test_the_size_limit_removes_the_oldest_entries(folder, cache_dir, monkeypatch):
    load(folder, cache_dir)                               # 5 entries of 4 S^2 bytes
    oldest = entries(cache_dir)
    for age, path in enumerate(oldest):                   # written long ago, in this order
        os.utime(path, (1000 + age, 1000 + age))
    monkeypatch.setenv("MINICNN_CACHE_LIMIT", str(6 * 4 * (S + 2) ** 2))
    load_image_folder(folder, image_size=S + 2, cache_dir=cache_dir, progress=False)
    left = entries(cache_dir)
    assert sum(p.stat().st_size for p in left) <= 6 * 4 * (S + 2) ** 2
    assert len([p for p in left if p.parent.parent.name == f"{S + 2}px"]) == 5
    kept_old = [p for p in oldest if p.exists()]
    assert kept_old == oldest[len(oldest) - len(kept_old):]   # the oldest went first


@pytest.mark.parametrize("text, limit", [("", cache_mod.DEFAULT_LIMIT), ("1000", 1000),
                                         ("500MB", 500 * 10**6), ("1.5 GB", 1.5 * 10**9),
                                         ("2GiB", 2 * 2**30)])
def test_the_limit_is_read_from_the_environment(monkeypatch, text, limit):
    monkeypatch.setenv("MINICNN_CACHE_LIMIT", text)
    assert cache_mod.cache_limit() == limit


def test_a_bad_limit_is_named(monkeypatch):
    monkeypatch.setenv("MINICNN_CACHE_LIMIT", "lots")
    with pytest.raises(ValueError, match="MINICNN_CACHE_LIMIT='lots'"):
        cache_mod.cache_limit()


def test_cache_info_and_clear(folder, cache_dir, monkeypatch, capsys):
    load(folder, cache_dir)
    load_image_folder(folder, image_size=S + 2, cache_dir=cache_dir, progress=False)
    old = cache_dir / f"imgs-{'0' * 32}.npz"                     # version 1's file
    old.write_bytes(b"x" * 100)
    mine = cache_dir / "notes.txt"                               # not the cache's
    mine.write_text("keep me")
    facts = cache_mod.info(cache_dir)
    assert facts["sizes"] == {f"{S}px": {"images": 5, "bytes": 5 * 4 * S * S},
                              f"{S + 2}px": {"images": 5, "bytes": 5 * 4 * (S + 2) ** 2}}
    assert (facts["old_files"], facts["old_bytes"]) == (1, 100)
    monkeypatch.setenv("MINICNN_CACHE", str(cache_dir))
    assert main(["cache", "info"]) == 0
    printed = capsys.readouterr().out
    assert str(cache_dir) in printed and f"{S}px: 5 images" in printed
    assert "older whole-folder cache files: 1" in printed
    assert main(["cache", "clear"]) == 0
    assert "removed" in capsys.readouterr().out
    assert sorted(p.name for p in cache_dir.iterdir()) == ["notes.txt"]
    assert cache_mod.info(cache_dir)["sizes"] == {}
