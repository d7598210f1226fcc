"""Model files: one .npz holding the architecture (JSON) and the weights, written atomically."""
import io
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "minicnn-model-1"


def atomic_write(path, data):
    """Write ``data`` (bytes) to ``path`` through a temporary file and a rename, so a crash
    leaves either the old file or the new one, never half of one."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)           # as open() would; mkstemp makes files 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_arrays(path, config, weights):
    """Save a JSON-able ``config`` and a list of arrays as one .npz, atomically."""
    buffer = io.BytesIO()
    arrays = {f"weight_{i:03d}": w for i, w in enumerate(weights)}
    np.savez(buffer, __config__=np.array(json.dumps({"format": FORMAT, **config})), **arrays)
    atomic_write(path, buffer.getvalue())


def read_arrays(path):
    """Return ``(config, weights)`` from a file written by :func:`write_arrays`."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            config = json.loads(str(data["__config__"]))
            names = sorted(k for k in data.files if k.startswith("weight_"))
            weights = [data[k] for k in names]
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError, OSError) as exc:
        raise ValueError(f"{path} is not a complete minicnn model file "
                         f"({type(exc).__name__}: {exc}); it may be truncated") from exc
    if config.get("format") != FORMAT:
        raise ValueError(f"{path} has format {config.get('format')!r}, expected {FORMAT!r}")
    return config, weights
