"""Resumable runs: a checkpoint at every epoch end, ``minicnn train --resume``, and Ctrl-C
stopping after the current batch. Killed (SIGKILL) and interrupted (SIGINT) runs are real
subprocesses on a tiny synthetic X-ray folder; a resumed run must end bit for bit where the
uninterrupted one does."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import minicnn
from minicnn import checkpoint, io, runs
from minicnn.callbacks import CSVLogger, DivergenceGuard, EarlyStopping, History
from minicnn.cli import main
from minicnn.validation import RunFolderError

from folders import make_chest_xray

# The run of every subprocess test: augmentation (the shuffling generator's draws), early
# stopping that never stops (its best weights are kept), 3 batches of 8 per epoch.
TRAIN = ["train", "--image-size", "40", "--epochs", "4", "--batch-size", "8", "--augment",
         "--patience", "10"]
# Runs the minicnn command with every augmentation call counted in a file and followed by a
# pause, so a signal can be sent in the middle of an epoch. The draws are the same.
DRIVER = """
import sys, time
from minicnn import cli
from minicnn.data import augment
marks, pause = sys.argv[1], float(sys.argv[2])
original = augment.augment_batch
def counted(x, rng, **kwargs):
    out = original(x, rng, **kwargs)
    with open(marks, "a") as f:
        f.write("batch\\n")
    time.sleep(pause)
    return out
augment.augment_batch = counted
sys.exit(cli.main(sys.argv[3:]))
"""




def _start(args, env, folder, pause=0.0):
    """The driver in a subprocess; returns (process, marks file)."""
    marks = folder / f"marks-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(marks), str(pause), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, marks


def _batches(marks):
    return len(marks.read_text().splitlines()) if marks.exists() else 0


def _epoch_saved(out):
    try:
        return json.loads((out / "checkpoint" / "state.json").read_text())["epoch"]
    except (OSError, ValueError):
        return -1


def _wait(condition, proc, timeout=180):
    end = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def _finish(args, env, folder):
    proc, _ = _start(args, env, folder)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out


def _in_epoch_3(out, marks, proc):
    """Wait until epoch 2's checkpoint is saved and a batch of epoch 3 has begun."""
    _wait(lambda: _epoch_saved(out) == 2, proc)
    seen = _batches(marks)
    _wait(lambda: _batches(marks) > seen, proc)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir, env):
    """The uninterrupted run."""
    folder = tmp_path_factory.mktemp("reference")
    _finish([*TRAIN, "--data", str(data_dir), "--out", str(folder / "run")], env, folder)
    return folder / "run"


