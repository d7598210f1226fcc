"""A run folder's files for programs (docs/run_folder.md): epochs counted from 1 alike in
history.csv, metrics.json and the console, older files still read, and metrics.json and
config.json valid against their documented JSON schemas."""
import contextlib
import io
import re

import numpy as np

import minicnn
from minicnn import callbacks, layers, runs


def _fit(tmp_path, epochs=3):
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 6, 6, 1), dtype=np.float32), np.arange(8) % 2
    model = minicnn.Sequential([layers.Input((6, 6, 1)), layers.Flatten(),
                                layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        model.fit(x, y, batch_size=4, epochs=epochs, seed=0,
                  callbacks=[callbacks.CSVLogger(tmp_path / "history.csv")])
    return printed.getvalue()


def test_history_csv_and_the_console_count_epochs_alike(tmp_path):
    printed = _fit(tmp_path)
    console = [int(n) for n in re.findall(r"^Epoch (\d+)/3:", printed, re.M)]
    written = [row["epoch"] for row in runs.read_history(tmp_path / "history.csv")]
    assert console == written == [1, 2, 3]
    assert (tmp_path / "history.csv").read_text().splitlines()[1].startswith("1,")


def test_a_history_counted_from_zero_is_read_from_one(tmp_path):
    old = tmp_path / "history.csv"
    old.write_text("epoch,loss,accuracy\n0,0.7,0.5\n1,0.6,0.6\n")
    assert [(r["epoch"], r["loss"]) for r in runs.read_history(old)] == [(1, 0.7), (2, 0.6)]
    new = tmp_path / "new.csv"
    new.write_text("epoch,loss,accuracy\n1,0.7,0.5\n2,0.6,0.6\n")
    assert [r["epoch"] for r in runs.read_history(new)] == [1, 2]


def test_a_checkpoint_counted_from_zero_resumes_counting_from_one(tmp_path):
    logger = callbacks.CSVLogger(tmp_path / "history.csv")
    logger.on_train_begin()
    logger.set_state({"rows": [{"epoch": 0, "loss": 0.7}, {"epoch": 1, "loss": 0.6}]})
    logger.on_epoch_end(2, {"loss": 0.5})
    assert [r["epoch"] for r in runs.read_history(tmp_path / "history.csv")] == [1, 2, 3]
    assert [r["epoch"] for r in logger.get_state()["rows"]] == [1, 2, 3]
