"""Sweeps on a real ``distributed`` scheduler, as a Dask user runs them: no run lost between
two sweeps on one scheduler, every task's result checked against its folder, the usual ways
to connect (Client, Cluster, address, scheduler file, DASK_SCHEDULER_ADDRESS), errors that
name the address, the runs' progress as Dask events, plain-line logs, and minicnn's process
settings applied only for the time of a task."""
import contextlib
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from minicnn import logs, runs, sweep
from minicnn.cli import main
from minicnn.validation import SettingError

from folders import cluster_environ, make_chest_xray

distributed = pytest.importorskip("distributed")

GRID = {"image_size": [40], "epochs": [1], "batch_size": [8]}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from cluster_environ(tmp_path_factory)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, env):
    return make_chest_xray(tmp_path_factory.mktemp("fixture") / "chest_xray")


@pytest.fixture(scope="module")
def cluster(env):
    """A scheduler and two single-task worker processes, as `dask scheduler` and
    `dask worker --nthreads 1` would give."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        yield local


def _wait_for(path, seconds=600):
    """Wait until ``path`` exists: a fresh worker imports minicnn and Numba's cache first, which
    took over 120 s on a machine loaded by two training runs; a pass takes seconds."""
    end = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)


def _finished(out):
    """{run folder name: status} of a sweep folder's runs."""
    return {p.name: runs.read_config(p)["status"] for p in sorted((out / "runs").iterdir())}


@pytest.mark.slow
def test_two_sweeps_on_one_scheduler_into_two_folders_both_complete(tmp_path, data_dir,
                                                                     cluster):
    first, second = tmp_path / "first", tmp_path / "second"
    results = {}

    def sweep_into(out):
        results[out] = sweep.run_sweep("quick", GRID, [0], out, data=str(data_dir),
                                       client=cluster.scheduler_address)

    thread = threading.Thread(target=sweep_into, args=(first,))
    thread.start()
    (name,) = [Path(t.run_dir).name for t in sweep.plan("quick", GRID, [0], first)]
    _wait_for(first / "runs" / name / "config.json")      # the first sweep's run is training
    sweep_into(second)                                     # the same run, another folder
    thread.join()
    for out in (first, second):
        assert results[out]["done"] == {name: "trained"}
        assert _finished(out) == {name: "done"}


@pytest.mark.slow
def test_a_finished_runs_result_is_released_while_the_others_train(tmp_path, data_dir, env):
    out = tmp_path / "s"
    first, second = sweep.plan("quick", GRID, [0, 1], out, str(data_dir.resolve()))  # as run
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local, \
            distributed.Client(local) as client:
        thread = threading.Thread(target=sweep.run_sweep, args=("quick", GRID, [0, 1], out),
                                  kwargs={"data": str(data_dir), "client": client})
        thread.start()
        _wait_for(Path(first.run_dir) / "config.json")
        _wait_for(Path(second.run_dir) / "config.json")    # one worker: one run is done
        held = client.run_on_scheduler(lambda dask_scheduler: [
            str(key) for key, ts in dask_scheduler.tasks.items() if ts.state == "memory"])
        training = [t for t in (first, second)
                    if runs.read_config(Path(t.run_dir))["status"] == "running"]
        thread.join()
    assert len(training) == 1                              # the other one was done
    (done,) = [t for t in (first, second) if t is not training[0]]
    assert sweep.task_key(done) not in held, held


@pytest.mark.slow
def test_a_run_is_handed_to_dask_only_when_a_worker_thread_is_free(tmp_path, data_dir,
                                                                   cluster):
    # Another client's task holds one of the two worker threads. Dask would place one of the
    # sweep's two runs behind it at once (three tasks, two threads), to wait there while the
    # other worker idles; the sweep hands over a run only when a thread is free.
    out = tmp_path / "s"
    with distributed.Client(cluster.scheduler_address) as other:
        release = distributed.Event("release-the-blocker", client=other)
        blocker = other.submit(release.wait, 120, pure=False)
        end = time.monotonic() + 60
        while not any(other.processing().values()):
            assert time.monotonic() < end, "the blocking task never started"
            time.sleep(0.02)
        results = {}
        thread = threading.Thread(target=lambda: results.update(sweep.run_sweep(
            "quick", GRID, [0, 1], out, data=str(data_dir), client=cluster.scheduler_address)))
        thread.start()
        most = 0
        while thread.is_alive():
            most = max(most, *map(len, other.processing().values()))
            time.sleep(0.02)
        thread.join()
        release.set()
        assert blocker.result() is True
    assert most == 1
    assert set(results["done"].values()) == {"trained"} and len(results["done"]) == 2
    assert set(_finished(out).values()) == {"done"}


