"""On-disk cache of decoded image folders (compressed ``.npz`` files).

Decoding thousands of JPEGs takes a while, so :func:`minicnn.data.load_image_folder` keeps the
arrays it built in ``cache_dir`` (default: ``$MINICNN_CACHE``, else ``~/.cache/minicnn``).

A cache file is found by a key: the SHA-256 of the sorted file list (absolute paths and
labels), each file's size and modification time in nanoseconds, and the preprocessing
settings. Adding, removing, replacing or touching a file, or changing ``image_size`` or
``class_names``, gives a new key, so a changed folder is never served stale. Files are written
atomically (a temporary file in the same folder, then ``os.replace``); a cache file that
cannot be read is reported with a warning and treated as missing, so it gets rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

# Bump when the preprocessing or the file layout changes: old cache files are then ignored.
CACHE_VERSION = 1

__all__ = ["CACHE_VERSION", "default_cache_dir", "cache_key", "cache_file", "read_cache",
           "write_cache"]


def default_cache_dir() -> Path:
    """Return ``$MINICNN_CACHE`` if set, else ``~/.cache/minicnn``."""
    env = os.environ.get("MINICNN_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "minicnn"


def cache_key(files: Iterable[tuple[str, int]], settings: Mapping) -> str:
    """Hex SHA-256 key of a list of ``(path, label)`` pairs and preprocessing ``settings``.

    Each file contributes its path, label, size and ``st_mtime_ns``; ``settings`` (a JSON-able
    mapping such as ``{"image_size": 150, "class_names": [...]}``) is hashed too.
    """
    h = hashlib.sha256()
    header = {"cache_version": CACHE_VERSION, "settings": dict(settings)}
    h.update(json.dumps(header, sort_keys=True).encode("utf-8"))
    for path, label in sorted(files):
        st = os.stat(path)
        line = f"\n{path}\0{int(label)}\0{st.st_size}\0{st.st_mtime_ns}"
        h.update(line.encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def cache_file(cache_dir: str | os.PathLike, root: str | os.PathLike, key: str) -> Path:
    """Path of the cache file for folder ``root`` and ``key``: ``<cache_dir>/<name>-<key>.npz``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(root).name) or "root"
    return Path(cache_dir) / f"{name}-{key[:32]}.npz"


def read_cache(path: str | os.PathLike, key: str) -> dict[str, np.ndarray] | None:
    """Arrays stored in ``path`` by :func:`write_cache` under ``key``, or None.

    Returns None when the file does not exist; when it exists but cannot be read, is not a
    cache file, or holds another key, warns (naming the file and why) and returns None.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {name: npz[name] for name in npz.files}
        stored = str(data.pop("cache_key"))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        warnings.warn(f"minicnn cache file {str(path)!r} is unreadable "
                      f"({type(exc).__name__}: {exc}); rebuilding it", RuntimeWarning,
                      stacklevel=2)
        return None
    if stored != key:
        warnings.warn(f"minicnn cache file {str(path)!r} holds another key; rebuilding it",
                      RuntimeWarning, stacklevel=2)
        return None
    return data


def write_cache(path: str | os.PathLike, key: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Store ``arrays`` (no object arrays) and ``key`` in ``path`` as compressed ``.npz``,
    atomically.

    Creates the folder if needed. Raises OSError if it cannot be written (the temporary file
    is removed first).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache file is ordinary data
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, cache_key=np.array(key), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
