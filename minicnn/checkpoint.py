"""Resumable training: everything a training needs to go on, saved at every epoch end.

A checkpoint is a folder (a run folder's ``checkpoint/``) holding two files:

- ``state.json``: the format, the number of epochs finished, the array file's SHA-256, the
  caller's ``info`` (the settings, the run's identity, a fingerprint of the data; see
  :func:`check_belongs`) and the state of every *part* of the training: the
  model (weights, layers' random generators), the optimizer (Adam's step count and moments),
  the history, the callbacks (early stopping, divergence guard, CSV logger) and the random
  generator that shuffles and augments. Each part has ``get_state()`` and ``set_state()``;
  every NumPy array in a state is replaced by a reference ``{"array": i}`` into
- ``epoch-NNNN.npz``: those arrays, written by :func:`minicnn.io.write_arrays`.

The arrays are written first, then ``state.json`` (atomically) names them, then older array
files are removed: a crash at any moment leaves a ``state.json`` and the arrays it names.
Numbers in ``state.json`` are written as Python writes them (``NaN`` and ``Infinity``
included), so every value comes back bit for bit.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import runs
from .callbacks import Callback
from .io import atomic_write, read_arrays, write_arrays
from .validation import ModelFileError, RunFolderError

__all__ = ["FORMAT", "STATE", "Checkpoint", "GeneratorState", "TrainingCheckpoint", "save",
           "load", "check_belongs", "restore", "remove"]

FORMAT = "minicnn-checkpoint-2"        # 2: with the array file's SHA-256
STATE = "state.json"


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``epoch`` (epochs finished), ``info`` and ``parts`` (each part's
    state, arrays in place)."""

    epoch: int
    info: dict
    parts: dict


class GeneratorState:
    """A ``np.random.Generator`` as a checkpoint part: its bit generator's state (JSON-able)."""

    def __init__(self, generator):
        self.generator = generator

    def get_state(self):
        return self.generator.bit_generator.state

    def set_state(self, state):
        self.generator.bit_generator.state = state


# -- arrays out of and back into a state ----------------------------------------------------
def _pack(value, arrays):
    """``value`` with every array replaced by ``{"array": i}`` (the array appended to
    ``arrays``) and NumPy scalars made Python numbers."""
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return {"array": len(arrays) - 1, "shape": list(value.shape), "dtype": value.dtype.str}
    if isinstance(value, dict):
        return {key: _pack(v, arrays) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_pack(v, arrays) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _unpack(value, arrays):
    """The inverse of :func:`_pack`."""
    if isinstance(value, dict):
        if set(value) == {"array", "shape", "dtype"}:
            return arrays[value["array"]]
        return {key: _unpack(v, arrays) for key, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v, arrays) for v in value]
    return value


def _references(value):
    """Every array reference in a packed state, in order of their numbers."""
    if isinstance(value, dict):
        if set(value) == {"array", "shape", "dtype"}:
            return [value]
        return [ref for v in value.values() for ref in _references(v)]
    if isinstance(value, list):
        return [ref for v in value for ref in _references(v)]
    return []


