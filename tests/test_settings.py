"""The settings table (minicnn/settings.py) and everything read from it: the checks of every
value, train's flags, --set, --config files, sweeps' keys, --resume's list, the presets'
tables in train --help and the README."""
import argparse
import dataclasses
import json
import math
import re

import pytest

from minicnn import cli, pipeline, settings
from minicnn.cli import main
from minicnn.settings import PRESETS, Settings, setting_fields, settings_for
from minicnn.validation import SettingError

from conftest import ROOT



def _train_flags():
    """{dest: its first action} of train's parser, built as `minicnn train` builds it."""
    parser = cli.build_parser("train")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    flags = {}
    for action in sub.choices["train"]._actions:
        flags.setdefault(action.dest, action)
    return flags


# -- the table --------------------------------------------------------------------------------
def test_every_setting_has_help_and_a_flag_with_it():
    flags = _train_flags()
    for name, f in setting_fields().items():
        assert f.metadata["help"], name
        if name == "preset":
            assert flags[name].choices == tuple(PRESETS)
            continue
        option = "--" + name.replace("_", "-")
        assert option in flags[name].option_strings, name
        words = f.metadata["help"].split(";")[0]
        assert words in flags[name].help.replace("%%", "%"), name


@pytest.mark.parametrize("name, value, words", [
    ("image_size", 20, ["image_size must be an integer in [38, 300], got 20", "need 38"]),
    ("image_size", 301, ["[38, 300], got 301"]),
    ("learning_rate", math.nan, ["learning_rate must be a finite number > 0, got nan"]),
    ("learning_rate", math.inf, ["learning_rate must be a finite number > 0, got inf"]),
    ("rotation", math.nan, ["rotation must be a number in [0, 0.5], got nan"]),
    ("lr_decay", 0.0, ["lr_decay must be a number in (0, 1]"]),
    ("seed", 2**32, ["seed must be an integer in [0, 4294967295]"]),
    ("seed", -1, ["seed must be an integer"]),
    ("epochs", 1.5, ["epochs must be an integer >= 1, got 1.5"]),
    ("epochs", True, ["epochs must be an integer"]),
    ("augment", "yes", ["augment must be true or false, got 'yes'"]),
    ("class_weight", "heavy", ["class_weight must be one of balanced, none, got 'heavy'"]),
    ("train_per_class", (5, 0), ["train_per_class must be a count per class >= 1"]),
    ("val_fraction", 1.0, ["val_fraction must be a number in (0, 1)"]),
    ("patience", -1, ["patience must be an integer >= 0 or none"]),
])
def test_a_value_outside_its_setting_is_refused_in_one_format(name, value, words):
    with pytest.raises(SettingError) as info:
        settings_for("quick", **{name: value})
    assert all(w in str(info.value) for w in words), str(info.value)


def test_values_are_kept_in_their_canonical_form():
    s = settings_for("quick", learning_rate=1, train_per_class=50, image_size=64)
    assert isinstance(s.learning_rate, float) and s.train_per_class == (50, 50)
    assert settings_for("quick", train_per_class=[3, 4]).train_per_class == (3, 4)
    assert settings_for("quick", train_per_class=0).train_per_class is None
    assert Settings.from_dict(s.to_dict()) == s


def test_text_values_are_parsed_by_the_setting_type():
    grid = settings.parse_sets(["batch_norm=true", "lr_decay=0.9,0.5", "patience=none",
                                "train_per_class=all", "batch_norm=no"])
    assert grid == {"batch_norm": [True, False], "lr_decay": [0.9, 0.5], "patience": [None],
                    "train_per_class": [None]}


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture
def captured(monkeypatch):
    """The settings `minicnn train` would run with (train_run replaced)."""
    seen = []
    monkeypatch.setattr(pipeline, "train_run", lambda s, **_: seen.append(s))
    return seen


