"""How a sweep runs on SLURM (docs/sweeps.md): the job script dask-jobqueue's SLURMCluster
writes for minicnn.sweep.slurm_cluster, and the sbatch script the docs give."""
import re
import shlex
from pathlib import Path

import pytest

from minicnn import sweep
from minicnn.cli import build_parser

DOCS = Path(__file__).resolve().parents[1] / "docs" / "sweeps.md"


def test_each_slurm_job_is_one_single_task_worker_with_its_threads():
    pytest.importorskip("dask_jobqueue")
    assert "slurm_cluster(threads=2, memory=\"8GB\"" in DOCS.read_text()
    # the scheduler listens on this machine only: no test traffic leaves it
    cluster = sweep.slurm_cluster(threads=2, memory="8GB", walltime="02:00:00",
                                  account="myproject",
                                  scheduler_options={"host": "127.0.0.1"})
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH --cpus-per-task=2" in script and "#SBATCH -A myproject" in script
    assert "#SBATCH --mem=8G" in script and "#SBATCH -t 02:00:00" in script
    worker = next(line for line in script.splitlines() if "dask_worker" in line)
    assert "--nthreads 1" in worker and "--nanny" in worker       # one run at a time
    exports = next(line for line in script.splitlines() if line.startswith("export "))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        assert f"{name}=2" in exports
    assert script.index(exports) < script.index(worker)


def test_the_sbatch_script_starts_a_scheduler_its_workers_and_the_sweep():
    text = DOCS.read_text()
    (script,) = re.findall(r"```bash\n(#!/bin/bash\n#SBATCH.*?)```", text, re.S)
    lines = script.replace("\\\n", " ").splitlines()        # continuation lines joined
    scheduler = next(i for i, line in enumerate(lines) if line.startswith("dask scheduler"))
    workers = next(i for i, line in enumerate(lines) if "dask worker" in line)
    run = next(i for i, line in enumerate(lines) if line.startswith("minicnn sweep"))
    assert scheduler < workers < run
    assert "--scheduler-file" in lines[scheduler] and lines[scheduler].endswith("&")
    assert lines[workers].startswith("srun") and "--scheduler-file" in lines[workers]
    assert "--nthreads 1" in lines[workers] and lines[workers].endswith("&")
    args = build_parser().parse_args(shlex.split(lines[run])[1:])   # a valid sweep command
    assert args.scheduler_file == "$SCHEDULER_FILE" and args.workers is None
