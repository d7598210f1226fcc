"""Every setting of a training run, in one table, and the presets built from it.

:class:`Settings` *is* the table: each field is one setting with its type, its default and,
in its metadata (:func:`setting`), the help text, the allowed range or choices, whether a
sweep may vary it (``sweep``) and whether ``minicnn train --resume`` may change it
(``resume``). Everything else reads it from here and nowhere else: the checks of every value
(:meth:`Settings.__post_init__`, one message format), ``minicnn train``'s flags and
``--set KEY=VALUE``, config files (``--config FILE.toml`` or a run's config.json),
``minicnn sweep --set`` and its list of keys, ``--resume``'s list of what may change, the
preset table of ``minicnn train --help`` and of the README (:func:`preset_table`).
docs/adding_a_setting.md says how a new setting is added.

This module imports neither the models nor NumPy nor Numba, so the command line can build its
flags without loading them.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
import textwrap
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .validation import SettingError

__all__ = ["Settings", "PRESETS", "PRESET_NOTES", "PROTOCOLS", "EQUALIZE", "MIN_IMAGE_SIZE",
           "MAX_IMAGE_SIZE", "MAX_SEED", "setting_fields", "sweepable", "settings_for",
           "parse_text", "parse_sets", "read_config", "preset_table", "preset_lines", "allowed",
           "value_type", "as_text"]

#: Smallest side the thesis CNN accepts: 38 -> 36 -> 18 -> 16 -> 8 -> 6 -> 3 -> 1.
MIN_IMAGE_SIZE = 38
#: Largest side accepted: twice the thesis's 150 px. The first convolution's output alone
#: is S x S x 64 floats per image, so memory grows with the square of S (at 300 px one batch
#: of 32 already needs a few GB); larger sizes die for lack of memory on most machines.
MAX_IMAGE_SIZE = 300
#: Seeds are NumPy SeedSequence entropy and Numba seeds: 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1

PROTOCOLS = {
    "honest": "honest (validation: patient-grouped split of train/; test/ scored once)",
    "thesis": "thesis (optimistic: validated on the test sample)",
}

#: What the ``equalize`` setting may be: no equalisation, global histogram equalisation, or
#: CLAHE (:func:`minicnn.data.equalize_image`).
EQUALIZE = ("none", "hist", "clahe")

#: Thesis sample sizes as (normal, pneumonia).
THESIS_TRAIN = (970, 1041)
THESIS_TEST = (203, 313)


def setting(help, default=dataclasses.MISSING, *, low=None, high=None, low_open=False,
            high_open=False, choices=None, why="", sweep=True, resume=False):
    """One row of the settings table, as a dataclass field.

    low/high: the allowed range of a number (``*_open``: the bound itself is not allowed);
    choices: the allowed values of a text; why: said after the allowed values when a value is
    refused; sweep: a sweep may vary it (``--set``); resume: ``--resume`` may change it."""
    return field(default=default, metadata={
        "help": help, "low": low, "high": high, "low_open": low_open, "high_open": high_open,
        "choices": choices, "why": why, "sweep": sweep, "resume": resume})


@dataclass(frozen=True)
class Settings:
    """Everything a training run depends on (recorded in config.json); one field per setting,
    with its help text and allowed values in the field's metadata (see the module's doc)."""

    preset: str = setting("the preset these settings started from", sweep=False)
    protocol: str = setting("honest: validation from train/, test/ scored once; thesis: "
                            "validated on the test sample (optimistic)",
                            choices=tuple(PROTOCOLS), sweep=False)
    image_size: int = setting("image side in pixels (the thesis used 150)",
                              low=MIN_IMAGE_SIZE, high=MAX_IMAGE_SIZE,
                              why=" (the thesis CNN's four 3x3 convolutions and three 2x2 "
                                  "poolings need 38; memory grows with its square)")
    epochs: int = setting("at most this many epochs", low=1)
    batch_size: int = setting("images per Adam step", 32, low=1)
    augment: bool = setting("random rotation, shift and zoom of training batches", False)
    class_weight: str = setting("'balanced' weighs each class's loss by N / (2 N_class)",
                                "none", choices=("balanced", "none"))
    train_per_class: tuple[int, int] | None = setting(
        "at most N training images per class, a seeded sample", None, low=1)
    test_per_class: tuple[int, int] | None = setting(
        "a seeded sample of at most N test images per class", None, low=1)
    patience: int | None = setting("early stopping: epochs without a lower validation loss "
                                   "before stopping, best weights kept (none: every epoch "
                                   "runs, last weights kept)", None, low=0)
    val_fraction: float = setting("share of train/'s patients held out for validation", 0.15,
                                  low=0, high=1, low_open=True, high_open=True)
    rotation: float = setting("augmentation: largest rotation as a fraction of a full turn "
                              "(0.03: +-10.8 degrees)", 0.03, low=0, high=0.5)
    shift: float = setting("augmentation: largest shift as a fraction of the side", 0.1,
                           low=0, high=1, high_open=True)
    zoom: float = setting("augmentation: largest zoom in or out as a fraction", 0.1,
                          low=0, high=1, high_open=True)
    learning_rate: float = setting("Adam's learning rate", 0.001, low=0, low_open=True)
    intensity: float = setting("gamma, contrast and brightness augmentation strength "
                               "(0: none; independent of augment)", 0.0, low=0, high=1,
                               high_open=True)
    batch_norm: bool = setting("BatchNormalization after each pooling and the last "
                               "convolution", False)
    global_pool: bool = setting("global average pooling instead of Flatten", False)
    bn_momentum: float = setting("BatchNormalization's momentum: the moving statistics keep "
                                 "this share at every training batch (Keras: 0.99)", 0.99,
                                 low=0, high=1, high_open=True)
    bn_recompute: bool = setting("after every epoch, before validation, recompute the "
                                 "BatchNormalization moving statistics on the training images "
                                 "(not augmented)", False)
    ema_decay: float = setting("validate and keep an exponential moving average of the weights "
                               "with this decay per training batch (0: off, the weights as "
                               "trained)", 0.0, low=0, high=1, high_open=True)
    equalize: str = setting("per-image histogram equalisation when images are loaded "
                            "(training, validation, test and predict alike): none, hist "
                            "(global) or clahe (adaptive)", "none",
                            choices=EQUALIZE)
    split_seed: int | None = setting("seed of the validation split (none: the run's seed); one "
                                     "value for all of a sweep's seeds gives its runs one "
                                     "validation set, as an ensemble of them needs", None,
                                     low=0, high=MAX_SEED)
    lr_decay: float = setting("the learning rate is multiplied by this after every epoch "
                              "(1: constant)", 1.0, low=0, high=1, low_open=True)
    score_test: bool = setting("score test/ at the end (false: validation only, to compare "
                               "settings; score test once later with minicnn evaluate)", True,
                               sweep=False)
    seed: int = setting("seed of the split, samples, weights and shuffling", 0, low=0,
                        high=MAX_SEED, sweep=False)
    data: str | None = setting("chest_xray folder; none: $MINICNN_DATA, else the usual places",
                               None,
                               sweep=False, resume=True)
    out: str | None = setting("run folder, new or empty (none: runs/<preset>-<timestamp>)",
                              None, sweep=False)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _checked(f, getattr(self, f.name)))
        if not self.score_test and self.protocol != "honest":
            raise SettingError("score_test=False needs the honest protocol: under the thesis "
                               "protocol validation is the test sample")

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        """The settings a :meth:`to_dict` (e.g. config.json's) describes, checked."""
        if not isinstance(data, dict):
            raise SettingError(f"settings must be a JSON object, got {data!r}")
        _known(data, list(setting_fields()))
        return cls(**data)


# -- the table, read back ---------------------------------------------------------------------
def setting_fields():
    """{name: dataclasses.Field} of every setting, in the table's order."""
    return {f.name: f for f in dataclasses.fields(Settings)}


@functools.cache
def _types():
    """{name: its resolved type}: int, float, bool, str, ``X | None``, a pair of ints."""
    return typing.get_type_hints(Settings)


def value_type(name):
    """A setting's type without None: int, float, bool, str or a pair (``tuple[int, int]``)."""
    return _kind(name)[0]


def sweepable():
    """The settings a sweep may vary (``--set``), in the table's order."""
    return [name for name, f in setting_fields().items() if f.metadata["sweep"]]


def _kind(name):
    """(a setting's type without None, whether None is allowed): ``int | None`` -> (int,
    True)."""
    kind = _types()[name]
    args = typing.get_args(kind)
    if type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return kind, False


def allowed(name):
    """What a setting accepts, in words: 'an integer in [38, 300]', 'true or false', ..."""
    kind, optional = _kind(name)
    m = setting_fields()[name].metadata
    if kind is bool:
        text = "true or false"
    elif m["choices"]:
        text = "one of " + ", ".join(m["choices"])
    elif typing.get_origin(kind) is tuple:
        text = "a count per class >= 1 (0 or none: all)"
    elif kind is str:
        text = "a name" if name == "preset" else "a folder path"
    else:
        number = "a finite number" if m["high"] is None else "a number"
        text = ("an integer" if kind is int else number) + _range(m)
    return f"{text} or none" if optional and "none" not in text else text


def _range(m):
    low, high = m["low"], m["high"]
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'>' if m['low_open'] else '>='} {low}"
    if low is None:
        return f" {'<' if m['high_open'] else '<='} {high}"
    return f" in {'(' if m['low_open'] else '['}{low}, {high}{')' if m['high_open'] else ']'}"


