"""One reader for the JSON files of run and sweep folders, checking what it reads.

:func:`load` reads config.json, metrics.json, sweep.json, a checkpoint's state.json (any
file, by its name, against :data:`SCHEMAS`) and refuses, with a
:class:`~minicnn.validation.RunFolderError` naming the file and the key, anything a reader
could trip on: a file larger than :data:`MAX_BYTES`, nesting deeper than :data:`MAX_DEPTH`,
text that is not UTF-8 JSON holding an object, or a listed key of the wrong type or range.
Integers longer than 18 digits are read as floats (infinite beyond 1.8e308), so that a
number is always something ``math.isfinite`` can judge, except in a checkpoint's state.json,
whose random generators' states are 128-bit integers kept exact. NaN and infinities are read
as floats (a checkpoint stores them on purpose) and refused where a schema asks for a finite
number.

This module imports nothing from minicnn but :mod:`minicnn.validation`.
"""
import json
import math
from pathlib import Path

from .validation import RunFolderError

MAX_BYTES = 64 * 2 ** 20          # far above any run file (a checkpoint's state.json: ~1 MB)
MAX_DEPTH = 32                    # minicnn writes at most ~8 levels
EXACT_INTEGERS = ("state.json",)  # files whose long integers must stay exact


# -- what a value may be: (words, test) -----------------------------------------------------
def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


COUNT = ("a whole number >= 0", lambda v: _is_int(v) and 0 <= v < 2 ** 63)
NUMBER = ("a finite number", lambda v: (_is_int(v) and abs(v) < 2 ** 63)
          or (isinstance(v, float) and math.isfinite(v)))
TEXT = ("text", lambda v: isinstance(v, str))
OBJECT = ("an object", lambda v: isinstance(v, dict))
LISTS = ("an object of lists", lambda v: isinstance(v, dict)
         and all(isinstance(x, list) for x in v.values()))


def optional(kind):
    """``kind`` or null."""
    words, test = kind
    return f"{words} or null", lambda v: v is None or test(v)


def list_of(spec):
    """A list whose every item is ``spec``."""
    return ("list", spec)


# A schema: {key: spec}; a key ending in "?" may be missing. A spec is a kind, a schema (an
# object with those keys) or list_of(spec). Keys not listed are not checked.
_RUN_SETTINGS = {"image_size?": COUNT, "epochs?": COUNT, "batch_size?": COUNT,
                 "seed?": COUNT}
SCHEMAS = {
    "config.json": {"status?": TEXT, "seed?": COUNT, "settings?": _RUN_SETTINGS,
                    "data_dir?": optional(TEXT), "protocol?": optional(TEXT),
                    "wall_seconds?": optional(OBJECT), "resumed?": list_of(OBJECT),
                    "kept_epoch?": optional(COUNT), "epochs_run?": optional(COUNT)},
    "metrics.json": {"validation?": optional(OBJECT), "test?": optional(OBJECT),
                     "kept_epoch?": optional(COUNT), "epochs_run?": optional(COUNT),
                     "threshold?": optional(NUMBER)},
    "sweep.json": {"preset": TEXT, "grid": LISTS, "seeds": list_of(COUNT),
                   "runs": list_of({"run": TEXT, "setting": TEXT, "seed": COUNT,
                                    "values": OBJECT})},
    "state.json": {"format": TEXT, "epoch": COUNT, "arrays": TEXT, "parts": OBJECT,
                   "info?": {"settings?": _RUN_SETTINGS, "data_sha256?": TEXT},
                   "arrays_sha256?": TEXT},
}


# -- reading ----------------------------------------------------------------------------------
def load(path, required=True):
    """The checked JSON object in ``path`` (see the module docstring); None when the file is
    missing and not ``required``."""
    path = Path(path)
    text = _text(path, required)
    if text is None:
        return None
    try:
        data = json.loads(text, parse_int=int if path.name in EXACT_INTEGERS else _integer)
    except RecursionError:
        raise RunFolderError(f"{path} is nested too deeply to be a minicnn file; it is "
                             "damaged") from None
    except json.JSONDecodeError as exc:
        raise RunFolderError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno}): it is "
                             f"damaged or was cut short; restore it or train again") from None
    except ValueError as exc:                    # an integer of more than 4300 digits
        raise RunFolderError(f"{path} holds a number that cannot be read ({exc}); it is "
                             "damaged") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path} holds a JSON {type(data).__name__}, expected an object")
    if _depth(data) > MAX_DEPTH:
        raise RunFolderError(f"{path} is nested more than {MAX_DEPTH} levels deep; it is "
                             "damaged")
    check(data, SCHEMAS.get(path.name, {}), path)
    return data


def _text(path, required):
    try:
        if path.stat().st_size > MAX_BYTES:
            raise RunFolderError(f"{path} is larger than {MAX_BYTES // 2 ** 20} MB; it is not "
                                 "a minicnn file")
        with open(path, "rb") as f:
            return f.read(MAX_BYTES + 1).decode("utf-8")
    except FileNotFoundError:
        if required:
            raise RunFolderError(f"{path} is missing; is {path.parent} a run folder?") from None
        return None
    except NotADirectoryError:
        raise RunFolderError(f"{path.parent} is a file, not a run or sweep folder") from None
    except IsADirectoryError:
        raise RunFolderError(f"{path} is a folder, expected a JSON file") from None
    except UnicodeDecodeError:
        raise RunFolderError(f"{path} is not UTF-8 text; the folder is damaged") from None


def _integer(text):
    """An integer literal: an int, or a float when too long for a float64 to hold exactly."""
    return int(text) if len(text.lstrip("-")) <= 18 else float(text)


def _depth(data):
    """How deeply lists and objects nest in ``data`` (without recursion)."""
    deepest, todo = 0, [(data, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            todo.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict)
                                                  else value))
    return deepest


def check(value, spec, path, where=""):
    """RunFolderError naming ``path`` and the key when ``value`` does not match ``spec``."""
    if isinstance(spec, dict):
        _check_object(value, spec, path, where)
    elif spec[0] == "list":
        _refuse_unless(isinstance(value, list), value, "a list", path, where)
        for i, item in enumerate(value):
            check(item, spec[1], path, f"{where}[{i}]")
    else:
        _refuse_unless(spec[1](value), value, spec[0], path, where)


def _check_object(value, schema, path, where):
    _refuse_unless(isinstance(value, dict), value, "an object", path, where)
    for key, spec in schema.items():
        name = key.rstrip("?")
        if name in value:
            check(value[name], spec, path, f"{where}.{name}" if where else name)
        elif not key.endswith("?"):
            raise RunFolderError(f"{path}: {f'{where}.' if where else ''}{name} is missing; "
                                 "the file is damaged")


def _refuse_unless(ok, value, words, path, where):
    if not ok:
        shown = json.dumps(value)[:60] if _depth(value) < MAX_DEPTH else type(value).__name__
        raise RunFolderError(f"{path}: {where or 'the file'} must be {words}, got {shown}; "
                             "the file is damaged")
