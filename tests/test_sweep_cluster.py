"""Sweeps on a real ``distributed`` scheduler shared by several sweeps, as a Dask user runs
them: no run lost between two sweeps, every task's result checked against its folder."""
import threading
import time
from pathlib import Path

import pytest

from minicnn import runs, sweep

from test_cli import make_chest_xray

distributed = pytest.importorskip("distributed")

GRID = {"image_size": [40], "epochs": [1], "batch_size": [8]}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINICNN_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.delenv("MINICNN_DATA", raising=False)
        mp.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
        yield mp


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


def _wait_for(path, seconds=120):
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
                                       scheduler=cluster.scheduler_address)

    thread = threading.Thread(target=sweep_into, args=(first,))
    thread.start()
    (name,) = [Path(t.run_dir).name for t in sweep.plan("quick", GRID, [0], first)]
    _wait_for(first / "runs" / name / "config.json")      # the first sweep's run is training
    sweep_into(second)                                     # the same run, another folder
    thread.join()
    for out in (first, second):
        assert results[out]["done"] == {name: "trained"}
        assert _finished(out) == {name: "done"}