def _refuse(name, value):
    why = setting_fields()[name].metadata["why"]
    return SettingError(f"{name} must be {allowed(name)}, got {value!r}{why}")


def _checked(f, value):
    """``value`` of setting ``f`` in its canonical form (a float for a number, a tuple for a
    per-class count), or SettingError in the one format: NAME must be ALLOWED, got VALUE."""
    name = f.name
    kind, optional = _kind(name)
    if value is None:
        if optional:
            return None
        raise _refuse(name, value)
    if typing.get_origin(kind) is tuple:
        return _per_class(name, value)
    if not _is_kind(value, kind):
        raise _refuse(name, value)
    if kind is float:
        value = float(value)
    m = f.metadata
    if m["choices"] and value not in m["choices"]:
        raise _refuse(name, value)
    if kind in (int, float) and not _inside(value, m):
        raise _refuse(name, value)
    return int(value) if kind is int else value


def _is_kind(value, kind):
    """Whether value is of the setting's kind (NumPy numbers count; a bool is no number)."""
    if kind in (int, float):
        number = numbers.Integral if kind is int else numbers.Real
        return isinstance(value, number) and not isinstance(value, bool)
    return isinstance(value, kind)


def _inside(value, m):
    if not math.isfinite(value):
        return False
    low, high = m["low"], m["high"]
    above = low is None or (value > low if m["low_open"] else value >= low)
    below = high is None or (value < high if m["high_open"] else value <= high)
    return above and below


