"""Load a folder of class sub-folders of images into arrays, preprocessed as in the thesis.

Layout: ``root/<class folder>/**/<image>``. By default ``NORMAL`` is label 0 and
``PNEUMONIA``, ``NEUMONIA`` or ``NEUMONÍA`` (any case, NFC or NFD) is label 1.

Preprocessing of one image (thesis, section on data): decode, convert to 3-channel RGB,
``skimage.transform.resize(img, (S, S), anti_aliasing=True)``, ``skimage.color.rgb2gray``
(values in [0, 1]), reshape to (S, S, 1), float32.

Limits, so that a small hostile file cannot take the machine's memory: an image of more than
``MAX_PIXELS`` (8192 x 8192) is refused from its header, before decoding; one of more than
``REDUCE_ABOVE`` (4096 x 4096) pixels is shrunk by an integer factor while decoding (JPEG's
own draft mode, ``Image.reduce`` for the others) before the thesis preprocessing. Real chest
X-rays (2000-3000 px a side) are below both and preprocessed exactly as in the thesis. Only
regular files are read: FIFOs, devices and sockets in a data folder are skipped with a
warning, as are files whose names are not valid UTF-8.
"""

from __future__ import annotations

import math
import os
import stat
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..settings import EQUALIZE
from ..validation import DataError, positive_int
from . import cache as _cache

__all__ = ["ImageDataset", "load_image_folder", "decode_image", "preprocess_image",
           "equalize_image", "EQUALIZE",
           "file_problem", "IMAGE_EXTENSIONS", "DEFAULT_CLASS_NAMES", "MAX_PIXELS",
           "REDUCE_ABOVE", "UnlabeledImages", "list_unlabeled", "load_unlabeled"]

#: File extensions (lower case) treated as images; other files are ignored.
IMAGE_EXTENSIONS = frozenset({".jpeg", ".jpg", ".jpe", ".png", ".bmp", ".gif", ".tif",
                              ".tiff", ".webp", ".pgm", ".ppm", ".pbm"})

#: Largest image decoded, in pixels (width x height); larger ones are refused unread.
MAX_PIXELS = 8192 * 8192

#: Images with more pixels than this are shrunk by an integer factor while decoding.
REDUCE_ABOVE = 4096 * 4096

#: Label order used when ``class_names`` is not given.
DEFAULT_CLASS_NAMES = ["NORMAL", "PNEUMONIA"]

# Folder names known without ``class_names`` (normalised with _norm) and their labels.
_KNOWN_FOLDERS = {"normal": 0, "pneumonia": 1, "neumonia": 1, "neumonía": 1}


def _norm(name: str) -> str:
    """Folder name compared without case or Unicode normalisation differences."""
    return unicodedata.normalize("NFC", name).casefold()


@dataclass
class ImageDataset:
    """Decoded image folder.

    x: (N, S, S, 1) float32 in [0, 1]; y: (N,) int64 labels; paths: N file paths (str);
    class_names: label -> name; skipped: (path, reason) of files that could not be decoded.
    """

    x: np.ndarray
    y: np.ndarray
    paths: list[str]
    class_names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        counts = np.bincount(self.y, minlength=len(self.class_names))
        per_class = ", ".join(f"{n}={c}" for n, c in zip(self.class_names, counts))
        return (f"ImageDataset(x={self.x.shape} {self.x.dtype}, {per_class}, "
                f"skipped={len(self.skipped)})")


