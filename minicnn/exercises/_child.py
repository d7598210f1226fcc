"""The child process of ``minicnn exercises check``: it imports the student's files and calls
their functions on the inputs the grader sends, and sends back the raw outputs.

Started as a script (``python _child.py``) so that it needs only the standard library and
NumPy and starts fast; the grader (``minicnn.exercises.isolated``) imports it only for
:func:`read_frame` and :func:`write_frame`. Messages are length-prefixed pickles:

    child -> parent   ("ready",) once NumPy is imported, then one reply per request:
    parent -> child   ("import", path)  or  ("call", name, args, kwargs)
    child -> parent   ("ok", value)     or  ("fail", status, text)

``value`` is plain (numbers, arrays of numbers, None, str, tuples and lists of them), so the
parent can read it without running any code the student wrote. The references, the
comparison and the verdict stay in the parent.
"""
import importlib.util
import os
import pickle
import struct
import sys
import traceback
from pathlib import Path

MAX_FRAME = 1 << 28            # 256 MiB: far above any exercise's output


def read_frame(stream):
    """The next message's bytes, or None at the end of the stream (or a frame too large)."""
    head = stream.read(8)
    if len(head) < 8:
        return None
    (size,) = struct.unpack("<Q", head)
    if size > MAX_FRAME:
        return None
    data = stream.read(size)
    return data if len(data) == size else None


def write_frame(stream, payload):
    stream.write(struct.pack("<Q", len(payload)) + payload)
    stream.flush()


def describe(exc, folder):
    """What the student's code did, e.g. "raised ValueError: ... (conv.py, line 12)"."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if Path(f.filename).parent == folder] if folder else frames[-1:]
    where = f" ({Path(mine[-1].filename).name}, line {mine[-1].lineno})" if mine else ""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r}) (or raised SystemExit){where}"
    return f"raised {type(exc).__name__}: {exc}{where}"


def plain(value, depth=0):
    """``value`` made of numbers, arrays of numbers, None, str, tuples and lists only."""
    import numpy as np
    if value is None or isinstance(value, (bool, int, float, complex, str)):
        return value
    if isinstance(value, (tuple, list)) and depth < 4:
        return (tuple if isinstance(value, tuple) else list)(plain(v, depth + 1) for v in value)
    try:
        array = np.asarray(value)
    except Exception:                              # noqa: BLE001 (any object can come back)
        array = None
    if array is not None and array.dtype.kind in "biufc":
        return np.array(array)                     # a plain ndarray, never a subclass
    return f"<a {type(value).__name__} object>"


class Child:
    """The student's functions, found by name in the files imported so far."""

    def __init__(self):
        self.functions = {}

    def do_import(self, path):
        path = Path(path)
        spec = importlib.util.spec_from_file_location(f"_minicnn_exercise_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:              # noqa: BLE001 (a student's file)
            text = describe(exc, path.parent)
            return ("fail", "FAIL", text.removeprefix("raised "))
        found = {name: fn for name, fn in vars(module).items()
                 if callable(fn) and not name.startswith("_")}
        self.functions.update(found)
        return ("ok", sorted(found))

    def do_call(self, name, args, kwargs):
        try:
            fn = self.functions[name]
        except KeyError:
            return ("fail", "TODO", f"no {name} in the files imported")
        try:
            return ("ok", plain(fn(*args, **kwargs)))
        except NotImplementedError:
            return ("fail", "TODO", "not written yet (raises NotImplementedError)")
        except BaseException as exc:              # noqa: BLE001 (SystemExit too)
            code = getattr(fn, "__code__", None)
            text = describe(exc, code and Path(code.co_filename).parent)
            end = ": a solution returns its result" if isinstance(exc, SystemExit) else ""
            return ("fail", "FAIL", text + end)


def serve(requests, replies):
    """Answer the grader's messages until it closes the pipe."""
    child = Child()
    while (data := read_frame(requests)) is not None:
        kind, *rest = pickle.loads(data)
        reply = child.do_import(*rest) if kind == "import" else child.do_call(*rest)
        try:
            payload = pickle.dumps(reply)
        except Exception as exc:                   # noqa: BLE001
            payload = pickle.dumps(("fail", "FAIL", f"returned something that cannot be sent "
                                    f"back ({type(exc).__name__})"))
        write_frame(replies, payload)


if __name__ == "__main__":
    del sys.path[0]                    # this folder: `import checks` must not find ours
    # The protocol gets private copies of stdin/stdout; the student's print() goes to stderr
    # and input() reads nothing.
    requests, replies = os.fdopen(os.dup(0), "rb"), os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    import numpy                       # noqa: F401  before "ready": not in any time limit
    write_frame(replies, pickle.dumps(("ready",)))
    serve(requests, replies)
