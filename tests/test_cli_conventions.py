"""Command-line conventions: `minicnn --version`, help text for every flag of every command,
and progress bars only on a terminal (a redirected log gets one plain line per epoch)."""
import argparse
import io
import sys

import numpy as np
import pytest
from PIL import Image

import minicnn
from minicnn import cli, layers
from minicnn.data import load_image_folder


def _arguments(parser, path):
    """(command path, argument name, help) for every argument of ``parser`` and its commands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", "(the command itself)", helps.get(name)
                yield from _arguments(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield path, "/".join(action.option_strings) or action.dest, action.help


def test_every_flag_of_every_command_has_help():
    found = list(_arguments(cli.build_parser(), "minicnn"))
    commands = {path for path, _, _ in found}
    assert {"minicnn train", "minicnn predict", "minicnn bench", "minicnn exercises start"} \
        <= commands, sorted(commands)
    missing = [f"{path} {name}" for path, name, text in found if not (text or "").strip()]
    assert not missing, missing


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.split() == ["minicnn", minicnn.__version__]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _tiny_fit(verbose=1):
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 6, 6, 1), dtype=np.float32), np.arange(8) % 2
    model = minicnn.Sequential([layers.Input((6, 6, 1)), layers.Flatten(),
                                layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x, y, batch_size=4, epochs=2, verbose=verbose, seed=0)


@pytest.mark.parametrize("terminal", [False, True])
def test_fit_draws_a_bar_only_on_a_terminal(terminal, monkeypatch, capsys):
    if terminal:
        monkeypatch.setattr(sys, "stderr", _Terminal())
    _tiny_fit()
    out, err = capsys.readouterr()
    err = sys.stderr.getvalue() if terminal else err
    assert out.count("\n") == 2 and out.startswith("Epoch 1/2: loss "), out
    assert "Epoch 2/2: loss " in out and "\r" not in out
    assert ("batch/s" in err) == terminal, err[:300]


def test_fit_quiet_draws_nothing(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    _tiny_fit(verbose=0)
    assert capsys.readouterr().out == "" and sys.stderr.getvalue() == ""


@pytest.mark.parametrize("terminal", [False, True])
def test_decoding_bar_only_on_a_terminal(terminal, tmp_path, monkeypatch, capsys):
    for name in ("NORMAL", "PNEUMONIA"):
        (tmp_path / "x" / name).mkdir(parents=True)
        for i in range(2):
            image = Image.fromarray(np.full((8, 8), 40 * i, np.uint8))
            image.save(tmp_path / "x" / name / f"{i}.png")
    if terminal:
        monkeypatch.setattr(sys, "stderr", _Terminal())
    data = load_image_folder(tmp_path / "x", image_size=8, use_cache=False, progress=True)
    err = sys.stderr.getvalue() if terminal else capsys.readouterr().err
    assert len(data.y) == 4
    assert ("decoding images" in err) == terminal, err[:300]
    monkeypatch.setattr(sys, "stderr", _Terminal())
    load_image_folder(tmp_path / "x", image_size=8, use_cache=False, progress=False)
    assert sys.stderr.getvalue() == ""