def file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be read as an image file (missing, not a regular file, a name
    that is not valid UTF-8), or None when it can."""
    try:
        os.fsdecode(path).encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8; rename the file"
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not stat.S_ISREG(mode):
        return "not a regular file (a folder, FIFO, device or socket); it is not read"
    return None


def _shrink_factor(size: tuple[int, int]) -> int:
    """Smallest integer factor that brings width x height to at most REDUCE_ABOVE pixels."""
    w, h = size
    return max(1, math.ceil(math.sqrt(w * h / REDUCE_ABOVE)))


def _open_bounded(im: Image.Image, path) -> Image.Image:
    """Decode ``im`` (just opened: only its header is read), refusing more than MAX_PIXELS
    and shrinking images of more than REDUCE_ABOVE pixels by an integer factor."""
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise DataError(f"image {os.fsdecode(path)!r} is {w} x {h} px ({w * h / 1e6:.0f} Mpx), "
                        f"more than the {MAX_PIXELS / 1e6:.0f} Mpx minicnn decodes; "
                        f"shrink it first (e.g. to 2048 px a side)")
    factor = _shrink_factor(im.size)
    if factor > 1 and im.format == "JPEG":
        im.draft(im.mode, (w // factor, h // factor))     # decode at 1/2, 1/4 or 1/8 size
    im.load()
    factor = _shrink_factor(im.size)
    return im.reduce(factor) if factor > 1 else im


def decode_image(path: str | os.PathLike) -> np.ndarray:
    """Decode one image file to an (H, W, 3) RGB array.

    8-bit images (gray, RGB, RGBA with alpha dropped, palette, CMYK, ...) give uint8;
    16-bit gray images give uint16 (so ``resize`` scales them by 65535, not 255); float
    images with values in [0, 1] give float32. Images of more than MAX_PIXELS are refused
    (DataError) before decoding; more than REDUCE_ABOVE pixels are shrunk while decoding.
    Raises OSError/ValueError if the file cannot be decoded.
    """
    with warnings.catch_warnings():     # the size is checked below, with a clearer message
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        opened = Image.open(path)
    with opened:
        im = _open_bounded(opened, path)
        if im.mode.startswith("I;16"):
            gray = np.asarray(im).astype(np.uint16)
        elif im.mode == "I":  # 32-bit integer mode: Pillow's form of 16-bit PNG/TIFF data
            gray = np.asarray(im)
            if gray.size and (gray.min() < 0 or gray.max() > 65535):
                raise ValueError("32-bit integer image with values outside 0..65535")
            gray = gray.astype(np.uint16)
        elif im.mode == "F":
            gray = np.asarray(im, dtype=np.float32)
            if not (np.isfinite(gray).all() and gray.min() >= 0 and gray.max() <= 1):
                raise ValueError("floating-point image with values outside [0, 1]")
        else:
            return np.asarray(im.convert("RGB"))
    return np.repeat(gray[:, :, None], 3, axis=2)


def preprocess_image(rgb: np.ndarray, image_size: int = 150, equalize: str = "none"
                     ) -> np.ndarray:
    """Thesis preprocessing of an (H, W, 3) RGB array to (S, S, 1) float32 gray in [0, 1].

    ``resize`` to (S, S) with anti-aliasing, then ``rgb2gray``, then :func:`equalize_image`
    with ``equalize`` (not in the thesis; "none" leaves the pixels as they are). Integer
    arrays are scaled by their type's range (uint8 by 255, uint16 by 65535); float arrays must
    already hold values in [0, 1]. Non-finite values (NaN, inf) are refused with a DataError.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype.kind == "f" and not np.isfinite(rgb).all():
        raise DataError(f"the image holds {int((~np.isfinite(rgb)).sum())} non-finite pixel "
                        f"value(s) (NaN or inf); it cannot be classified")
    from skimage.color import rgb2gray      # here: scikit-image takes a second to import
    from skimage.transform import resize
    small = resize(rgb, (image_size, image_size), anti_aliasing=True)
    gray = equalize_image(np.clip(rgb2gray(small), 0.0, 1.0), equalize)
    return gray.astype(np.float32).reshape(image_size, image_size, 1)


