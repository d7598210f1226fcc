"""An installed wheel is enough for `minicnn notebooks DIR`: the example scripts, kept in the
repository's top-level examples/ folder, ship inside the package (setup.py's build step).

The wheel is built with the running interpreter's setuptools (no build isolation, so no
download) and installed without dependencies into a fresh virtual environment, which
borrows this environment's packages (numpy, jupytext, ...) through a .pth file placed after
its own site-packages; the command then runs from an unrelated folder.
"""
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from minicnn import notebooks

from conftest import ROOT

pytestmark = pytest.mark.slow
SOURCES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "minicnn", "examples"]
SKIP = shutil.ignore_patterns("__pycache__", "figures", "*.egg-info")


def run(command, **kwargs):
    proc = subprocess.run([str(c) for c in command], capture_output=True, text=True,
                          timeout=600, **kwargs)
    assert proc.returncode == 0, f"{command}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel, built from a clean copy of the sources (no stale build/ folder)."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"ignore": SKIP} if copy is shutil.copytree else {}))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "-w", out, source])
    (path,) = out.glob("minicnn-*.whl")
    return path


def test_the_wheel_carries_the_examples(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"minicnn/examples/{p.name}" for p in notebooks.example_scripts(ROOT / "examples")}
    assert len(expected) >= 12 and expected <= names, sorted(expected - names)
    assert "minicnn/examples/README.md" in names


def test_notebooks_command_from_an_installed_wheel(wheel, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MINICNN_DATA")}
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], env=env)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet",
         wheel], env=env)
    own = Path(run([python, "-c", "import site; print(site.getsitepackages()[0])"],
                   env=env).stdout.strip())
    (own / "zz_borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run([python, "-c", "import minicnn; print(minicnn.__file__)"], cwd=elsewhere, env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout
    proc = run([venv / "bin" / "minicnn", "notebooks", "nb"], cwd=elsewhere, env=env)
    written = sorted(p.stem for p in (elsewhere / "nb").glob("*.ipynb"))
    assert written == [p.stem for p in notebooks.example_scripts(ROOT / "examples")], proc.stdout
