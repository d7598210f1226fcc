"""Model files: one .npz holding the architecture (JSON) and the weights, written atomically.

Reading is careful with files from elsewhere: the architecture is read and checked first, and
each weight member's declared shape, dtype and size are compared with what the architecture
implies before a single weight byte is read. Nothing in a model file is ever executed or
unpickled, and compressed members (minicnn writes none) are refused, so a small file cannot
make the reader allocate gigabytes.
"""
import hashlib
import io
import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

from .validation import ModelFileError

FORMAT = "minicnn-model-1"
CONFIG_MEMBER = "__config__.npy"
MAX_CONFIG_BYTES = 1 << 20          # 1 MiB of JSON is far more than any architecture needs
MAX_WEIGHT_BYTES = 1 << 31          # 2 GiB of weights (the thesis CNN has 4 MB)


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
    """Save a JSON-able ``config`` and a list of arrays as one .npz, atomically; returns the
    file's SHA-256 (hex)."""
    buffer = io.BytesIO()
    arrays = {f"weight_{i}": w for i, w in enumerate(weights)}
    np.savez(buffer, __config__=np.array(json.dumps({"format": FORMAT, **config})), **arrays)
    atomic_write(path, buffer.getvalue())
    return hashlib.sha256(buffer.getbuffer()).hexdigest()


def read_arrays(path, expected_shapes=None):
    """Return ``(config, weights)`` from a file written by :func:`write_arrays`.

    ``expected_shapes(config) -> [(what, shape), ...]``, when given, is called with the config
    before any weight is read; every member must then have exactly that shape (and the byte
    size it implies); ``what`` names the weight in errors. Raises FileNotFoundError, or
    ModelFileError naming the file and the problem.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            config = _read_config(archive, path)
            members = _weight_members(archive, path)
            shapes = (expected_shapes(config) if expected_shapes
                      else [(None, None)] * len(members))
            if len(shapes) != len(members):
                raise ModelFileError(f"{path}: its architecture has {len(shapes)} weight "
                                     f"arrays but the file holds {len(members)}")
            weights = [_read_member(archive, info, shape, path)
                       for info, shape in zip(members, shapes)]
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"{path} is not a complete minicnn model file "
                             f"({type(exc).__name__}: {exc}); it may be truncated or of "
                             f"another format") from exc
    return config, weights


def _read_config(archive, path):
    try:
        info = archive.getinfo(CONFIG_MEMBER)
    except KeyError:
        raise ModelFileError(f"{path} is not a minicnn model file: it has no architecture "
                             f"(no {CONFIG_MEMBER} member)") from None
    if info.file_size > MAX_CONFIG_BYTES:
        raise ModelFileError(f"{path}: its architecture member is {info.file_size:,} bytes, "
                             f"more than the {MAX_CONFIG_BYTES:,} allowed")
    with archive.open(info) as f:
        text = np.lib.format.read_array(f, allow_pickle=False)
    try:
        config = json.loads(str(text))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: its architecture is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise ModelFileError(f"{path} has format {found!r}, expected {FORMAT!r}")
    return config


def _weight_members(archive, path):
    """The weight members ordered by their number (weight_0, weight_1, ...; older files
    wrote weight_000); anything else is refused."""
    members = {}
    for info in archive.infolist():
        if info.filename == CONFIG_MEMBER:
            continue
        stem = info.filename.removesuffix(".npy")
        number = stem.removeprefix("weight_")
        if stem == number or not number.isdigit():
            raise ModelFileError(f"{path}: unexpected member {info.filename!r} (a model file "
                                 f"holds only {CONFIG_MEMBER} and weight_N.npy)")
        members[int(number)] = info
    if sorted(members) != list(range(len(members))):
        raise ModelFileError(f"{path}: weight members are not numbered 0..{len(members) - 1}")
    return [members[i] for i in range(len(members))]


def _read_member(archive, info, expected, path):
    """One weight array, its header checked against ``expected = (what, shape)`` before its
    data is read."""
    what, shape = expected
    where = f"{path}, member {info.filename}" + (f" ({what})" if what else "")
    if info.compress_type != zipfile.ZIP_STORED:
        raise ModelFileError(f"{where}: compressed members are refused (minicnn never "
                             f"writes them)")
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        found, fortran, dtype = read_header(f)
        if dtype.kind not in "fiu":
            raise ModelFileError(f"{where}: weights must be numbers, got dtype {dtype}")
        if shape is not None and tuple(found) != tuple(shape):
            raise ModelFileError(f"{where}: shape {tuple(found)} where the model "
                                 f"needs {tuple(shape)}")
        nbytes = int(np.prod(found, dtype=np.int64)) * dtype.itemsize
        if nbytes > MAX_WEIGHT_BYTES or info.file_size != f.tell() + nbytes:
            raise ModelFileError(f"{where}: declares {info.file_size:,} bytes for an array "
                                 f"of {nbytes:,} bytes (limit {MAX_WEIGHT_BYTES:,})")
        data = f.read(nbytes)
    return np.frombuffer(data, dtype).reshape(found, order="F" if fortran else "C").copy()