def test_train_sets_any_setting_by_flag_or_set(captured):
    assert main(["train", "--set", "batch_norm=true", "--set", "lr_decay=0.9",
                 "--learning-rate", "0.0005", "--no-augment", "--global-pool",
                 "--train-per-class", "0"]) == 0
    s = captured[-1]
    assert (s.preset, s.batch_norm, s.lr_decay, s.learning_rate) == ("quick", True, 0.9, 5e-4)
    assert s.global_pool is True and s.augment is False and s.train_per_class is None
    # a flag wins over --set; untouched settings keep the preset's value
    assert main(["train", "--set", "epochs=7", "--epochs", "2"]) == 0
    assert captured[-1].epochs == 2 and captured[-1].image_size == PRESETS["quick"].image_size


def test_train_reads_a_toml_config_and_flags_override_it(captured, tmp_path):
    config = tmp_path / "recipe.toml"
    config.write_text('[settings]\npreset = "full"\nbatch_norm = true\nlr_decay = 0.9\n'
                      'train_per_class = [40, 60]\nepochs = 5\n')
    assert main(["train", "--config", str(config), "--epochs", "2"]) == 0
    s = captured[-1]
    assert s.preset == "full" and s.augment is True             # full's, from the file
    assert (s.batch_norm, s.lr_decay, s.train_per_class, s.epochs) == (True, 0.9, (40, 60), 2)
    assert main(["train", "--config", str(config), "--preset", "quick"]) == 0
    assert captured[-1].preset == "quick" and captured[-1].image_size == 48


@pytest.mark.parametrize("text, words", [
    ('[settings]\nepochs = "many"\n', ["epochs must be an integer", "'many'"]),
    ('[settings]\ncolour = 3\n', ["unknown setting 'colour'", "recipe.toml"]),
    ('epochs = 3\n', ["[settings] table"]),
    ('[settings\n', ["not valid TOML"]),
])
def test_a_bad_config_file_is_one_line_naming_the_problem(text, words, tmp_path, capsys,
                                                          captured):
    config = tmp_path / "recipe.toml"
    config.write_text(text)
    assert main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(w in err[0] for w in words), err
    assert not captured


def test_a_run_is_repeated_from_its_config_json_with_another_seed(captured, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    original = settings_for("full", batch_norm=True, epochs=4, out=str(run), seed=3)
    (run / "config.json").write_text(json.dumps({"settings": original.to_dict()}))
    assert main(["train", "--config", str(run / "config.json"), "--seed", "5"]) == 0
    again = captured[-1]
    assert again == dataclasses.replace(original, seed=5, out=None)   # a new folder


def test_resume_refuses_every_setting_but_data(capsys):
    for argv in (["--batch-norm"], ["--set", "epochs=3"], ["--lr-decay", "0.5"],
                 ["--config", "x.toml"]):
        assert main(["train", "--resume", "somewhere", *argv]) == 2
        assert "drop" in capsys.readouterr().err
    resumable = [n for n, f in setting_fields().items() if f.metadata["resume"]]
    assert resumable == ["data"]


def test_a_bad_flag_value_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--image-size", "20"])
    assert info.value.code == 2
    assert "image_size must be an integer in [38, 300], got 20" in capsys.readouterr().err


# -- the presets' tables -------------------------------------------------------------------------
def test_the_readme_preset_table_is_the_one_the_settings_give():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings.preset_table() in readme


def test_train_help_shows_every_preset_and_what_sets_it_apart(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for name in PRESETS:
        assert re.search(rf"^  {name}\s", text, re.M), name
    assert "batch_norm=true" in text and "protocol=thesis" in text
    assert "(default 32)" in text                   # batch_size's default


def test_the_preset_table_shows_each_difference():
    table = settings.preset_table()
    header, _, *rows = table.strip().splitlines()
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert "batch_norm" in columns and "epochs" in columns and "learning_rate" not in columns
    improved = next(r for r in rows if r.startswith("| `improved`"))
    cells = [c.strip() for c in improved.strip("|").split("|")]
    assert cells[columns.index("batch_norm")] == "true"
    assert cells[columns.index("train_per_class")] == "all"
