"""Every example runs as a Jupyter notebook: converted by jupytext (as `minicnn notebooks`
does) and executed by nbclient in an IPython kernel, in quick mode.

Needs the ``notebooks`` extra (jupytext, nbclient, ipykernel, ipywidgets); skipped without
it. Examples 06-08 and 12 need the X-ray data set and 09 TensorFlow; without them they print
so and stop, which still executes (nbclient stops at that SystemExit, and the test accepts it).

One kernel runs all the notebooks in turn, as a student running them one after another
would: each example defines everything it uses, and the kernel's start and the imports are
paid once (this keeps the test at about the examples' own quick-mode time).
"""
import argparse
import base64
import importlib.util
import os
from pathlib import Path

import pytest

from conftest import real_data_dir
from minicnn import notebooks

MISSING = [m for m in ("jupytext", "nbclient", "ipykernel", "ipywidgets")
           if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"not installed: {MISSING}")
SCRIPTS = notebooks.example_scripts()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_env(tmp_path_factory):
    """Quick mode, figures and the image cache in a temporary folder, for the kernels."""
    keep = dict(os.environ)
    data = real_data_dir()
    os.environ.update(MINICNN_QUICK="1", MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2",
                      MINICNN_FIGURES=str(tmp_path_factory.mktemp("figures")),
                      MINICNN_CACHE=str(tmp_path_factory.mktemp("cache")))
    if data:
        os.environ["MINICNN_DATA"] = str(Path(data).resolve())
    yield
    os.environ.clear()
    os.environ.update(keep)


@pytest.fixture(scope="module")
def kernel(quick_env):
    """One IPython kernel for the module, started in the repository's root."""
    from jupyter_client.manager import KernelManager
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(notebooks.EXAMPLES.parent))
    yield km
    km.shutdown_kernel(now=True)


def execute(notebook, kernel):
    """Run every cell in order, stopping at the first error; an example that stops itself
    (sys.exit(0): no data set, no TensorFlow) counts as run."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    try:
        NotebookClient(notebook, km=kernel, timeout=300).execute()
    except CellExecutionError as exc:
        if (exc.ename, exc.evalue) != ("SystemExit", "0"):
            raise


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_executes_as_a_notebook(script, kernel):
    notebook = notebooks.to_notebook(script)
    assert sum(c.cell_type == "markdown" for c in notebook.cells) >= 2
    execute(notebook, kernel)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any(o.get("output_type") == "stream" for o in outputs)
    shown = [o["data"] for o in outputs if o.get("output_type") == "execute_result"]
    as_text = [d["text/plain"] for d in shown
               if d.get("text/plain", "").startswith("<Figure") and "image/png" not in d]
    assert not as_text, f"figures shown as text, not drawn: {as_text}"
    errors = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert "IProgress not found" not in errors, errors[-2000:]


def test_a_figure_is_drawn_inline(kernel):
    """A cell that ends with a figure shows it as a PNG image in the executed notebook."""
    notebook = notebooks.to_notebook(SCRIPTS[0])
    execute(notebook, kernel)
    images = [o["data"]["image/png"] for c in notebook.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images and all(base64.b64decode(png)[:8] == PNG_MAGIC for png in images)


def test_a_failing_cell_fails_the_test(kernel):
    """The check itself: an error in a cell is not swallowed, a clean sys.exit(0) is."""
    from nbclient.exceptions import CellExecutionError
    import nbformat
    cells = [nbformat.v4.new_code_cell("print('before')"), nbformat.v4.new_code_cell("1 / 0")]
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        execute(nbformat.v4.new_notebook(cells=cells), kernel)
    cells[1] = nbformat.v4.new_code_cell("import sys\nsys.exit(0)")
    cells.append(nbformat.v4.new_code_cell("never_defined"))
    execute(nbformat.v4.new_notebook(cells=cells), kernel)


def test_notebooks_command_writes_one_ipynb_per_example(tmp_path, capsys):
    parser = notebooks.add_arguments(argparse.ArgumentParser())
    assert notebooks.run(parser.parse_args(["--out", str(tmp_path)])) == 0
    assert sorted(p.stem for p in tmp_path.glob("*.ipynb")) == [s.stem for s in SCRIPTS]
    assert "jupyter lab" in capsys.readouterr().out
    elsewhere = ["--out", str(tmp_path), "--examples", str(tmp_path)]
    assert notebooks.run(parser.parse_args(elsewhere)) == 1
