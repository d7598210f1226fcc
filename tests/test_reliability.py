"""What minicnn refuses, and why: no label for a probability that is not a number, one run per
folder, bounded memory on huge images, no hang on a FIFO, the last finite epoch kept when
training diverges, and one or two clear lines (never a traceback) at the command line.

Signals, races and memory limits are tested for real, in subprocesses, on a tiny synthetic
X-ray folder."""
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import minicnn
from minicnn import callbacks, pipeline, report, runs, scoring
from minicnn.cli import main
from minicnn.data import augment, load_image_folder, preprocess_image
from minicnn.settings import settings_for
from minicnn.validation import DataError, RunFolderError


SIZE = 40




@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_dir):
    """A finished one-epoch run folder."""
    out = tmp_path_factory.mktemp("runs") / "done"
    assert main(["train", "--data", str(data_dir), "--image-size", str(SIZE), "--epochs", "1",
                 "--out", str(out)]) == 0
    return out


def _minicnn(args, env, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "minicnn", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _long_training(data_dir, out, env):
    """A thesis-preset run of many epochs (no early stopping) in a subprocess."""
    return _minicnn(["train", "--preset", "thesis", "--data", str(data_dir), "--image-size",
                     str(SIZE), "--epochs", "5000", "--out", str(out)], env)


def _wait_for(path, proc, timeout=180):
    """Wait until ``path`` exists (the run is training), or fail."""
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.2)


def _config(run_dir):
    return json.loads((run_dir / "config.json").read_text())