ARGS = ["sweep", "--seeds", "0", "--set", "image_size=40", "--set", "epochs=1",
        "--set", "batch_size=8"]


def test_a_task_that_writes_nothing_fails_the_sweep(tmp_path, data_dir, monkeypatch, capsys):
    # a worker thread of this process, so that the task can be replaced here
    monkeypatch.setattr(sweep, "_run_task", lambda task, command: (task.run_dir, "trained"))
    out = tmp_path / "s"
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as local:
        code = main([*ARGS, "--data", str(data_dir), "--out", str(out),
                     "--scheduler", local.scheduler_address])
    captured = capsys.readouterr()
    (name,) = [Path(t.run_dir).name for t in sweep.plan("quick", GRID, [0], out)]
    assert code == 1
    assert f"1 of 1 runs did not finish: {name}" in captured.err
    assert "holds no finished run" in captured.err
    summary = (out / "summary.md").read_text()
    assert "No run has finished yet" in summary and "validation-only" not in summary


def test_the_task_key_shows_setting_and_seed_and_depends_on_folder_and_settings(tmp_path):
    from dask.utils import key_split
    grid = {"augment": [True, False], "image_size": [40]}
    a = sweep.plan("quick", grid, [0, 1], tmp_path / "a")
    b = sweep.plan("quick", grid, [0, 1], tmp_path / "b")
    keys = [sweep.task_key(t) for t in a + b]
    assert len(set(keys)) == 8                       # no two tasks share a key
    assert keys[0].startswith("quick_augment=true_image_size=40-seed0-")
    assert key_split(keys[0]) == "quick_augment=true_image_size=40"  # the dashboard's group
    assert key_split(keys[2]) == "quick_augment=false_image_size=40"


def test_a_run_log_is_plain_lines_and_epoch_lines_become_events():
    import io

    from tqdm import tqdm
    file, sent = io.StringIO(), []
    log = sweep._RunLog(file, sent.append)
    for _ in tqdm(range(3), desc="decoding images", file=log, mininterval=0):
        pass
    bar = tqdm(range(4), desc="Epoch 1/2", file=log, leave=False, mininterval=0)
    for _ in bar:
        pass
    print("Epoch 1/2: loss 0.6931, accuracy 0.5000", file=log)
    print("half a line", end="", file=log)
    print(" and its end\r", file=log)
    lines = file.getvalue().splitlines()
    assert "\r" not in file.getvalue()
    assert lines[0].startswith("decoding images: 100%") and "3/3" in lines[0]
    assert lines[1:] == ["Epoch 1/2: loss 0.6931, accuracy 0.5000", "half a line and its end"]
    assert sent == ["Epoch 1/2: loss 0.6931, accuracy 0.5000"]


def test_a_task_limits_numba_threads_for_its_own_time_and_no_process_setting(monkeypatch):
    import numba
    from threadpoolctl import threadpool_info, threadpool_limits

    from minicnn import runtime

    def blas():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    monkeypatch.setattr(runtime, "_thresholds", lambda size: pytest.fail("glibc's changed"))
    with threadpool_limits(limits=2, user_api="blas"):
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        before = (blas(), numba.get_num_threads())
        with sweep._numba_threads(1):
            assert numba.get_num_threads() == 1
            assert blas() == before[0]                     # BLAS: only inside a model's call
            with runtime.own_work():
                assert blas() == {1}
        assert (blas(), numba.get_num_threads()) == before


def test_the_local_cluster_serves_its_dashboard(env):
    pytest.importorskip("bokeh")
    import urllib.request
    with sweep._local_cluster(1, 1) as local:
        port = local.scheduler.http_server.port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=30) as page:
            assert page.status == 200 and b"bokeh" in page.read().lower()