def _per_class(name, value):
    """(normal, pneumonia) counts >= 1 from a pair, or from n -> (n, n); 0 -> None (all)."""
    if _is_kind(value, int):
        value = int(value)
        if value == 0:
            return None
        value = (value, value)
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(_is_kind(v, int) and v >= 1 for v in value)):
        raise _refuse(name, value)
    return tuple(int(v) for v in value)


def _known(values, names, where=""):
    """SettingError naming every key of ``values`` that is not among ``names``."""
    unknown = [key for key in values if key not in names]
    if not unknown:
        return
    if len(unknown) == 1 and unknown[0] in setting_fields():
        raise SettingError(f"{unknown[0]} cannot be set here{where} (it has its own option); "
                           f"the settings here: {', '.join(names)}")
    raise SettingError(f"unknown setting{'s' * (len(unknown) > 1)} "
                       f"{', '.join(map(repr, unknown))}{where}; the settings: "
                       f"{', '.join(names)}")


# -- values as text: --set KEY=VALUE and the command line's flags ------------------------------
_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def parse_text(name, text, keys=None):
    """One setting's value from text (``--set name=text``), checked; SettingError naming the
    setting, the text and what is allowed. keys: the settings allowed here (default all)."""
    keys = list(setting_fields()) if keys is None else keys
    _known([name], keys)
    kind, optional = _kind(name)
    text = text.strip()
    if optional and text.lower() in ("none", "all"):
        return None
    try:
        if kind is bool:
            value = _WORDS[text.lower()]
        elif typing.get_origin(kind) is tuple or kind is int:
            value = int(text)
        else:
            value = float(text) if kind is float else text
    except (KeyError, ValueError):
        raise _refuse(name, text) from None
    return _checked(setting_fields()[name], value)


def parse_sets(pairs, keys=None):
    """``["augment=true", "image_size=64,96", "augment=false"]`` -> ``{"augment": [True,
    False], "image_size": [64, 96]}``: each key's values in order, without repeats (a
    repeated value, e.g. ``augment=true,yes``, is kept once, and a warning says so once)."""
    keys = list(setting_fields()) if keys is None else keys
    grid, repeats = {}, []
    for pair in pairs:
        key, sep, texts = pair.partition("=")
        if not sep or not texts:
            raise SettingError(f"--set takes KEY=VALUE, got {pair!r}; the keys: "
                               f"{', '.join(keys)}")
        values = grid.setdefault(key.strip(), [])
        for text in texts.split(","):
            value = parse_text(key.strip(), text, keys)
            if value in values:
                repeats.append(f"{key.strip()}={text.strip()}")
            else:
                values.append(value)
    if repeats:
        warnings.warn(f"--set {', '.join(repeats)}: a value given before; it is used once",
                      stacklevel=2)
    return grid