def _assert_same_run(run, reference):
    a, b = (minicnn.load_model(r / "model.npz").get_weights() for r in (run, reference))
    assert len(a) == len(b) == 12
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert (run / "history.csv").read_text() == (reference / "history.csv").read_text()
    metrics = [json.loads((r / "metrics.json").read_text()) for r in (run, reference)]
    assert metrics[0] == metrics[1]
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 4


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_same_weights(tmp_path, data_dir, env,
                                                            reference):
    out = tmp_path / "run"
    proc, marks = _start([*TRAIN, "--data", str(data_dir), "--out", str(out)], env, tmp_path,
                         pause=0.3)
    _in_epoch_3(out, marks, proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert runs.run_status(out)[0] == "did not finish"
    assert len((out / "history.csv").read_text().splitlines()) == 1 + 2
    _finish(["train", "--resume", str(out)], env, tmp_path)
    _assert_same_run(out, reference)
    config = json.loads((out / "config.json").read_text())
    assert config["status"] == "done" and [r["from_epoch"] for r in config["resumed"]] == [2]
    assert not (out / "checkpoint").exists() and not (out / "run.lock").exists()


@pytest.mark.slow
def test_ctrl_c_stops_after_the_batch_and_leaves_a_resumable_run(tmp_path, data_dir, env,
                                                                reference):
    out = tmp_path / "run"
    proc, marks = _start([*TRAIN, "--data", str(data_dir), "--out", str(out)], env, tmp_path,
                         pause=0.3)
    _in_epoch_3(out, marks, proc)
    at_signal = _batches(marks)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "minicnn train: interrupted"
    assert _batches(marks) == at_signal            # no batch began after the signal
    config = json.loads((out / "config.json").read_text())
    assert config["status"] == "interrupted" and not (out / "run.lock").exists()
    assert _epoch_saved(out) == 2
    _finish(["train", "--resume", str(out)], env, tmp_path)
    _assert_same_run(out, reference)


def _interrupted_copy(reference, tmp_path):
    """A copy of a finished run folder, made to look interrupted (it has no checkpoint)."""
    out = tmp_path / "interrupted"
    shutil.copytree(reference, out)
    config = json.loads((out / "config.json").read_text())
    config.update(status="interrupted", reason="stopped by Ctrl-C")
    (out / "config.json").write_text(json.dumps(config))
    return out


@pytest.mark.slow
def test_resume_refuses_finished_unlocked_and_checkpointless_folders(tmp_path, data_dir,
                                                                      reference, capsys):
    def refused(folder, *words):
        assert main(["train", "--resume", str(folder)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and all(w in err[0] for w in words), err

    refused(reference, "is done", "nothing to resume")
    refused(tmp_path / "nowhere", "no run folder")
    out = _interrupted_copy(reference, tmp_path)
    refused(out, "no checkpoint")
    # a live run's lock (this process), then a dead process's lock
    checkpoint.save(out / "checkpoint", 0, {"x": checkpoint.GeneratorState(
        np.random.default_rng(0))})
    (out / "run.lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                              "process_start": runs._process_start(os.getpid())}))
    refused(out, "locked by a live run", str(os.getpid()))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (out / "run.lock").write_text(json.dumps({"pid": int(dead), "host": socket.gethostname()}))
    run, _ = runs.reclaim(out)                   # taken over
    assert json.loads((out / "run.lock").read_text())["pid"] == os.getpid()
    run.release()
    assert main(["train", "--resume", str(out), "--epochs", "3"]) == 2
    assert "drop --epochs" in capsys.readouterr().err


# -- the parts' states -------------------------------------------------------------------------
def _trained_callbacks(csv_path):
    model = minicnn.models.thesis_cnn((40, 40, 1), 2, seed=0)
    stopper, guard = EarlyStopping(patience=1, restore_best_weights=True), DivergenceGuard()
    logger, history = CSVLogger(csv_path), History()
    for cb in (stopper, guard, logger, history):
        cb.set_model(model)
        cb.on_train_begin()
    model.nonfinite_loss = None
    for epoch, loss in enumerate([0.7, 0.5, float("nan")]):
        logs = {"loss": loss, "val_loss": loss}
        for cb in (history, logger, stopper, guard):
            cb.on_epoch_end(epoch, logs)
    return model, {"early_stopping": stopper, "divergence_guard": guard, "csv_logger": logger,
                   "history": history}


def test_callbacks_and_generators_come_back_from_a_saved_checkpoint(tmp_path):
    model, parts = _trained_callbacks(tmp_path / "h.csv")
    rng = np.random.default_rng(5)
    rng.random(7)
    parts["rng"] = checkpoint.GeneratorState(rng)
    checkpoint.save(tmp_path / "ck", 3, parts, {"note": "x"})
    expected_draw = rng.random(4)
    _, fresh = _trained_callbacks(tmp_path / "fresh.csv")
    fresh_rng = np.random.default_rng(0)
    fresh["rng"] = checkpoint.GeneratorState(fresh_rng)
    for cb in fresh.values():
        if hasattr(cb, "on_train_begin"):
            cb.on_train_begin()
    saved = checkpoint.load(tmp_path / "ck")
    assert saved.epoch == 3 and saved.info == {"note": "x"}
    checkpoint.restore(fresh, saved)
    assert np.array_equal(fresh_rng.random(4), expected_draw)
    stopper, guard = fresh["early_stopping"], fresh["divergence_guard"]
    assert (stopper.best, stopper.best_epoch, stopper.wait) == (0.5, 1, 1)
    assert all(np.array_equal(a, b) for a, b in zip(stopper.best_weights,
                                                    parts["early_stopping"].best_weights))
    assert guard.diverged and guard.last_finite_epoch == 1 and "epoch 3" in guard.reason
    assert guard._weights is not None and len(guard._weights) == 12
    history = fresh["history"].history["loss"]
    assert history[:2] == [0.7, 0.5] and np.isnan(history[2])        # NaN comes back
    assert (tmp_path / "fresh.csv").read_text() == (tmp_path / "h.csv").read_text()
    with pytest.raises(RunFolderError, match="parts"):
        checkpoint.restore({"rng": fresh["rng"]}, saved)


def test_a_crash_while_saving_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    model = minicnn.models.thesis_cnn((40, 40, 1), 2, seed=0)
    parts = {"model": model, "rng": checkpoint.GeneratorState(rng)}
    checkpoint.save(tmp_path, 1, parts)
    state_before, first = (tmp_path / "state.json").read_bytes(), model.get_weights()
    model.set_weights([w + 1 for w in first])
    real = io.atomic_write

    def crash_on_state(path, data):
        if str(path).endswith("state.json"):
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(checkpoint, "atomic_write", crash_on_state)
    with pytest.raises(OSError):
        checkpoint.save(tmp_path, 2, parts)
    monkeypatch.undo()
    assert (tmp_path / "state.json").read_bytes() == state_before
    saved = checkpoint.load(tmp_path)
    assert saved.epoch == 1
    assert all(np.array_equal(a, b) for a, b in zip(saved.parts["model"]["weights"], first))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0001.npz", "epoch-0002.npz",
                                                           "state.json"]


def test_a_damaged_checkpoint_is_refused_by_name(tmp_path):
    model = minicnn.models.thesis_cnn((40, 40, 1), 2, seed=0)
    path = checkpoint.save(tmp_path, 1, {"model": model})
    text = path.read_text()
    path.write_text(text[:len(text) // 2])
    with pytest.raises(RunFolderError, match="state.json is not valid JSON"):
        checkpoint.load(tmp_path)
    state = json.loads(text)
    state["parts"]["model"]["weights"][0]["shape"] = [9, 9, 9, 9]
    path.write_text(json.dumps(state))
    with pytest.raises(RunFolderError, match="shape"):
        checkpoint.load(tmp_path)
    path.write_text(text)
    (tmp_path / "epoch-0001.npz").write_bytes(b"not a zip")
    with pytest.raises(RunFolderError, match="cannot be read"):
        checkpoint.load(tmp_path)
    with pytest.raises(RunFolderError, match="has no checkpoint"):
        checkpoint.load(tmp_path / "nothing")


def test_resume_refuses_other_images_and_goes_on_with_the_right_ones(tmp_path, data_dir,
                                                                      monkeypatch, capsys):
    from minicnn.data import augment
    original, calls = augment.augment_batch, []

    def interrupt_in_epoch_2(x, rng, **kwargs):
        calls.append(1)
        if len(calls) == 4:                    # 3 batches per epoch: the first of epoch 2
            raise KeyboardInterrupt
        return original(x, rng, **kwargs)

    monkeypatch.setattr(augment, "augment_batch", interrupt_in_epoch_2)
    out = tmp_path / "run"
    assert main([*TRAIN, "--data", str(data_dir), "--out", str(out)]) == 130
    assert runs.read_config(out)["status"] == "interrupted" and _epoch_saved(out) == 1
    other = make_chest_xray(tmp_path / "other" / "chest_xray", seed=1)
    assert main(["train", "--resume", str(out), "--data", str(other)]) == 2
    assert "images differ" in capsys.readouterr().err
    assert not (out / "run.lock").exists() and _epoch_saved(out) == 1
    assert main(["train", "--resume", str(out)]) == 0
    config = runs.read_config(out)
    assert config["status"] == "done" and len(config["resumed"]) == 2
    assert len((out / "history.csv").read_text().splitlines()) == 1 + 4


@pytest.mark.slow
def test_a_run_with_the_stability_levers_resumes_to_the_same_weights(tmp_path, data_dir, env):
    """The weight average's state (its sum and the trained weights) is in the checkpoint: a
    run killed in epoch 3 resumes to the uninterrupted run's averaged weights and history."""
    levers = [*TRAIN, "--batch-norm", "--set", "ema_decay=0.9", "--set", "bn_recompute=true",
              "--data", str(data_dir)]
    reference = tmp_path / "reference"
    _finish([*levers, "--out", str(reference)], env, tmp_path)
    out = tmp_path / "run"
    proc, marks = _start([*levers, "--out", str(out)], env, tmp_path, pause=0.3)
    _in_epoch_3(out, marks, proc)
    proc.kill()
    proc.communicate(timeout=60)
    _finish(["train", "--resume", str(out)], env, tmp_path)
    a, b = (minicnn.load_model(r / "model.npz").get_weights() for r in (out, reference))
    assert len(a) == len(b) == 12 + 4 * 4                    # with BatchNormalization
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert (out / "history.csv").read_text() == (reference / "history.csv").read_text()
