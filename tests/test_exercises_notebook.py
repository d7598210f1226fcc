"""Exercises in a notebook: check(name, function) prints the verdict and returns True or
False; `minicnn exercises start DIR --notebook` writes exercises.ipynb, each function's cell
then its check cell in the course's order, and the notebook runs."""
import argparse
import inspect

import pytest

from minicnn import exercises
from minicnn.exercises import catalog, solutions

nbformat = pytest.importorskip("nbformat")


def cli(*argv):
    parser = exercises.add_arguments(argparse.ArgumentParser(prog="minicnn exercises"))
    return exercises.run(parser.parse_args([str(a) for a in argv]))


def test_check_prints_and_returns_the_verdict(capsys):
    assert exercises.check("relu_forward", solutions.relu_forward) is True
    assert exercises.check("relu_forward", lambda x: abs(x), lang="es") is False
    out = capsys.readouterr().out
    assert "PASS  relu_forward" in out and "MAL   relu_forward" in out
    assert "pista: y: abs(x) no es max(0, x)" in out
    with pytest.raises(ValueError, match="unknown exercise"):
        exercises.check("relu", solutions.relu_forward)


def test_check_of_small_cnn_takes_every_function():
    broken = dict(vars(solutions), relu_forward=lambda x: x)
    assert exercises.check("small_cnn", broken) is False      # TODO: relu_forward fails


def write_notebook(folder, lang="en"):
    assert cli("start", folder, "--notebook", "--lang", lang) == 0
    notebook = nbformat.read(folder / catalog.NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    return notebook


def test_the_notebook_has_a_cell_and_a_check_cell_per_function_in_order(tmp_path):
    cells = [c.source for c in write_notebook(tmp_path).cells if c.cell_type == "code"]
    assert cells[0].startswith("import numpy as np")
    pairs = cells[1:-1]
    assert len(pairs) == 2 * len(catalog.EXERCISES)
    for k, ex in enumerate(catalog.EXERCISES):
        assert pairs[2 * k].startswith(f"def {ex.signature}:")
        assert pairs[2 * k + 1] == f'check("{ex.name}", {ex.name})'
    assert cells[-1] == f'check("{catalog.TRAINING}", globals())'


def test_the_spanish_notebook_checks_in_spanish(tmp_path):
    notebook = write_notebook(tmp_path, "es")
    assert "Ejercicios de minicnn" in notebook.cells[0].source
    assert 'check("relu_forward", relu_forward, lang="es")' in [c.source for c in
                                                                 notebook.cells]


def test_the_notebook_runs_and_its_check_cells_grade(tmp_path):
    """Executed with the model answer pasted into relu_forward's cell: PASS there, TODO
    for the stubs, and no cell raises."""
    nbclient = pytest.importorskip("nbclient")
    notebook = write_notebook(tmp_path)
    (cell,) = [c for c in notebook.cells if c.source.startswith("def relu_forward(")]
    cell.source = inspect.getsource(solutions.relu_forward)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = {c.source: "".join(o.get("text", "") for o in c.get("outputs", []))
               for c in notebook.cells if c.cell_type == "code"}
    assert outputs['check("relu_forward", relu_forward)'].startswith("PASS  relu_forward")
    assert outputs['check("relu_backward", relu_backward)'].startswith("TODO  relu_backward")
    assert "TODO  small_cnn" in outputs['check("small_cnn", globals())']
