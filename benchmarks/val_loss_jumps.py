"""The validation loss's epoch-to-epoch jumps of finished or running runs, from their
history.csv (no test number is read): per run, the validation losses and the worst rise
after epoch 3 over the running minimum (:func:`minicnn.sweep_results.loss_jumps`; the target
of issue 29 is at most 2).

    python benchmarks/val_loss_jumps.py RUN_OR_SWEEP_FOLDER [...] [--plot FILE.png]

A sweep folder (with sweep.json) stands for every run folder under its runs/. ``--plot``
draws the curves: one panel per seed, one line per setting (the run folder's name without
its ``-seedK``), the epoch early stopping kept marked, the loss on a log scale.
"""
import argparse
import re
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


def plot(folders, path):
    """The validation-loss curves of ``folders``, a panel per seed, a line per setting."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    curves = {}                                   # seed -> [(setting, losses, kept epoch)]
    for run_dir in folders:
        match = re.fullmatch(r"(.*)-seed(\d+)", Path(run_dir).name)
        rows = runs.read_history(Path(run_dir) / runs.HISTORY)
        if match and rows:
            metrics = runs.read_json(Path(run_dir) / runs.METRICS, required=False) or {}
            curves.setdefault(int(match[2]), []).append(
                (match[1], [row.get("val_loss") for row in rows], metrics.get("kept_epoch")))
    seeds = sorted(curves)
    settings = list(dict.fromkeys(s for seed in seeds for s, _, _ in curves[seed]))
    color = dict(zip(settings, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3))
    columns = min(len(seeds), 3)
    rows = -(-len(seeds) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows + 0.5),
                             sharey=True, squeeze=False)
    for ax in axes.flat[len(seeds):]:
        ax.set_visible(False)
    for ax, seed in zip(axes.flat, seeds):
        for setting, losses, kept in curves[seed]:
            ax.plot(range(1, len(losses) + 1), losses, marker=".", color=color[setting],
                    label=setting)
            if kept:
                ax.plot([kept], [losses[kept - 1]], "o", mfc="none", ms=10, color=color[setting])
        ax.set(title=f"seed {seed}", xlabel="epoch", yscale="log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes[:, 0]:
        ax.set_ylabel("validation loss\n(circle: kept epoch)")
    handles = {h.get_label(): h for ax in axes.flat for h in ax.get_lines()
               if not h.get_label().startswith("_")}
    fig.legend([handles[s] for s in settings], settings, loc="lower center",
               ncol=min(len(settings), 6), fontsize="small", frameon=False)
    fig.tight_layout(rect=(0, 0.45 / (3.4 * rows + 0.5), 1, 1))
    fig.savefig(path, dpi=110)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", metavar="RUN_OR_SWEEP_FOLDER")
    parser.add_argument("--plot", metavar="FILE.png", help="also draw the curves")
    args = parser.parse_args()
    folders = list(run_folders(args.folders))
    for folder in folders:
        print(line(folder))
    if args.plot:
        print("written:", plot(folders, args.plot))
