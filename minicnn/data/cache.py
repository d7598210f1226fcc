"""On-disk cache of decoded images: one entry per image and size, shared by every run.

Decoding thousands of JPEGs takes longer than training a small run, so
:func:`minicnn.data.load_image_folder` keeps each image's preprocessed pixels in
``cache_dir`` (default: ``$MINICNN_CACHE``, else ``~/.cache/minicnn``), under
``decoded-v2/<S>px/<ab>/<digest>.f32``: the (S, S) float32 gray pixels of one image file, raw
(``<S>px-hist`` or ``<S>px-clahe`` for the images equalised per image, the ``equalize``
setting).

An entry is found by the SHA-256 of the file's *content* and the preprocessing (the size S,
the equalisation, and CACHE_VERSION for the preprocessing code), not by the file's path or
folder: an image is
decoded once for every run, seed, sample, subset and resume that uses it, and a changed file
gets a new entry, so nothing stale is ever served. A file that cannot be decoded is
remembered too (``<digest>.err`` holds the reason). Hashing needs each file read once: an
index per image folder (``decoded-v2/index/``) keeps each file's digest with its size and
modification time, and a file is read again only when those change.

Size limit: ``$MINICNN_CACHE_LIMIT`` (bytes, or a number with KB, MB or GB; default 2 GB).
After a load that wrote new entries, the oldest-written entries are removed until the cache
is under the limit. ``minicnn cache info`` shows what the cache holds and ``minicnn cache
clear`` empties it (also of the whole-folder ``.npz`` files older versions wrote).

Files are written atomically (a temporary file in the same folder, then ``os.replace``) and
not synced to disk: an entry a power cut left short is seen as invalid, warned about, and
rebuilt. Any number of processes may share one cache: two that decode the same image write
the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np

# Bump when the preprocessing or the layout changes: entries of other versions are then unused.
CACHE_VERSION = 2
#: The cache's folder inside cache_dir.
STORE = f"decoded-v{CACHE_VERSION}"
#: Default size limit of the cache, in bytes.
DEFAULT_LIMIT = 2 * 10**9
# Whole-folder cache files written by version 1 (``<folder>-<32 hex>.npz``).
_OLD_FILE = re.compile(r".+-[0-9a-f]{32}\.npz$")
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20,
          "gib": 2**30}

__all__ = ["CACHE_VERSION", "DEFAULT_LIMIT", "DecodeCache", "default_cache_dir", "cache_limit",
           "info", "clear", "describe"]


def default_cache_dir() -> Path:
    """Return ``$MINICNN_CACHE`` if set, else ``~/.cache/minicnn``."""
    env = os.environ.get("MINICNN_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "minicnn"


def cache_limit() -> int:
    """The size limit in bytes: ``$MINICNN_CACHE_LIMIT`` (e.g. ``500MB``), else DEFAULT_LIMIT;
    ValueError naming the value when it is not a size."""
    text = os.environ.get("MINICNN_CACHE_LIMIT", "").strip()
    if not text:
        return DEFAULT_LIMIT
    match = re.fullmatch(r"([0-9.]+)\s*([a-zA-Z]*)", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"MINICNN_CACHE_LIMIT={text!r} is not a size; expected bytes or a "
                         f"number with KB, MB or GB, e.g. 500MB")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache file is ordinary data
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class DecodeCache:
    """The decoded images of one size S and equalisation (``equalize``, "none": the thesis's
    pixels) in ``cache_dir``: :meth:`digest` of a file,
    :meth:`get` an entry ((S, S) float32 pixels, the reason the file could not be decoded,
    or None), :meth:`put` one, and :meth:`close` to save the index and keep the size limit.
    A write that fails is warned about once and the cache is then only read."""

    def __init__(self, cache_dir: str | os.PathLike, image_size: int, equalize: str = "none"):
        self.root = Path(cache_dir) / STORE
        self.size = int(image_size)
        self._folder = self.root / (f"{self.size}px" + ("" if equalize == "none"
                                                        else f"-{equalize}"))
        self._indexes: dict[str, dict] = {}       # image folder -> {name: [size, ns, digest]}
        self._changed: set[str] = set()
        self.written = 0
        self.writable = True

    # -- digests ----------------------------------------------------------------------------
    def _index_path(self, folder: str) -> Path:
        name = hashlib.sha256(folder.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        return self.root / "index" / f"{name}.json"

    def _index(self, folder: str) -> dict:
        if folder not in self._indexes:
            try:
                index = json.loads(self._index_path(folder).read_text(encoding="utf-8"))
                self._indexes[folder] = index if isinstance(index, dict) else {}
            except (OSError, ValueError):
                self._indexes[folder] = {}
        return self._indexes[folder]

    def digest(self, path: str) -> str:
        """SHA-256 of the file's content, from the index while its size and mtime match."""
        folder, name = os.path.split(path)
        index, st = self._index(folder), os.stat(path)
        known = index.get(name)
        if isinstance(known, list) and known[:2] == [st.st_size, st.st_mtime_ns]:
            return str(known[2])
        index[name] = [st.st_size, st.st_mtime_ns, _file_digest(path)]
        self._changed.add(folder)
        return index[name][2]

    # -- entries ----------------------------------------------------------------------------
    def _entry(self, digest: str, suffix: str) -> str:
        return f"{self._folder}{os.sep}{digest[:2]}{os.sep}{digest}{suffix}"   # str: fast

    def get(self, digest: str) -> np.ndarray | str | None:
        """(S, S) float32 pixels, the remembered reason the file is undecodable, or None."""
        try:
            with open(self._entry(digest, ".f32"), "rb") as f:
                data = f.read()
        except OSError:                  # not there (or the cache folder cannot be read)
            try:
                with open(self._entry(digest, ".err"), encoding="utf-8") as f:
                    return f.read()
            except (OSError, UnicodeDecodeError):
                return None
        if len(data) != 4 * self.size * self.size:
            warnings.warn(f"minicnn cache entry {self._entry(digest, '.f32')!r} holds "
                          f"{len(data)} bytes, not {4 * self.size ** 2}; rebuilding it",
                          RuntimeWarning, stacklevel=3)
            return None
        return np.frombuffer(data, dtype=np.float32).reshape(self.size, self.size)

    def put(self, digest: str, value: np.ndarray | str) -> None:
        """Store the (S, S) float32 pixels of an image, or the reason it is undecodable."""
        if not self.writable:
            return
        try:
            if isinstance(value, str):
                _write_atomic(Path(self._entry(digest, ".err")), value.encode("utf-8"))
            else:
                pixels = np.ascontiguousarray(value, dtype=np.float32)
                _write_atomic(Path(self._entry(digest, ".f32")), pixels.tobytes())
            self.written += 1
        except OSError as exc:
            self.writable = False
            warnings.warn(f"could not write cache entry in {str(self.root)!r}: {exc}; "
                          f"loading goes on without caching", stacklevel=3)

    def close(self) -> None:
        """Save the changed indexes and, when entries were written, keep the size limit."""
        for folder in sorted(self._changed) if self.writable else ():
            try:
                _write_atomic(self._index_path(folder),
                              json.dumps(self._indexes[folder]).encode("utf-8"))
            except OSError:
                break
        self._changed.clear()
        if self.written:
            trim(self.root.parent, cache_limit())
            self.written = 0