# -- item 2: one run, one folder -------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_during_training_exits_130_and_records_interrupted(data_dir, env, tmp_path,
                                                                  signum):
    out = tmp_path / "run"
    proc = _long_training(data_dir, out, env)
    _wait_for(out / "history.csv", proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "minicnn train: interrupted"
    assert "Traceback" not in err
    config = _config(out)
    assert config["status"] == "interrupted" and "Ctrl-C" in config["reason"]
    assert not (out / "run.lock").exists()
    assert runs.run_status(out) == ("interrupted", config["reason"])


@pytest.mark.slow
def test_after_sigkill_the_next_reader_says_the_run_did_not_finish(data_dir, env, tmp_path,
                                                                  capsys):
    out = tmp_path / "run"
    proc = _long_training(data_dir, out, env)
    _wait_for(out / "history.csv", proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert _config(out)["status"] == "running"          # it could not say otherwise
    status, reason = runs.run_status(out)
    assert status == "did not finish" and "killed" in reason
    assert main(["evaluate", "--model", str(out), "--data", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert "did not finish" in err and str(out) in err and len(err.strip().splitlines()) == 1
    assert main(["train", "--data", str(data_dir), "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    page = (minicnn.report.write_report(out, n_images=0)).read_text()
    assert "did not finish" in page and "killed" in page


@pytest.mark.slow
def test_two_runs_started_together_into_one_folder(data_dir, env, tmp_path):
    out = tmp_path / "shared-run"
    procs = [_minicnn(["train", "--data", str(data_dir), "--image-size", str(SIZE),
                       "--epochs", "2", "--seed", str(seed), "--out", str(out)], env)
             for seed in (1, 2)]
    done = [(p.communicate(timeout=600), p.returncode) for p in procs]
    codes = sorted(code for _, code in done)
    assert codes == [0, 2], done
    (winner,) = [seed for seed, (_, code) in zip((1, 2), done) if code == 0]
    (loser_err,) = [err for (_, err), code in done if code == 2]
    assert str(out) in loser_err and "choose another --out" in loser_err
    assert "Traceback" not in loser_err
    config = _config(out)
    assert config["status"] == "done" and config["seed"] == winner
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 2
    assert len((out / "history.csv").read_text().splitlines()) == 1 + 2
    assert not (out / "run.lock").exists()


def test_a_folder_is_claimed_once_and_default_names_never_collide(tmp_path):
    first = runs.claim(tmp_path / "a")
    with pytest.raises(RunFolderError, match="not empty.*writing into it"):
        runs.claim(tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "run.lock").write_text("{}")          # claimed a moment ago
    with pytest.raises(RunFolderError, match="not empty"):
        runs.claim(tmp_path / "b")
    names = {runs.claim(None, "quick", parent=tmp_path / "runs").path for _ in range(5)}
    assert len(names) == 5                                   # all within one second
    assert all(p.is_dir() and (p / "run.lock").is_file() for p in names)
    lock = json.loads((first.path / "run.lock").read_text())
    assert lock["pid"] == os.getpid()
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="is a file"):
        runs.claim(tmp_path / "file")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="not empty .it holds other files"):
        runs.claim(tmp_path / "c")


def test_of_two_runs_past_the_empty_check_only_one_gets_the_lock(tmp_path):
    runs._lock(tmp_path)                          # both saw an empty folder; one locks first
    with pytest.raises(RunFolderError, match="just claimed by another run"):
        runs._lock(tmp_path)


def test_a_reused_pid_does_not_keep_a_dead_run_running(tmp_path):
    run = runs.claim(tmp_path / "run")
    run.write_json(runs.CONFIG, {"status": "running"})
    assert runs.run_status(run.path)[0] == "running"            # this process holds it
    lock = json.loads(run.file(runs.LOCK).read_text())
    lock["process_start"] -= 1                  # same pid, started at another time
    run.file(runs.LOCK).write_text(json.dumps(lock))
    assert runs.run_status(run.path)[0] == "did not finish"


def test_run_files_are_written_atomically(tmp_path, monkeypatch):
    run = runs.claim(tmp_path / "run")
    run.write_splits([("a.jpeg", 0, "train"), ("b.jpeg", 1, "test")])
    logger = callbacks.CSVLogger(run.file(runs.HISTORY))
    logger.on_train_begin()
    logger.on_epoch_end(0, {"loss": 0.5})
    before = {name: run.file(name).read_bytes() for name in (runs.SPLITS, runs.HISTORY)}

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError):
        run.write_splits([("c.jpeg", 0, "train")] * 1000)
    with pytest.raises(OSError):
        logger.on_epoch_end(1, {"loss": 0.4})
    monkeypatch.undo()
    for name, data in before.items():                        # the old file, whole
        assert run.file(name).read_bytes() == data, name
    assert sorted(p.name for p in run.path.iterdir()) == ["history.csv", "run.lock",
                                                           "splits.csv"]


def test_a_failed_run_records_failed_with_its_reason(data_dir, tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(pipeline, "thesis_cnn", broken)
    out = tmp_path / "run"
    assert main(["train", "--data", str(data_dir), "--image-size", str(SIZE),
                 "--out", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("minicnn train: error: out of memory;") and "--batch-size" in err
    config = _config(out)
    assert config["status"] == "failed" and config["reason"].startswith("MemoryError")
    assert runs.run_status(out)[0] == "failed" and not (out / "run.lock").exists()


# -- item 4: divergence keeps the good model ------------------------------------------------
def _nan_after(n_batches):
    """An ``augment`` function that spoils every batch after the first n_batches."""
    calls = []

    def augment(x, rng, **kwargs):
        calls.append(1)
        return x if len(calls) <= n_batches else np.full_like(x, np.nan)
    return augment


def test_divergence_keeps_the_last_finite_epoch(data_dir, tmp_path, monkeypatch):
    def thesis_run(epochs, spoil_after, out):
        monkeypatch.setattr(augment, "augment_batch", _nan_after(spoil_after))
        return pipeline.train_run(settings_for(
            "thesis", data=str(data_dir), image_size=SIZE, epochs=epochs, batch_size=8,
            augment=True, out=str(tmp_path / out)), report=report.write_report)

    # 24 training images in batches of 8: 3 batches per epoch; the 8th batch is NaN.
    with pytest.warns(RuntimeWarning, match="training stopped at epoch 3"):
        run_dir = thesis_run(5, 7, "run")
    two_epochs = minicnn.load_model(thesis_run(2, 10**9, "two-epochs") / "model.npz")
    kept = minicnn.load_model(run_dir / "model.npz")
    for a, b in zip(kept.get_weights(), two_epochs.get_weights()):
        np.testing.assert_array_equal(a, b)        # epoch 2's weights, not epoch 3's part
    config = _config(run_dir)
    assert config["status"] == "diverged" and "epoch 3" in config["reason"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["kept_epoch"] == 2 and metrics["kept_epoch_rule"].startswith("last finite")
    model = minicnn.load_model(run_dir / "model.npz")
    x = load_image_folder(data_dir / "test", SIZE, progress=False).x
    assert np.isfinite(model.predict(x)).all()
    results, info = scoring.predict_images(run_dir, [next((data_dir / "test").rglob("*.jpeg"))])
    assert results[0]["label"] is not None and info["threshold"] == config["threshold"]
    assert "Training diverged" in (run_dir / "report.html").read_text()


def test_the_divergence_guard_tells_its_stop_from_early_stopping():
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 4), dtype=np.float32), np.arange(16) % 2
    model = minicnn.Sequential([minicnn.layers.Input((4,)), minicnn.layers.Dense(2, "softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    guard = callbacks.DivergenceGuard()
    stop = callbacks.EarlyStopping("loss", patience=0, min_delta=10.0)
    model.fit(x, y, epochs=5, batch_size=4, verbose=0, callbacks=[stop, guard])
    assert not guard.diverged and guard.last_finite_epoch == 1     # stopped by EarlyStopping
    start = model.get_weights()
    with pytest.warns(RuntimeWarning):
        model.fit(x, y, epochs=5, batch_size=4, verbose=0, callbacks=[guard],
                  augment=_nan_after(9))                          # epoch 3, batch 2 is NaN
    assert guard.diverged and guard.diverged_epoch == 2 and guard.last_finite_epoch == 1
    assert not all(np.array_equal(a, b) for a, b in zip(start, model.get_weights()))
    model.set_weights([np.full_like(w, np.nan) for w in start])
    assert guard.restore() and all(np.isfinite(w).all() for w in model.get_weights())


# -- item 1: never a label for a number that is not one --------------------------------------
def test_a_nan_model_gives_no_label_and_exit_1(finished, data_dir, tmp_path, capsys):
    model = minicnn.load_model(finished / "model.npz")
    weights = model.get_weights()
    weights[0] = weights[0].copy()
    weights[0].flat[0] = np.nan
    model.set_weights(weights)
    model.save(tmp_path / "nan.npz")
    image = str(next((data_dir / "test").rglob("*.jpeg")))
    assert main(["predict", "--model", str(tmp_path / "nan.npz"), image]) == 1
    out, err = capsys.readouterr()
    assert "NORMAL" not in out and "PNEUMONIA" not in out
    assert image in err and "not a number" in err and "got no label" in err
    results, _ = scoring.predict_images(tmp_path / "nan.npz", [image])
    assert results[0]["label"] is None and results[0]["probability"] is None
    assert main(["evaluate", "--model", str(tmp_path / "nan.npz"), "--data",
                 str(data_dir)]) == 2
    assert "non-finite probabilities" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-1", "1.5", '"0.5"', "null"])
def test_a_threshold_that_is_not_a_probability_is_refused(finished, tmp_path, bad, capsys):
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("model.npz", "config.json"):
        (copy / name).write_bytes((finished / name).read_bytes())
    text = (copy / "config.json").read_text()
    threshold = json.loads(text)["threshold"]
    (copy / "config.json").write_text(text.replace(f'"threshold": {threshold}',
                                                   f'"threshold": {bad}'))
    with pytest.raises(RunFolderError, match="threshold must be a finite number in"):
        runs.load_run(copy)
    assert main(["predict", "--model", str(copy), "x.jpeg"]) == 2
    assert str(copy / "config.json") in capsys.readouterr().err


def test_non_finite_pixels_are_refused_with_the_image_named(finished, tmp_path):
    with pytest.raises(DataError, match="1 non-finite pixel"):
        preprocess_image(np.array([[[np.nan, 0.5, 0.5], [0.1, 0.2, 0.3]]]), SIZE)
    path = tmp_path / "nan.tiff"
    Image.fromarray(np.full((50, 50), np.nan, np.float32), mode="F").save(path)
    results, _ = scoring.predict_images(finished, [path])
    assert results[0]["label"] is None and "outside [0, 1]" in results[0]["error"]
    gray16 = tmp_path / "gray16.png"                       # integers are scaled by their range
    Image.fromarray(np.full((50, 50), 65535, np.uint16)).save(gray16)
    assert np.allclose(preprocess_image(np.full((50, 50, 3), 255, np.uint8), SIZE), 1.0)
    results, _ = scoring.predict_images(finished, [gray16])
    assert results[0]["error"] is None


# -- item 3: bounded memory on hostile files, no hang ------------------------------------------
LIMITED = """
import resource, sys, time
limit = 1536 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from minicnn.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (pytest).
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM"))
print("MEASURED", code, round(time.perf_counter() - start, 2), peak_kb // 1024)
"""


def _limited_predict(model, image, env):
    """(exit code, seconds, peak MB, stderr) of ``minicnn predict`` under a 1.5 GB
    address-space limit."""
    done = subprocess.run([sys.executable, "-c", LIMITED, "predict", "--model", str(model),
                           str(image)], env=env, capture_output=True, text=True, timeout=300)
    line = next(x for x in done.stdout.splitlines() if x.startswith("MEASURED"))
    _, code, seconds, peak = line.split()
    return int(code), float(seconds), int(peak), done.stderr


@pytest.mark.slow
def test_a_10000_px_png_is_refused_quickly_in_bounded_memory(finished, tmp_path, env):
    path = tmp_path / "huge.png"                 # about 100 KB on disk, 100 Mpx decoded
    Image.new("L", (10000, 10000), 128).save(path, optimize=True)
    assert path.stat().st_size < 1_000_000
    code, seconds, peak, err = _limited_predict(finished, path, env)
    assert code == 1 and "Traceback" not in err
    assert str(path) in err and "10000 x 10000 px" in err and "shrink it" in err
    assert seconds < 20 and peak < 1000


def _large_jpeg(path):
    """A 5000 x 5000 RGB JPEG: over REDUCE_ABOVE, under MAX_PIXELS."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (500, 500, 3), dtype=np.uint8)).resize(
        (5000, 5000)).save(path, quality=80)
    return path


def test_a_large_jpeg_is_decoded_at_a_reduced_size(tmp_path, monkeypatch):
    from PIL import JpegImagePlugin
    path = _large_jpeg(tmp_path / "large.jpeg")
    sizes, load = [], JpegImagePlugin.JpegImageFile.load

    def spy(self):
        sizes.append(self.size)
        return load(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy)
    assert minicnn.data.decode_image(path).shape == (2500, 2500, 3)
    assert max(sizes) == (2500, 2500)             # JPEG's draft mode: never decoded whole


@pytest.mark.slow
def test_a_large_but_honest_jpeg_is_predicted_in_bounded_memory(finished, tmp_path, env):
    path = _large_jpeg(tmp_path / "large.jpeg")
    code, seconds, peak, err = _limited_predict(finished, path, env)
    assert code == 0, err
    assert peak < 1000


def test_image_size_is_capped_with_a_clear_message(data_dir, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", str(data_dir), "--image-size", "3000"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "[38, 300], got 3000" in err and "memory" in err
    assert len(err.strip().splitlines()) == 1


def test_a_fifo_in_the_data_folder_is_skipped_with_a_warning(data_dir, tmp_path, env):
    folder = tmp_path / "chest_xray"
    for kind in ("NORMAL", "PNEUMONIA"):
        (folder / kind).mkdir(parents=True)
        for image in sorted((data_dir / "test" / kind).glob("*.jpeg"))[:2]:
            (folder / kind / image.name).write_bytes(image.read_bytes())
    os.mkfifo(folder / "NORMAL" / "blocked.jpeg")
    code = ("import warnings, sys\nfrom minicnn.data import load_image_folder\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            f"    ds = load_image_folder({str(folder)!r}, 40, use_cache=False, progress=False)\n"
            "print(len(ds), [str(x.message) for x in w])")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("4 ") and "blocked.jpeg" in done.stdout
    assert "not a regular file" in done.stdout


def test_a_file_name_that_is_not_utf8_is_skipped_and_named(data_dir, tmp_path):
    folder = tmp_path / "chest_xray"
    for kind in ("NORMAL", "PNEUMONIA"):
        (folder / kind).mkdir(parents=True)
        image = next((data_dir / "test" / kind).glob("*.jpeg"))
        (folder / kind / image.name).write_bytes(image.read_bytes())
    bad = os.path.join(os.fsencode(folder / "NORMAL"), b"caf\xe9.jpeg")
    with open(bad, "wb") as f:
        f.write(b"x")
    with pytest.warns(UserWarning, match=r"caf\\udce9.jpeg.*not valid UTF-8"):
        ds = load_image_folder(folder, SIZE, use_cache=False, progress=False)
    assert len(ds) == 2


# -- item 5: clear errors at the command line ------------------------------------------------
def test_messages_name_the_culprit(finished, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    assert main(["train", "--data", str(tmp_path / "file.txt")]) == 2
    assert "is a file" in capsys.readouterr().err
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "model.npz").write_bytes((finished / "model.npz").read_bytes())
    (cut / "config.json").write_text((finished / "config.json").read_text()[:200])
    assert main(["predict", "--model", str(cut), "x.jpeg"]) == 2
    err = capsys.readouterr().err
    assert str(cut / "config.json") in err and "not valid JSON" in err
    (cut / "config.json").write_text("[1, 2]")
    assert main(["evaluate", "--model", str(cut)]) == 2
    assert "expected an object" in capsys.readouterr().err


def test_os_errors_end_in_two_lines_and_debug_shows_the_traceback(finished, data_dir,
                                                                  tmp_path, capsys,
                                                                  monkeypatch):
    (tmp_path / "a-file").write_text("x")
    argv = ["train", "--data", str(data_dir), "--image-size", str(SIZE),
            "--out", str(tmp_path / "a-file" / "run")]
    assert main(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and str(tmp_path / "a-file") in lines[0]
    assert "check the path" in lines[1]
    with pytest.raises(OSError):
        main(["--debug", *argv])
    monkeypatch.setenv("MINICNN_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        main(["predict", "--model", str(tmp_path / "none"), "x.jpeg"])


def test_bench_refuses_repeats_below_one(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--repeats", "0"])
    assert exc.value.code == 2 and "--repeats" in capsys.readouterr().err


def test_json_files_hold_null_for_numbers_that_are_not_numbers(tmp_path):
    run = runs.claim(tmp_path / "run")
    run.write_json("x.json", {"a": [float("nan"), np.float32("inf"), 1.5], "b": np.int64(2),
                              "c": np.array([np.nan, 0.5])})
    assert json.loads(run.file("x.json").read_text()) == {"a": [None, None, 1.5], "b": 2,
                                                          "c": [None, 0.5]}


def test_every_run_file_is_json_or_csv_that_reads_back(finished):
    config = runs.read_config(finished)
    assert config["status"] == "done" and config["reason"] is None
    assert math.isfinite(config["threshold"]) and runs.run_status(finished) == ("done", None)
    history = runs.read_history(finished / runs.HISTORY)
    assert len(history) == 1 and history[0]["epoch"] == 1
