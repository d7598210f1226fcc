"""Argument checks used everywhere in minicnn, and the exception types they raise.

One exception type per kind of mistake, each a ``ValueError`` (so ``except ValueError`` still
catches them all); a value of the wrong Python type raises ``TypeError``. Messages name the
argument, the value given and what was expected.

This module imports nothing from minicnn, nor NumPy (NumPy's integer and float scalars are
``numbers.Integral`` and ``numbers.Real``): every other module, and every command's
``--help``, may use it.
"""
import argparse
import math
import numbers


class ShapeError(ValueError):
    """Arrays, layers or weights whose shapes do not fit together."""


class SettingError(ValueError):
    """An argument or setting outside its allowed values (a count below 1, an unknown name)."""


class ModelFileError(ValueError):
    """A file that is not a complete, well-formed minicnn model file."""


class RunFolderError(ValueError):
    """A run folder that is missing, already claimed by another run, unfinished or damaged."""


class DataError(ValueError):
    """An image folder or image that cannot be used (missing classes, undecodable, too big)."""


PADDINGS = ("valid", "same")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(value, name, minimum=1):
    """``value`` as an int, checked to be an int >= ``minimum`` (TypeError / SettingError)."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise SettingError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def int_pair(value, name):
    """An int or a pair of ints >= 1 as a tuple ``(rows, cols)``: 3 -> (3, 3)."""
    scalar = isinstance(value, (str, bytes)) or not hasattr(value, "__iter__")
    pair = (value, value) if scalar else tuple(value)
    if len(pair) != 2 or not all(_is_int(v) for v in pair):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise SettingError(f"{name} must be positive, got {value!r}")
    return int(pair[0]), int(pair[1])


def padding(value):
    """'valid' or 'same' (any case), lower-cased."""
    if not isinstance(value, str) or value.lower() not in PADDINGS:
        raise SettingError(f"padding must be one of {PADDINGS}, got {value!r}")
    return value.lower()


def choice(value, name, choices):
    """``value`` if it is one of ``choices``, else a SettingError listing them."""
    if value not in choices:
        raise SettingError(f"unknown {name} {value!r}; choose one of "
                           f"{', '.join(map(repr, choices))}")
    return value


def fraction(value, name, low=0.0, high=1.0, closed=True):
    """A finite float in [low, high] (``closed``) or (low, high)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    inside = low <= value <= high if closed else low < value < high
    if not (math.isfinite(value) and inside):
        bounds = f"[{low}, {high}]" if closed else f"({low}, {high})"
        raise SettingError(f"{name} must be a finite number in {bounds}, got {value!r}")
    return value


def int_argument(minimum=1, maximum=None):
    """A command-line ``type`` for argparse: text -> int in [minimum, maximum] (no maximum
    when None), checked with :func:`positive_int`; a bad value gets argparse's usage message
    with what was expected."""
    def parse(text):
        try:
            value = positive_int(int(text), "value", minimum)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"at most {maximum}, got {value}")
        return value
    parse.__name__ = f"integer >= {minimum}"
    return parse