# -- the whole cache -----------------------------------------------------------------------
def _entries(cache_dir: Path):
    """(path, bytes, mtime) of every entry of the cache."""
    found = []
    for dirpath, _, filenames in os.walk(Path(cache_dir) / STORE):
        if os.path.basename(dirpath) == "index":
            continue
        for name in filenames:
            if name.endswith((".f32", ".err")):
                path = os.path.join(dirpath, name)
                try:
                    st = os.stat(path)
                except FileNotFoundError:           # removed by another process meanwhile
                    continue
                found.append((path, st.st_size, st.st_mtime))
    return found


def trim(cache_dir: str | os.PathLike, limit: int) -> int:
    """Remove the oldest-written entries until the cache holds at most ``limit`` bytes;
    returns how many were removed."""
    entries = _entries(Path(cache_dir))
    total = sum(size for _, size, _ in entries)
    removed = 0
    for path, size, _ in sorted(entries, key=lambda e: e[2]):
        if total <= limit:
            break
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        total -= size
        removed += 1
    return removed


def _old_files(cache_dir: Path) -> list[Path]:
    try:
        return [p for p in Path(cache_dir).iterdir() if _OLD_FILE.match(p.name) and p.is_file()]
    except FileNotFoundError:
        return []


def info(cache_dir: str | os.PathLike | None = None) -> dict:
    """What the cache holds: its folder, limit, and per size the entries and bytes, plus the
    whole-folder files of version 1."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    sizes: dict[str, dict] = {}
    for path, size, _ in _entries(cache_dir):
        entry = sizes.setdefault(Path(path).parent.parent.name, {"images": 0, "bytes": 0})
        entry["images"] += 1
        entry["bytes"] += size
    old = _old_files(cache_dir)
    return {"folder": str(cache_dir), "limit": cache_limit(),
            "sizes": dict(sorted(sizes.items(), key=lambda kv: _size_order(kv[0]))),
            "bytes": sum(e["bytes"] for e in sizes.values()),
            "old_files": len(old), "old_bytes": sum(p.stat().st_size for p in old)}


def _size_order(folder: str):
    """Sort key of an entry folder's name: ``150px`` before ``150px-clahe`` before ``224px``."""
    size, _, rest = folder.partition("px")
    return (int(size), rest) if size.isdigit() else (math.inf, folder)


def describe(facts: dict) -> str:
    """:func:`info`'s facts as the lines ``minicnn cache info`` prints."""
    lines = [f"decode cache: {facts['folder']}",
             f"  {facts['bytes'] / 1e6:.1f} MB of {facts['limit'] / 1e6:.0f} MB "
             f"(limit: MINICNN_CACHE_LIMIT)"]
    lines += [f"  {size}: {e['images']} images, {e['bytes'] / 1e6:.1f} MB"
              for size, e in facts["sizes"].items()]
    if facts["old_files"]:
        lines.append(f"  older whole-folder cache files: {facts['old_files']}, "
                     f"{facts['old_bytes'] / 1e6:.1f} MB (minicnn cache clear removes them)")
    return "\n".join(lines)


def clear(cache_dir: str | os.PathLike | None = None) -> tuple[int, int]:
    """Remove every file of the cache (and version 1's whole-folder files), nothing else of
    the folder; returns (files removed, bytes freed)."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    files = [p for p in (cache_dir / STORE).rglob("*") if p.is_file()] + _old_files(cache_dir)
    freed = 0
    for path in files:
        freed += path.stat().st_size
        path.unlink()
    for folder in sorted((cache_dir / STORE).rglob("*"), reverse=True):
        folder.rmdir()
    if (cache_dir / STORE).is_dir():
        (cache_dir / STORE).rmdir()
    return len(files), freed