# -- connecting -------------------------------------------------------------------------------
@pytest.fixture
def no_local_cluster(monkeypatch):
    monkeypatch.setattr(sweep, "_local_cluster",
                        lambda *a: pytest.fail("a LocalCluster was started"))


@pytest.fixture
def quick_timeout():
    dask = pytest.importorskip("dask")
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        yield


@pytest.mark.parametrize("flag", ["--scheduler", "--scheduler-file"])
def test_workers_with_a_scheduler_are_refused(tmp_path, data_dir, flag, capsys):
    out = tmp_path / "s"
    code = main([*ARGS, "--data", str(data_dir), "--out", str(out), flag, "somewhere",
                 "--workers", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "drop --workers" in err[0], err
    assert not out.exists()


def test_workers_with_a_configured_scheduler_are_refused(tmp_path, data_dir, no_local_cluster):
    import dask
    with dask.config.set({"scheduler-address": "tcp://127.0.0.1:1"}), \
            pytest.raises(SettingError, match="DASK_SCHEDULER_ADDRESS.*drop --workers"):
        sweep.run_sweep("quick", GRID, [0], tmp_path / "s", data=str(data_dir), workers=2)


@contextlib.contextmanager
def http_server():
    """A port that answers every connection the way an HTTP server answers bytes it cannot
    read (the dashboard's port, a web server): ``400 Bad Request``."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                with conn:
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()


def _closed_port():
    with socket.create_server(("127.0.0.1", 0)) as s:
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def test_a_scheduler_address_that_speaks_http_is_named(tmp_path, data_dir, capsys,
                                                       quick_timeout):
    with http_server() as address:
        code = main([*ARGS, "--data", str(data_dir), "--out", str(tmp_path / "s"),
                     "--scheduler", address])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert address in err[0] and "not in Dask's protocol" in err[0], err
    assert "memory" not in err[0] and "batch-size" not in err[0]


def test_an_unreachable_scheduler_is_named(tmp_path, data_dir, capsys, quick_timeout):
    address = _closed_port()
    code = main([*ARGS, "--data", str(data_dir), "--out", str(tmp_path / "s"),
                 "--scheduler", address])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert f"cannot reach a Dask scheduler at {address}" in err[0]
    assert "the path and the disk" not in err[0]


def test_a_scheduler_file_without_an_address_is_named(tmp_path, data_dir, capsys,
                                                      quick_timeout):
    for content in (None, "{}", "not json"):
        file = tmp_path / "scheduler.json"
        file.unlink(missing_ok=True)
        if content is not None:
            file.write_text(content)
        code = main([*ARGS, "--data", str(data_dir), "--out", str(tmp_path / "s"),
                     "--scheduler-file", str(file)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1, err
        assert f"--scheduler-file {file}: no scheduler address" in err[0], err


@pytest.mark.slow
def test_a_client_a_cluster_a_scheduler_file_and_the_dask_config_all_connect(
        tmp_path, data_dir, cluster, no_local_cluster, capsys):
    import dask
    client = distributed.Client(cluster)
    file = tmp_path / "scheduler.json"
    file.write_text(json.dumps({"address": cluster.scheduler_address}))
    ways = {"client": {"client": client}, "cluster": {"client": cluster},
            "file": {"scheduler_file": str(file)}, "config": {}}
    with dask.config.set({"scheduler-address": cluster.scheduler_address}):
        for way, kwargs in ways.items():
            out = tmp_path / way
            with logs.to_stderr():                  # as the command shows progress
                result = sweep.run_sweep("quick", GRID, [0], out, data=str(data_dir), **kwargs)
            assert list(result["done"].values()) == ["trained"], way
            assert list(_finished(out).values()) == ["done"], way
            printed = capsys.readouterr().err
            (name,) = result["done"]
            assert f"  {name}: Epoch 1/1: loss" in printed, way      # the run's epochs
            log = (out / "logs" / f"{name}.log").read_text()
            assert "\r" not in log and "Epoch 1/1: loss" in log
    assert client.status == "running"        # a Client given is the caller's: left open
    assert client.submit(sum, [1, 2]).result() == 3
    client.close()
