"""The child process of ``minicnn exercises check``: it imports the student's files and calls
their functions on the inputs the grader sends, and sends back the raw outputs.

Started as a script (``python _child.py``) so that it needs only the standard library and
NumPy and starts fast; the grader (``minicnn.exercises.isolated``) imports it only for
:func:`read_frame` and :func:`write_frame`. Messages are length-prefixed pickles:

    child -> parent   ("ready",) once NumPy is imported, then one reply per request:
    parent -> child   ("import", path)  or  ("call", name, args, kwargs)
    child -> parent   ("ok", value)     or  ("fail", status, hint)

A call's value is (returned value, args, kwargs as they are after the call); a hint is
{"en": ..., "es": ...}.

``value`` is plain (numbers, arrays of numbers, None, str, tuples and lists of them), so the
parent can read it without running any code the student wrote. The references, the
comparison and the verdict stay in the parent.
"""
import importlib.util
import inspect
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


def describe(exc, mine=None):
    """What the student's code did, in both languages, e.g. {"en": "raised ValueError: ...
    (conv.py, line 12)", "es": ...}: the line is the last frame ``mine(filename)`` accepts
    (the student's own file, not NumPy's), or the last frame when ``mine`` is None."""
    frames = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in frames if mine(f.filename)] if mine else frames[-1:]
    at = (Path(frames[-1].filename).name, frames[-1].lineno) if frames else None
    en = f" ({at[0]}, line {at[1]})" if at else ""
    es = f" ({at[0]}, línea {at[1]})" if at else ""
    if isinstance(exc, SystemExit):
        return {"en": f"called sys.exit({exc.code!r}) (or raised SystemExit){en}",
                "es": f"llamó a sys.exit({exc.code!r}) (o lanzó SystemExit){es}"}
    return {"en": f"raised {type(exc).__name__}: {exc}{en}",
            "es": f"lanzó {type(exc).__name__}: {exc}{es}"}


def in_folder(folder):
    """A ``mine`` for :func:`describe`: files in ``folder``."""
    return lambda filename: Path(filename).parent == Path(folder)


def signature_problem(fn, name, args, kwargs):
    """None, or a hint when ``fn`` cannot be called as the checker calls it (a renamed or
    missing argument): said here, not as a TypeError at the checker's line."""
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as exc:
        given = ", ".join(f"{key}=..." for key in kwargs)
        given = f" (with {given})" if given else ""
        return {"en": f"{name} cannot be called as the checker calls it{given}: {exc}. Keep "
                      "the stub's signature (its argument names are Keras's and minicnn's, "
                      "e.g. strides, pool_size)",
                "es": f"{name} no se puede llamar como la llama el corrector"
                      f"{given.replace('with', 'con')}: {exc}. Conserve la firma que trae el "
                      "archivo escrito por `minicnn exercises start` (sus argumentos se llaman "
                      "como en Keras y minicnn, p. ej. strides, pool_size)"}
    except ValueError:                             # no signature (a builtin): just call it
        return None
    return None


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
            text = describe(exc, in_folder(path.parent))
            return ("fail", "FAIL", {"en": text["en"].removeprefix("raised "),
                                     "es": text["es"].removeprefix("lanzó ")})
        found = {name: fn for name, fn in vars(module).items()
                 if callable(fn) and not name.startswith("_")}
        self.functions.update(found)
        return ("ok", sorted(found))

    def do_call(self, name, args, kwargs):
        """("ok", (value, args, kwargs) as they are after the call) or ("fail", status,
        hint): the arguments come back so that the grader sees changes made in place."""
        try:
            fn = self.functions[name]
        except KeyError:
            return ("fail", "TODO", {"en": f"no {name} in the files imported",
                                     "es": f"no hay {name} en los archivos importados"})
        problem = signature_problem(fn, name, args, kwargs)
        if problem:
            return ("fail", "FAIL", problem)
        try:
            value = fn(*args, **kwargs)
        except NotImplementedError:
            return ("fail", "TODO", {"en": "not written yet (raises NotImplementedError)",
                                     "es": "todavía sin escribir (lanza NotImplementedError)"})
        except BaseException as exc:              # noqa: BLE001 (SystemExit too)
            code = getattr(fn, "__code__", None)
            text = describe(exc, code and in_folder(Path(code.co_filename).parent))
            if isinstance(exc, SystemExit):
                text = {"en": text["en"] + ": a solution returns its result",
                        "es": text["es"] + ": una solución devuelve su resultado"}
            return ("fail", "FAIL", text)
        return ("ok", (plain(value), plain(tuple(args)),
                       {key: plain(v) for key, v in kwargs.items()}))


def serve(requests, replies):
    """Answer the grader's messages until it closes the pipe."""
    child = Child()
    while (data := read_frame(requests)) is not None:
        kind, *rest = pickle.loads(data)
        reply = child.do_import(*rest) if kind == "import" else child.do_call(*rest)
        try:
            payload = pickle.dumps(reply)
        except Exception as exc:                   # noqa: BLE001
            payload = pickle.dumps(("fail", "FAIL", {
                "en": f"returned something that cannot be sent back ({type(exc).__name__})",
                "es": f"devolvió algo que no se puede enviar de vuelta "
                      f"({type(exc).__name__})"}))
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
