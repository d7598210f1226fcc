"""``minicnn notebooks --out DIR``: the examples as Jupyter notebooks (.ipynb), by jupytext.

The examples are plain Python scripts in jupytext's "percent" format (``# %%`` cells), so
they run as scripts and convert to notebooks without losing anything. Needs the
``notebooks`` extra: ``pip install -e '.[notebooks]'`` (jupytext, JupyterLab, ipywidgets for
the progress bars). Open the result with ``jupyter lab DIR``.

The command line is wired in by minicnn.cli through :func:`add_arguments` and :func:`run`.
"""
import sys
from pathlib import Path

from .arguments import old_spelling

SCRIPT_NAMES = "[0-9][0-9]_*.py"
_PACKAGE = Path(__file__).resolve().parent
# The examples: a copy inside the package in an installed wheel (setup.py puts it there),
# else the checkout's top-level examples/ folder.
EXAMPLES = next((folder for folder in (_PACKAGE / "examples", _PACKAGE.parent / "examples")
                 if any(folder.glob(SCRIPT_NAMES))), _PACKAGE.parent / "examples")


def example_scripts(folder=EXAMPLES):
    """The numbered example scripts, in order."""
    return sorted(Path(folder).glob(SCRIPT_NAMES))


# The examples draw with matplotlib's Figure objects (no pyplot), so nothing would register
# IPython's PNG display of a Figure: a cell ending in ``fig`` would show "<Figure size ...>".
# The inline backend does it, whatever MPLBACKEND says; a script never sees this line.
INLINE_FIGURES = "%matplotlib inline"


def to_notebook(script):
    """The notebook (nbformat object) of one percent-format script, its figures shown inline
    (``%matplotlib inline`` opens the first code cell)."""
    import jupytext
    notebook = jupytext.read(script, fmt="py:percent")
    first = next((cell for cell in notebook.cells if cell.cell_type == "code"), None)
    if first is not None:
        first.source = f"{INLINE_FIGURES}\n{first.source}"
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return notebook


def write_notebooks(out_dir, examples=EXAMPLES):
    """Write ``<out_dir>/<example>.ipynb`` for every example; returns the paths written."""
    import jupytext
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for script in example_scripts(examples):
        path = out_dir / f"{script.stem}.ipynb"
        jupytext.write(to_notebook(script), path, fmt="ipynb")
        written.append(path)
    return written


def add_arguments(parser):
    """The ``notebooks`` command's arguments on an argparse parser."""
    old_spelling(parser, "DIR", parser.add_argument(
        "--out", required=True, metavar="DIR",
        help="folder for the .ipynb files (created if missing)"))
    parser.add_argument("--examples", default=str(EXAMPLES),
                        help="folder of the example scripts (default: the installed "
                             "package's, or the checkout's examples/)")
    return parser


def run(args):
    """Write the notebooks; returns the exit code."""
    try:
        import jupytext  # noqa: F401
    except ImportError:
        print("minicnn notebooks: jupytext is not installed; pip install -e '.[notebooks]'",
              file=sys.stderr)
        return 1
    if not example_scripts(args.examples):
        print(f"minicnn notebooks: no example scripts in {args.examples} (the examples live "
              "in the repository's examples/ folder)", file=sys.stderr)
        return 1
    written = write_notebooks(args.out, args.examples)
    print(f"wrote {len(written)} notebooks to {args.out}; open them with: jupyter lab {args.out}\n"
          "(they find the X-ray data and write figures as the scripts do: set MINICNN_DATA "
          "if the data folder is not found from where Jupyter runs)")
    return 0