# -- config files -------------------------------------------------------------------------------
def read_config(path):
    """The settings a file gives, as {name: value}: a TOML file's ``[settings]`` table, or a
    run folder's config.json (its ``settings``, without ``out``: a new run needs its own
    folder). Values are checked when the settings are built (:func:`settings_for`)."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingError(f"--config: no such file: {path}") from None
    if path.suffix == ".json":
        values = _json_settings(path, text)
    else:
        values = _toml_settings(path, text)
    if not isinstance(values, dict):
        raise SettingError(f"{path}: the settings must be a table of name = value")
    _known(values, list(setting_fields()), where=f" in {path}")
    return values


def _json_settings(path, text):
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise SettingError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict) or not isinstance(config.get("settings"), dict):
        raise SettingError(f"{path}: no \"settings\" object (is it a run's config.json?)")
    return {k: v for k, v in config["settings"].items() if k != "out"}


def _toml_settings(path, text):
    try:
        import tomllib
    except ModuleNotFoundError:                       # Python 3.10
        import tomli as tomllib
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingError(f"{path}: not valid TOML ({exc})") from None
    unknown = sorted(set(document) - {"settings"})
    if unknown:
        raise SettingError(f"{path}: unknown table or key {', '.join(unknown)}; put the "
                           f"settings in a [settings] table")
    return document.get("settings", {})


# -- the presets ----------------------------------------------------------------------------------
PRESETS = {
    # The honest protocol at 48 px on a seeded, class-balanced sample of at most 300 training
    # images per class (validation and test untouched): about 2 minutes on 2 busy cores,
    # decoding included.
    "quick": Settings(preset="quick", protocol="honest", image_size=48, epochs=3,
                      class_weight="balanced", train_per_class=(300, 300), patience=2),
    # The thesis: its sample sizes, 150 px, batch 32, 20 epochs of Adam, validated on its test
    # sample, last epoch's weights kept.
    "thesis": Settings(preset="thesis", protocol="thesis", image_size=150, epochs=20,
                       train_per_class=THESIS_TRAIN, test_per_class=THESIS_TEST),
    # Everything honest: all of train/ minus the validation patients, augmentation, balanced
    # class weights, early stopping on validation loss.
    "full": Settings(preset="full", protocol="honest", image_size=150, epochs=30, augment=True,
                     class_weight="balanced", patience=4),
}
# The recipe chosen on validation: `full` and each one change to it (BatchNormalization, global
# average pooling, intensity augmentation, learning-rate decay), three seeds each, compared on
# validation loss paired by seed; test/ scored once per seed after the choice (docs/results.md,
# section 3).
PRESETS["improved"] = dataclasses.replace(PRESETS["full"], preset="improved", batch_norm=True)

#: What each preset is for, one line each (train --help and the README's table).
PRESET_NOTES = {
    "quick": "the default: a seeded sample of at most 300 training images per class, about "
             "two minutes on two cores",
    "thesis": "the thesis's samples and training, validated on the test sample: OPTIMISTIC",
    "full": "all of train/ but the validation patients, augmentation, early stopping",
    "improved": "full + BatchNormalization, the change chosen on validation over three seeds "
                "(docs/results.md, section 3)",
}


def settings_for(preset="quick", **overrides):
    """The preset's settings with every override that is not None applied, checked.

    ``train_per_class`` may be an int n (n per class) or 0 (all images). TypeError for an
    unknown name (as a function's keyword), SettingError for an unknown preset or a value
    outside what the setting allows."""
    if preset not in PRESETS:
        raise SettingError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(changes) - set(setting_fields())
    if unknown:
        raise TypeError(f"unknown settings {sorted(unknown)}")
    return dataclasses.replace(PRESETS[preset], **changes)


def _differing():
    """(each preset's settings as a dict, the settings some preset sets differently)."""
    rows = [s.to_dict() for s in PRESETS.values()]
    return rows, [k for k in setting_fields()
                  if k != "preset" and len({repr(r[k]) for r in rows}) > 1]


def preset_lines():
    """The presets as text, for ``minicnn train --help``: the settings in which they differ
    and what each is for (the same facts as :func:`preset_table`)."""
    rows, columns = _differing()
    indent = " " * (max(map(len, PRESETS)) + 4)
    return "\n".join(textwrap.fill(
        " ".join(f"{k}={as_text(k, row[k])}" for k in columns) + f": {PRESET_NOTES[name]}",
        88, initial_indent=f"  {name:<{len(indent) - 4}}  ", subsequent_indent=indent)
        for name, row in zip(PRESETS, rows))


def preset_table():
    """The presets as a Markdown table: every setting some preset sets differently, and what
    each preset is for (the README's table, checked by a test)."""
    rows, columns = _differing()
    lines = ["| preset | " + " | ".join(columns) + " | what it is for |",
             "|---" * (len(columns) + 2) + "|"]
    for name, row in zip(PRESETS, rows):
        cells = [as_text(k, row[k]) for k in columns]
        lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {PRESET_NOTES[name]} |")
    return "\n".join(lines) + "\n"


def as_text(name, value):
    """A setting's value as text: as --set spells it; a per-class count as normal/pneumonia,
    or all."""
    if typing.get_origin(value_type(name)) is tuple:
        return "all" if value is None else "/".join(map(str, value))
    return str(value).lower() if value is None or isinstance(value, bool) else str(value)