def equalize_image(gray: np.ndarray, method: str = "none") -> np.ndarray:
    """A gray image (H, W) in [0, 1] with its histogram equalised, per image, against
    differences in exposure and processing between machines; same shape, in [0, 1].

    "none": unchanged; "hist": ``skimage.exposure.equalize_hist`` (256 bins), each pixel
    replaced by the image's cumulative histogram at its value, so the values' CDF becomes
    close to the identity; "clahe": ``skimage.exposure.equalize_adapthist`` (contrast-limited
    adaptive equalisation in tiles of 1/8 of the side, clip limit 0.01, its defaults).
    """
    if method not in EQUALIZE:
        raise ValueError(f"equalize must be one of {', '.join(EQUALIZE)}, got {method!r}")
    if method == "none":
        return gray
    from skimage import exposure
    if method == "hist":
        return exposure.equalize_hist(gray, nbins=256)
    return exposure.equalize_adapthist(gray)


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def list_images(folder: Path) -> list[str]:
    """Sorted image file paths under ``folder`` (recursive), hidden files and folders skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not _is_hidden(d))
        for name in filenames:
            if not _is_hidden(name) and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                found.append(os.path.join(dirpath, name))
    return [path for path in sorted(found) if _readable(path)]


def _readable(path: str) -> bool:
    """True for a regular file with a UTF-8 name; otherwise warns, naming it, and False."""
    problem = file_problem(path)
    if problem:
        warnings.warn(f"skipped {ascii(path) if 'UTF-8' in problem else repr(path)}: "
                      f"{problem}", stacklevel=4)
    return problem is None


def _class_lookup(class_names: Sequence[str] | None) -> tuple[list[str], dict, str]:
    """Label names, {normalised folder name: label}, and the accepted names in words."""
    if class_names is None:
        return list(DEFAULT_CLASS_NAMES), dict(_KNOWN_FOLDERS), \
            "NORMAL, PNEUMONIA, NEUMONIA, NEUMONÍA"
    if isinstance(class_names, str) or not all(isinstance(c, str) for c in class_names):
        raise TypeError(f"class_names must be a list of folder names (str), got {class_names!r}")
    names = list(class_names)
    if not names:
        raise ValueError("class_names is empty; give at least one folder name")
    lookup = {}
    for label, name in enumerate(names):
        if _norm(name) in lookup:
            raise ValueError(f"class_names has {name!r} twice (case-insensitive): {names}")
        lookup[_norm(name)] = label
    return names, lookup, ", ".join(names)


def _class_folders(root: Path, class_names: Sequence[str] | None
                   ) -> tuple[list[str], list[tuple[Path, int]]]:
    """Label names and the (folder, label) pairs found in ``root``, in label order."""
    names, lookup, known = _class_lookup(class_names)
    folders = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if _is_hidden(entry.name) or not entry.is_dir():
            continue
        label = lookup.get(_norm(entry.name))
        if label is None:
            hint = "" if class_names is not None else " (pass class_names to use other folders)"
            raise ValueError(f"unknown class folder {entry.name!r} in {str(root)!r}; "
                             f"expected one of: {known}{hint}")
        folders.append((Path(entry.path), label))
    if not folders:
        raise ValueError(f"no class folders in {str(root)!r}; expected sub-folders named {known}")
    missing = sorted(set(range(len(names))) - {label for _, label in folders})
    if missing:
        warnings.warn(f"no folder for class(es) {[names[i] for i in missing]} in {str(root)!r}",
                      stacklevel=3)
    folders.sort(key=lambda f: (f[1], f[0].name))
    return names, folders


def load_image_folder(root: str | os.PathLike, image_size: int = 150,
                      class_names: Sequence[str] | None = None,
                      cache_dir: str | os.PathLike | None = None, progress: bool = True,
                      strict: bool = False, *, limit_per_class: int | None = None,
                      use_cache: bool = True, equalize: str = "none") -> ImageDataset:
    """Load ``root/<class>/**/<image>`` into an :class:`ImageDataset` (x: (N, S, S, 1) float32).

    root: folder of class folders (hidden files/folders ignored; only image extensions read).
    image_size: S, side of the square output.
    class_names: folder names in label order (matched ignoring case and Unicode
        normalisation); default NORMAL -> 0, PNEUMONIA/NEUMONIA/NEUMONÍA -> 1. Any other
        folder is a ValueError.
    cache_dir: where decoded arrays are cached (default ``$MINICNN_CACHE`` or
        ``~/.cache/minicnn``); ``use_cache=False`` turns the cache off.
    progress: show a tqdm bar while decoding (only when stderr is a terminal).
    strict: raise ValueError on the first undecodable file instead of warning and skipping it.
    limit_per_class: keep only the first (sorted by path) files of each class, for quick runs.
    equalize: per-image histogram equalisation (:func:`equalize_image`), cached apart.

    Rows are ordered by label, then path. Undecodable files are warned about and listed in
    ``.skipped``; an empty class folder, or a class with no decodable image, is a ValueError.
    """
    image_size = positive_int(image_size, "image_size")
    if limit_per_class is not None:
        limit_per_class = positive_int(limit_per_class, "limit_per_class")
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist or is not a folder")

    names, folders = _class_folders(root, class_names)
    files = _image_files(folders, len(names), limit_per_class)
    return load_files(root, files, names, image_size, cache_dir, progress, strict,
                      use_cache=use_cache, equalize=equalize)


def load_files(root, files, class_names, image_size=150, cache_dir=None, progress=True,
               strict=False, use_cache=True, equalize="none") -> ImageDataset:
    """Decode the chosen ``files`` [(path, label), ...] of the folder ``root`` into an
    :class:`ImageDataset` (x: (N, S, S, 1) float32), each image taken from the decode cache
    (:mod:`minicnn.data.cache`) when it is there; arguments as :func:`load_image_folder`
    (which calls it with every file of a folder)."""
    if equalize not in EQUALIZE:
        raise ValueError(f"equalize must be one of {', '.join(EQUALIZE)}, got {equalize!r}")
    preprocess = (image_size, equalize)
    if not use_cache:
        return _decode_all(files, class_names, preprocess, progress, strict)
    store = _cache.DecodeCache(cache_dir or _cache.default_cache_dir(), image_size, equalize)
    try:
        return _decode_all(files, class_names, preprocess, progress, strict, store)
    finally:
        store.close()


def _image_files(folders, n_classes, limit_per_class) -> list[tuple[str, int]]:
    """(path, label) of every readable image in the class folders, by label then path;
    at most ``limit_per_class`` per class when given."""
    files: list[tuple[str, int]] = []
    for folder, label in folders:
        found = list_images(folder)
        if not found:
            raise ValueError(f"class folder {str(folder)!r} contains no image files "
                             f"(extensions: {', '.join(sorted(IMAGE_EXTENSIONS))})")
        files.extend((p, label) for p in found)
    files.sort(key=lambda f: (f[1], f[0]))
    if limit_per_class is not None:
        per_class = [[f for f in files if f[1] == label] for label in range(n_classes)]
        files = [f for group in per_class for f in group[:limit_per_class]]
    return files


def _decode_all(files, names, preprocess, progress, strict, store=None) -> ImageDataset:
    """Every file's (S, S, 1) pixels, preprocessed as ``preprocess`` = (S, equalize) says,
    from ``store`` (a DecodeCache) or decoded (and then stored); undecodable files warned
    about and skipped (ValueError with ``strict``)."""
    image_size = preprocess[0]
    x = np.empty((len(files), image_size, image_size, 1), dtype=np.float32)
    kept_labels, kept_paths, skipped = [], [], []
    for path, label in tqdm(files, desc="decoding images", unit="img",
                            disable=None if progress else True):    # None: a terminal only
        pixels, reason = _pixels(path, preprocess, store)
        if reason is not None:
            if strict:
                raise ValueError(f"cannot decode image {path!r}: {reason}")
            warnings.warn(f"skipped image {path!r}: {reason}", stacklevel=3)
            skipped.append((path, reason))
            continue
        x[len(kept_paths), :, :, 0] = pixels
        kept_paths.append(path)
        kept_labels.append(label)
    y = np.asarray(kept_labels, dtype=np.int64)
    counts = np.bincount(y, minlength=len(names))
    for label in sorted({label for _, label in files}):
        if counts[label] == 0:
            raise ValueError(f"class {names[label]!r} has no decodable image "
                             f"({len(skipped)} file(s) skipped)")
    return ImageDataset(x=x[:len(kept_paths)].copy() if skipped else x, y=y, paths=kept_paths,
                        class_names=list(names), skipped=skipped)


@dataclass
class UnlabeledImages:
    """The images of a folder read without labels: x (N, S, S, 1) float32 in [0, 1],
    paths (N file paths, ordered by file name), skipped: (path, reason) of unusable files."""

    x: np.ndarray
    paths: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def names(self) -> list[str]:
        """The file names (no folder: a class folder's name would be a label)."""
        return [os.path.basename(path) for path in self.paths]


def list_unlabeled(folder: str | os.PathLike) -> list[str]:
    """Every image file under ``folder`` (recursive, any sub-folders), ordered by file name
    and then by path: the order, and so every result computed from it, does not depend on
    the names of the sub-folders (the class folders of a test/ folder are never read as
    labels). FileNotFoundError when the folder is missing, ValueError when it holds no
    image."""
    folder = Path(folder).expanduser().absolute()
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {str(folder)!r} does not exist or is not a "
                                f"folder")
    found = sorted(list_images(folder), key=lambda path: (os.path.basename(path), path))
    if not found:
        raise ValueError(f"{str(folder)!r} holds no image files (extensions: "
                         f"{', '.join(sorted(IMAGE_EXTENSIONS))})")
    return found


