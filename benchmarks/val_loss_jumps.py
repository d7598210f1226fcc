"""The validation loss's epoch-to-epoch jumps of finished or running runs, from their
history.csv (no test number is read): per run, the validation losses and the worst rise
after epoch 3 over the running minimum (:func:`minicnn.sweep_results.loss_jumps`; the target
of issue 29 is at most 2).

    python benchmarks/val_loss_jumps.py RUN_OR_SWEEP_FOLDER [...]

A sweep folder (with sweep.json) stands for every run folder under its runs/.
"""
import sys
from pathlib import Path

from minicnn import runs
from minicnn.sweep_results import JUMP_LIMIT, SWEEP, loss_jumps


def run_folders(paths):
    """The run folders named, a sweep folder's runs/ expanded, in order."""
    for path in map(Path, paths):
        if (path / SWEEP).is_file():
            yield from sorted(p for p in (path / "runs").iterdir() if p.is_dir())
        else:
            yield path


def line(run_dir):
    """One line: the run, its worst jump (epoch) and its validation losses."""
    rows = runs.read_history(Path(run_dir) / runs.HISTORY)
    if not rows:
        return f"{run_dir}: no history.csv yet"
    losses = [row.get("val_loss") for row in rows]
    jumps = loss_jumps(losses)
    worst = ("-" if jumps["worst"] is None else
             f"{jumps['worst']:.2f} at epoch {jumps['epoch']}, {jumps['over']} over "
             f"{JUMP_LIMIT:g}")
    curve = " ".join("nan" if v is None else f"{v:.3f}" for v in losses)
    return f"{Path(run_dir).name}: worst jump {worst}; val_loss {curve}"


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for folder in run_folders(sys.argv[1:]):
        print(line(folder))
