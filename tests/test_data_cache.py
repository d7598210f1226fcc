"""The .npz cache behind load_image_folder: hits, invalidation, corrupt files, atomic writes."""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import minicnn.data.loader as loader
from minicnn.data import cache as cache_mod
from minicnn.data import default_cache_dir, load_image_folder

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


def test_second_load_is_served_from_cache(folder, cache_dir, monkeypatch):
    first = load(folder, cache_dir)
    files = list(cache_dir.glob("*.npz"))
    assert len(files) == 1 and files[0].name.startswith("imgs-")
    assert not list(cache_dir.glob("*.tmp"))  # the temporary file was renamed into place
    forbid_decoding(monkeypatch)
    second = load(folder, cache_dir)
    same(first, second)
    assert all(isinstance(p, str) for p in second.paths)


def test_default_cache_dir_from_environment(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "envcache"))
    assert default_cache_dir() == tmp_path / "envcache"
    load_image_folder(folder, image_size=S, progress=False)
    assert len(list((tmp_path / "envcache").glob("*.npz"))) == 1
    monkeypatch.delenv("MINICNN_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "minicnn"


def test_use_cache_false_writes_nothing(folder, cache_dir):
    load(folder, cache_dir, use_cache=False)
    assert not cache_dir.exists()


def test_touching_a_file_invalidates(folder, cache_dir, count_decodes):
    load(folder, cache_dir)
    assert len(count_decodes) == 5
    target = folder / "NORMAL" / "img60.png"
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    load(folder, cache_dir)
    assert len(count_decodes) == 10


def test_adding_or_replacing_a_file_invalidates(folder, cache_dir, count_decodes):
    first = load(folder, cache_dir)
    Image.new("L", (20, 16), 250).save(folder / "PNEUMONIA" / "new.png")
    second = load(folder, cache_dir)
    assert len(count_decodes) == 5 + 6 and len(second) == len(first) + 1
    # same name, same mtime, other size and content
    target = folder / "NORMAL" / "img10.png"
    st = target.stat()
    Image.new("L", (30, 30), 99).save(target)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    third = load(folder, cache_dir)
    assert len(count_decodes) == 5 + 6 + 6
    np.testing.assert_allclose(third.x[0], 99 / 255, rtol=1e-5)


def test_settings_are_part_of_the_key(folder, cache_dir, count_decodes):
    a = load(folder, cache_dir)
    b = load_image_folder(folder, image_size=S + 2, cache_dir=cache_dir, progress=False)
    assert b.x.shape[1:] == (S + 2, S + 2, 1) and a.x.shape[1:] == (S, S, 1)
    c = load(folder, cache_dir, class_names=["PNEUMONIA", "NORMAL"])
    assert c.class_names == ["PNEUMONIA", "NORMAL"] and list(c.y) == [0, 0, 1, 1, 1]
    assert len(count_decodes) == 15
    assert len(list(cache_dir.glob("*.npz"))) == 3


@pytest.mark.parametrize("garbage", [b"", b"not a zip file at all", b"PK\x03\x04truncated"])
def test_corrupt_cache_file_is_rebuilt_with_warning(folder, cache_dir, monkeypatch, garbage):
    first = load(folder, cache_dir)
    (path,) = cache_dir.glob("*.npz")
    path.write_bytes(garbage)
    with pytest.warns(RuntimeWarning, match="unreadable.*rebuilding"):
        second = load(folder, cache_dir)
    same(first, second)
    forbid_decoding(monkeypatch)  # the rebuilt file is good again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same(first, load(folder, cache_dir))


def test_cache_file_with_missing_arrays_is_rebuilt(folder, cache_dir):
    first = load(folder, cache_dir)
    (path,) = cache_dir.glob("*.npz")
    with np.load(path) as npz:
        key = str(npz["cache_key"])
    cache_mod.write_cache(path, key, {"x": np.zeros((1, 2, 2, 1), np.float32)})
    with pytest.warns(RuntimeWarning, match="invalid"):
        same(first, load(folder, cache_dir))


def test_skipped_files_are_remembered(folder, cache_dir, monkeypatch):
    (folder / "PNEUMONIA" / "broken.jpeg").write_bytes(b"\xff\xd8\xff not really")
    with pytest.warns(UserWarning, match="broken.jpeg"):
        first = load(folder, cache_dir)
    assert [Path(p).name for p, _ in first.skipped] == ["broken.jpeg"]
    forbid_decoding(monkeypatch)
    with pytest.warns(UserWarning, match="broken.jpeg"):
        second = load(folder, cache_dir)
    same(first, second)
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

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError, match="disk full"):
        cache_mod.write_cache(tmp_path / "c.npz", "k", {"x": np.zeros(3)})
    assert list(tmp_path.iterdir()) == []


def test_read_cache_other_key_and_missing(tmp_path):
    path = tmp_path / "c.npz"
    assert cache_mod.read_cache(path, "abc") is None
    cache_mod.write_cache(path, "abc", {"x": np.arange(3)})
    np.testing.assert_array_equal(cache_mod.read_cache(path, "abc")["x"], np.arange(3))
    with pytest.warns(RuntimeWarning, match="another key"):
        assert cache_mod.read_cache(path, "xyz") is None


def test_cache_key_depends_on_files_and_settings(folder):
    files = sorted((str(p), 0) for p in folder.rglob("*.png"))
    key = cache_mod.cache_key(files, {"image_size": 150})
    assert key == cache_mod.cache_key(list(reversed(files)), {"image_size": 150})
    assert key != cache_mod.cache_key(files, {"image_size": 64})
    assert key != cache_mod.cache_key(files[1:], {"image_size": 150})
    assert key != cache_mod.cache_key([(p, 1) for p, _ in files], {"image_size": 150})