def load_unlabeled(folder: str | os.PathLike, image_size: int = 150, cache_dir=None,
                   progress: bool = True, use_cache: bool = True,
                   equalize: str = "none") -> UnlabeledImages:
    """Decode :func:`list_unlabeled`'s files, preprocessed as :func:`load_image_folder`'s
    (and from the same cache), into :class:`UnlabeledImages`: no label is read."""
    image_size = positive_int(image_size, "image_size")
    files = [(path, 0) for path in list_unlabeled(folder)]
    ds = load_files(folder, files, ["image"], image_size, cache_dir, progress,
                    use_cache=use_cache, equalize=equalize)
    return UnlabeledImages(ds.x, ds.paths, ds.skipped)


def _pixels(path, preprocess, store):
    """``((S, S) pixels, None)`` of one file, or ``(None, why it cannot be decoded)``; from
    the cache ``store`` when it has the file's content, else decoded and stored there."""
    digest = store.digest(path) if store is not None else None
    cached = store.get(digest) if store is not None else None
    if isinstance(cached, str):
        return None, f"{cached} (remembered in cache)"
    if cached is not None:
        return cached, None
    try:
        rgb = decode_image(path)
    except Exception as exc:  # any decoding failure of a broken file: skip it
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if os.path.getsize(path) == 0:
            reason = "empty file (0 bytes)"
        if store is not None:
            store.put(digest, reason)
        return None, reason
    pixels = preprocess_image(rgb, *preprocess)[:, :, 0]
    if store is not None:
        store.put(digest, pixels)
    return pixels, None
