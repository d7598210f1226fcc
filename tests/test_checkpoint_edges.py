"""The checkpoint at its edges: the one written before the first epoch says 0 epochs
finished (a run killed during its first epoch starts again from the beginning), its parts
keep their names, and NumPy scalars in a part's state come back as numbers."""
import json

import numpy as np

import minicnn
from minicnn import checkpoint, layers
from minicnn.callbacks import Callback


class _Spy(Callback):
    """Reads the checkpoint folder after the first batch: what a kill then would leave."""

    def __init__(self, folder):
        self.folder, self.seen = folder, None

    def on_batch_end(self, batch, logs):
        if self.seen is None:
            self.seen = checkpoint.load(self.folder)


def _tiny_model():
    model = minicnn.Sequential([layers.Input((4,)), layers.Dense(2, activation="softmax")],
                               seed=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.build()
    return model


def test_a_kill_in_the_first_epoch_leaves_a_checkpoint_of_zero_epochs(tmp_path):
    model = _tiny_model()
    x, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
    before = [w.copy() for w in model.get_weights()]
    spy = _Spy(tmp_path / "ck")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0,
              callbacks=[checkpoint.TrainingCheckpoint(tmp_path / "ck"), spy])
    assert spy.seen.epoch == 0
    assert set(spy.seen.parts) == {"model", "optimizer", "history"}
    for saved, initial in zip(spy.seen.parts["model"]["weights"], before):
        np.testing.assert_array_equal(saved, initial)
    assert checkpoint.load(tmp_path / "ck").epoch == 1               # after the epoch


class _Scalars:
    """A part whose state holds NumPy scalars."""

    def __init__(self):
        self.state = {"count": np.int64(3), "rate": np.float32(0.25), "flag": np.bool_(True)}

    def get_state(self):
        return self.state

    def set_state(self, state):
        self.state = state


def test_numpy_scalars_in_a_state_are_written_as_numbers(tmp_path):
    part = _Scalars()
    path = checkpoint.save(tmp_path, 2, {"scalars": part})
    written = json.loads(path.read_text())["parts"]["scalars"]
    assert written == {"count": 3, "rate": 0.25, "flag": True}
    fresh = _Scalars()
    checkpoint.restore({"scalars": fresh}, checkpoint.load(tmp_path))
    assert fresh.state == {"count": 3, "rate": 0.25, "flag": True}
