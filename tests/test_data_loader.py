"""minicnn.data.load_image_folder on fixture folders (every image kind, broken files, folder
names) and on a small sample of the real chest X-ray data."""

import io
import os
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.color import gray2rgb, rgb2gray
from skimage.transform import resize

from minicnn.data import ImageDataset, load_image_folder

from conftest import real_data_dir

REAL = Path(real_data_dir() or "missing-data").resolve()
S = 16  # small output size keeps the tests fast


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))


def load(root, **kw):
    kw.setdefault("image_size", S)
    kw.setdefault("progress", False)
    kw.setdefault("use_cache", False)
    return load_image_folder(root, **kw)


def reference(rgb, size=S):
    """Thesis preprocessing written out directly with scikit-image."""
    return rgb2gray(resize(rgb, (size, size), anti_aliasing=True))


def row(ds, name):
    matches = [i for i, p in enumerate(ds.paths) if os.path.basename(p) == name]
    assert len(matches) == 1, (name, ds.paths)
    return ds.x[matches[0], :, :, 0]


def save(path, img, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)
    return path


def gradient(h, w):
    """(h, w) uint8 test pattern with structure in both directions."""
    yy, xx = np.mgrid[0:h, 0:w]
    return ((xx * 255 // max(w - 1, 1) + yy * 97 // max(h - 1, 1)) % 256).astype(np.uint8)


def tiny_jpeg_bytes():
    buf = io.BytesIO()
    Image.fromarray(gradient(64, 64)).save(buf, format="JPEG")
    return buf.getvalue()


# --------------------------------------------------------------------------- image kinds

@pytest.fixture
def every_kind(tmp_path):
    """Folder with one file per image kind; returns (root, {file name: expected (S, S)})."""
    root = tmp_path / "kinds"
    n, p = root / "NORMAL", root / "PNEUMONIA"
    expected = {}

    g = gradient(40, 30)
    save(n / "gray8.png", Image.fromarray(g))
    expected["gray8.png"] = reference(gray2rgb(g))

    rgb = np.stack([g, 255 - g, g // 2], axis=2)
    save(n / "rgb.png", Image.fromarray(rgb))
    expected["rgb.png"] = reference(rgb)

    # RGBA: alpha is dropped, not composited (alpha 0 everywhere would give black otherwise).
    rgba = np.dstack([rgb, np.zeros_like(g)])
    save(n / "rgba.png", Image.fromarray(rgba, "RGBA"))
    expected["rgba.png"] = reference(rgb)

    pal = Image.fromarray(rgb).quantize(colors=16)
    save(n / "palette.png", pal)
    save(n / "palette.gif", pal)
    pal_rgb = np.asarray(pal.convert("RGB"))
    expected["palette.png"] = expected["palette.gif"] = reference(pal_rgb)

    # 16-bit gray: scaled by 65535 (40000 -> 0.61), not clipped at 255 (-> 1.0).
    g16 = (g.astype(np.uint16) * 257 // 2 + 20000).astype(np.uint16)
    save(p / "gray16.png", Image.fromarray(g16))
    assert Image.open(p / "gray16.png").mode.startswith("I")
    expected["gray16.png"] = reference(np.dstack([g16 / 65535.0] * 3))

    save(p / "tiny.png", Image.new("L", (1, 1), 200))
    expected["tiny.png"] = np.full((S, S), 200 / 255)

    big = gradient(1600, 1200)
    save(p / "big.png", Image.fromarray(big))
    expected["big.png"] = reference(gray2rgb(big))

    # JPEGs are lossy: uniform colours keep the expected values simple.
    save(p / "UPPER.JPEG", Image.new("RGB", (20, 20), (200, 100, 50)), quality=95)
    expected["UPPER.JPEG"] = np.full((S, S), (0.2125 * 200 + 0.7154 * 100 + 0.0721 * 50) / 255)
    save(p / "UPPER2.PNG", Image.fromarray(g))
    expected["UPPER2.PNG"] = reference(gray2rgb(g))
    save(p / "with space ñandú é.png", Image.fromarray(rgb))
    expected["with space ñandú é.png"] = reference(rgb)
    save(p / "gray.jpg", Image.new("L", (25, 25), 90), quality=95)
    expected["gray.jpg"] = np.full((S, S), 90 / 255)

    cmyk = Image.new("CMYK", (20, 20), (30, 120, 200, 10))
    save(p / "cmyk.jpeg", cmyk, quality=95)
    decoded = Image.open(p / "cmyk.jpeg")
    assert decoded.mode == "CMYK"
    expected["cmyk.jpeg"] = reference(np.asarray(decoded.convert("RGB")))
    return root, expected


@pytest.mark.slow
def test_every_image_kind_loads_with_thesis_preprocessing(every_kind):
    root, expected = every_kind
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing here may be skipped or warned about
        ds = load(root)
    assert isinstance(ds, ImageDataset)
    assert ds.x.shape == (len(expected), S, S, 1) and ds.x.dtype == np.float32
    assert ds.y.dtype == np.int64 and ds.skipped == []
    assert ds.class_names == ["NORMAL", "PNEUMONIA"]
    assert sorted(os.path.basename(p) for p in ds.paths) == sorted(expected)
    for name, want in expected.items():
        np.testing.assert_allclose(row(ds, name), want, atol=2e-3 if name.endswith(
            ("JPEG", "jpeg", "jpg")) else 1e-6, err_msg=name)
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    labels = {os.path.basename(p): int(y) for p, y in zip(ds.paths, ds.y)}
    assert labels["rgb.png"] == 0 and labels["gray16.png"] == 1
    # rows are ordered by label, then path
    assert list(ds.y) == sorted(ds.y)


def test_16bit_png_is_not_clipped(tmp_path):
    save(tmp_path / "NORMAL" / "a.png", Image.fromarray(np.full((8, 8), 1000, np.uint16)))
    save(tmp_path / "PNEUMONIA" / "b.png", Image.fromarray(np.full((8, 8), 40000, np.uint16)))
    ds = load(tmp_path)
    np.testing.assert_allclose(ds.x[0], 1000 / 65535, rtol=1e-5)
    np.testing.assert_allclose(ds.x[1], 40000 / 65535, rtol=1e-5)


# --------------------------------------------------------------------------- broken files

@pytest.fixture
def with_broken(tmp_path):
    root = tmp_path / "broken"
    save(root / "NORMAL" / "good.png", Image.fromarray(gradient(10, 10)))
    save(root / "PNEUMONIA" / "good.png", Image.fromarray(gradient(12, 9)))
    (root / "PNEUMONIA" / "empty.jpeg").write_bytes(b"")
    data = tiny_jpeg_bytes()
    (root / "PNEUMONIA" / "truncated.jpeg").write_bytes(data[: len(data) // 2])
    (root / "NORMAL" / "not an image.jpeg").write_text("hello, I am text\n")
    buf = io.BytesIO()
    Image.fromarray(gradient(50, 50)).save(buf, format="PNG")
    (root / "NORMAL" / "truncated.png").write_bytes(buf.getvalue()[:60])
    return root


BROKEN = {"empty.jpeg", "truncated.jpeg", "not an image.jpeg", "truncated.png"}


def test_broken_files_are_skipped_with_a_warning(with_broken):
    with pytest.warns(UserWarning) as record:
        ds = load(with_broken)
    messages = [str(w.message) for w in record]
    for name in BROKEN:
        assert any(name in m for m in messages), (name, messages)
    assert {os.path.basename(p) for p, _ in ds.skipped} == BROKEN
    assert all(isinstance(r, str) and r for _, r in ds.skipped)
    reasons = {os.path.basename(p): r for p, r in ds.skipped}
    assert "empty" in reasons["empty.jpeg"]
    assert len(ds) == 2 and ds.x.shape == (2, S, S, 1)
    assert list(ds.y) == [0, 1]
    assert not set(map(os.path.basename, ds.paths)) & BROKEN


def test_strict_raises_on_broken_file(with_broken):
    with pytest.raises(ValueError, match="cannot decode"):
        load(with_broken, strict=True)


def test_class_with_only_broken_files_is_an_error(tmp_path):
    save(tmp_path / "NORMAL" / "good.png", Image.fromarray(gradient(10, 10)))
    (tmp_path / "PNEUMONIA").mkdir()
    (tmp_path / "PNEUMONIA" / "bad.jpeg").write_bytes(b"\xff\xd8garbage")
    with pytest.warns(UserWarning, match="bad.jpeg"), \
            pytest.raises(ValueError, match="PNEUMONIA.*no decodable"):
        load(tmp_path)


# --------------------------------------------------------------------------- folder names

@pytest.mark.parametrize("folder", [
    "NEUMONIA", "neumonia", "Pneumonia",
    unicodedata.normalize("NFC", "NEUMONÍA"),
    unicodedata.normalize("NFD", "NEUMONÍA"),
    unicodedata.normalize("NFD", "neumonía"),
])
def test_spanish_and_any_case_folder_names(tmp_path, folder):
    save(tmp_path / "normal" / "a.png", Image.fromarray(gradient(8, 8)))
    save(tmp_path / folder / "b.png", Image.fromarray(gradient(9, 8)))
    assert folder in os.listdir(tmp_path)  # the file system kept the name as written
    ds = load(tmp_path)
    assert list(ds.y) == [0, 1]
    assert os.path.basename(os.path.dirname(ds.paths[1])) == folder
    assert ds.class_names == ["NORMAL", "PNEUMONIA"]


def test_unknown_class_folder_is_an_error(tmp_path):
    save(tmp_path / "NORMAL" / "a.png", Image.fromarray(gradient(8, 8)))
    save(tmp_path / "COVID" / "b.png", Image.fromarray(gradient(8, 8)))
    with pytest.raises(ValueError, match="COVID") as info:
        load(tmp_path)
    assert "PNEUMONIA" in str(info.value) and "NEUMONÍA" in str(info.value)


def test_class_names_give_other_folders_and_order(tmp_path):
    for i, name in enumerate(["NORMAL", "COVID", "PNEUMONIA"]):
        save(tmp_path / name / f"{i}.png", Image.new("L", (4, 4), 10 * i))
    ds = load(tmp_path, class_names=["PNEUMONIA", "COVID", "NORMAL"])
    assert ds.class_names == ["PNEUMONIA", "COVID", "NORMAL"]
    assert [os.path.basename(p) for p in ds.paths] == ["2.png", "1.png", "0.png"]
    assert list(ds.y) == [0, 1, 2]
    with pytest.raises(ValueError, match="COVID"):
        load(tmp_path, class_names=["NORMAL", "PNEUMONIA"])


def test_empty_class_folder_is_an_error(tmp_path):
    save(tmp_path / "NORMAL" / "a.png", Image.fromarray(gradient(8, 8)))
    (tmp_path / "PNEUMONIA").mkdir()
    (tmp_path / "PNEUMONIA" / ".DS_Store").write_bytes(b"junk")  # hidden: does not count
    with pytest.raises(ValueError, match="PNEUMONIA.*no image files"):
        load(tmp_path)


def test_no_class_folders_is_an_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no class folders"):
        load(tmp_path)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing")


def test_hidden_files_and_folders_are_ignored(tmp_path):
    save(tmp_path / "NORMAL" / "a.png", Image.fromarray(gradient(8, 8)))
    save(tmp_path / "PNEUMONIA" / "b.png", Image.fromarray(gradient(8, 8)))
    (tmp_path / "PNEUMONIA" / "._b.png").write_bytes(b"\x00\x05\x16\x07 mac resource fork")
    (tmp_path / "PNEUMONIA" / ".DS_Store").write_bytes(b"junk")
    save(tmp_path / "PNEUMONIA" / ".thumbs" / "c.png", Image.fromarray(gradient(8, 8)))
    save(tmp_path / ".hidden_class" / "d.png", Image.fromarray(gradient(8, 8)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load(tmp_path)
    assert [os.path.basename(p) for p in ds.paths] == ["a.png", "b.png"]
    assert ds.skipped == []


def test_limit_per_class(tmp_path):
    # the progress bar (a terminal only): tests/test_cli_conventions.py
    for i in range(4):
        save(tmp_path / "NORMAL" / f"n{i}.png", Image.new("L", (4, 4), i))
        save(tmp_path / "PNEUMONIA" / f"p{i}.png", Image.new("L", (4, 4), i))
    ds = load(tmp_path, limit_per_class=2)
    assert [os.path.basename(p) for p in ds.paths] == ["n0.png", "n1.png", "p0.png", "p1.png"]


def test_bad_arguments(tmp_path):
    save(tmp_path / "NORMAL" / "a.png", Image.new("L", (4, 4), 1))
    with pytest.raises(ValueError, match="image_size"):
        load(tmp_path, image_size=0)
    with pytest.raises(TypeError, match="image_size"):
        load(tmp_path, image_size=15.5)
    with pytest.raises(TypeError, match="class_names"):
        load(tmp_path, class_names="NORMAL")


# --------------------------------------------------------------------------- real data

@pytest.mark.skipif(not REAL.is_dir(), reason=f"real data set not found at {REAL}")
def test_real_sample_matches_direct_skimage(tmp_path):
    from skimage.io import imread

    root = tmp_path / "real"
    chosen = {}
    for cls in ("NORMAL", "PNEUMONIA"):
        (root / cls).mkdir(parents=True)
        names = sorted(os.listdir(REAL / "train" / cls))[:8]
        sources = [REAL / "train" / cls / n for n in names]
        sources += [REAL / "val" / cls / sorted(os.listdir(REAL / "val" / cls))[0]]  # big gray
        for src in sources:
            os.symlink(src, root / cls / src.name)
        chosen[cls] = sources

    ds = load(root, image_size=150)
    assert ds.x.shape == (18, 150, 150, 1) and ds.x.dtype == np.float32
    assert np.bincount(ds.y).tolist() == [9, 9]
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0 and ds.x.std() > 0.05
    for cls, label in (("NORMAL", 0), ("PNEUMONIA", 1)):
        for src in chosen[cls][::4]:
            i = [os.path.basename(p) for p in ds.paths].index(src.name)
            assert ds.y[i] == label
            img = imread(src)
            img = gray2rgb(img) if img.ndim == 2 else img[..., :3]
            np.testing.assert_allclose(ds.x[i, :, :, 0], reference(img, 150), atol=1e-6)