# -- saving and loading ---------------------------------------------------------------------
def save(folder, epoch, parts, info=None):
    """Write the state of ``parts`` ({name: object with get_state()}) after ``epoch``
    finished epochs into ``folder`` (made if missing); returns the state.json path."""
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    arrays = []
    packed = _pack({name: part.get_state() for name, part in parts.items()}, arrays)
    name = f"epoch-{epoch:04d}.npz"
    digest = write_arrays(folder / name, {"kind": "checkpoint", "epoch": epoch}, arrays)
    text = json.dumps({"format": FORMAT, "epoch": epoch, "arrays": name,
                       "arrays_sha256": digest, "info": info or {}, "parts": packed}, indent=1)
    atomic_write(folder / STATE, (text + "\n").encode("utf-8"))
    for old in folder.glob("epoch-*.npz"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return folder / STATE


def load(folder):
    """The :class:`Checkpoint` in ``folder``; RunFolderError naming the file when it is
    missing, damaged, of another format, or its arrays do not match what it declares."""
    folder = Path(folder)
    if not (folder / STATE).is_file():
        raise RunFolderError(f"{folder.parent} has no checkpoint ({folder / STATE} is missing)")
    state = runs.read_json(folder / STATE)
    if state["format"] != FORMAT:
        raise RunFolderError(f"{folder / STATE} is not a minicnn checkpoint of format {FORMAT} "
                             f"(it says {state['format']!r}: an older minicnn's?); train again")
    refs = _references(state["parts"])
    path = folder / Path(state["arrays"]).name
    _check_digest(path, state.get("arrays_sha256"))
    arrays = _read_arrays(path, refs)
    return Checkpoint(state["epoch"], state.get("info", {}), _unpack(state["parts"], arrays))


def _check_digest(path, digest):
    """RunFolderError unless the file at ``path`` has the SHA-256 state.json recorded."""
    try:
        found = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise RunFolderError(f"the checkpoint's arrays cannot be read: {exc}") from None
    if found != digest:
        raise RunFolderError(f"{path} cannot be read as the arrays of {path.parent / STATE}: "
                             "its SHA-256 differs from the one recorded (another run's file, "
                             "or damaged)")


def check_belongs(saved, config, run_dir):
    """RunFolderError unless the loaded checkpoint ``saved`` is the run's that ``config``
    (its config.json) describes: the same seed and settings (:func:`minicnn.runs.identity`,
    recorded and recomputed) and an epoch within the settings' epochs."""
    where = Path(run_dir) / runs.CHECKPOINT / STATE
    mine = runs.identity(config.get("settings"))
    if mine["seed"] != config.get("seed"):
        raise RunFolderError(f"{Path(run_dir) / runs.CONFIG}: seed {config.get('seed')!r} "
                             f"differs from its settings' seed {mine['seed']!r}; it is damaged")
    found = [runs.identity(saved.info.get("settings"))] + (
        [saved.info["identity"]] if "identity" in saved.info else [])
    for theirs in found:
        if theirs != mine:
            raise RunFolderError(
                f"{where} belongs to another run (seed {theirs.get('seed')!r}, settings "
                f"{str(theirs.get('settings_sha256'))[:12]}) than {runs.CONFIG} says (seed "
                f"{mine['seed']!r}, settings {mine['settings_sha256'][:12]}); resume "
                "cannot use it")
    epochs = config["settings"].get("epochs")
    if not isinstance(epochs, int) or saved.epoch > epochs:
        raise RunFolderError(f"{where}: epoch {saved.epoch} is past the run's {epochs} "
                             "epochs; it is damaged")


def _read_arrays(path, refs):
    """The arrays of a checkpoint, each checked against its reference's shape and dtype."""
    if [ref["array"] for ref in refs] != list(range(len(refs))):
        raise RunFolderError(f"{path.parent / STATE}: its array references are damaged")
    try:
        _, arrays = read_arrays(path, lambda config: [(f"array {i}", ref["shape"])
                                                      for i, ref in enumerate(refs)])
    except (FileNotFoundError, ModelFileError) as exc:
        raise RunFolderError(f"the checkpoint's arrays cannot be read: {exc}") from None
    for i, (ref, array) in enumerate(zip(refs, arrays)):
        if array.dtype.str != ref["dtype"]:
            raise RunFolderError(f"{path}: array {i} is {array.dtype}, the checkpoint says "
                                 f"{ref['dtype']}")
    return arrays


def restore(parts, saved):
    """Give each of ``parts`` its state from a loaded :class:`Checkpoint`; RunFolderError
    when the checkpoint holds other parts or a state that does not fit."""
    if set(parts) != set(saved.parts):
        raise RunFolderError(f"the checkpoint holds the parts {sorted(saved.parts)}, this "
                             f"training has {sorted(parts)}")
    for name, part in parts.items():
        try:
            part.set_state(saved.parts[name])
        except (KeyError, TypeError, ValueError) as exc:
            raise RunFolderError(f"the checkpoint's {name} does not fit this training "
                                 f"({type(exc).__name__}: {exc})") from None


class TrainingCheckpoint(Callback):
    """Save the training's state into ``folder`` before the first epoch and at every epoch
    end; with ``resume`` (a loaded :class:`Checkpoint`) put that state back instead when
    training begins (pass ``initial_epoch=resume.epoch`` to fit).

    The model, its optimizer and its history are parts by themselves; ``parts`` adds the
    others ({name: object with get_state/set_state}, e.g. the callbacks and a
    :class:`GeneratorState`). Put this callback after the ones whose state it saves.
    """

    def __init__(self, folder, parts=None, info=None, resume=None):
        self.folder, self.parts = Path(folder), dict(parts or {})
        self.info, self.resume = info or {}, resume

    def _all_parts(self):
        return {"model": self.model, "optimizer": self.model.optimizer,
                "history": self.model.history, **self.parts}

    def on_train_begin(self):
        if self.resume is None:
            save(self.folder, 0, self._all_parts(), self.info)
        else:
            restore(self._all_parts(), self.resume)

    def on_epoch_end(self, epoch, logs):
        save(self.folder, epoch + 1, self._all_parts(), self.info)


def remove(folder):
    """Delete a checkpoint folder's files and the folder (a finished run needs it no more)."""
    folder = Path(folder)
    for path in folder.glob("*"):
        path.unlink(missing_ok=True)
    if folder.is_dir():
        os.rmdir(folder)
