"""The distributions: the wheel carries the licence and the index's metadata, the source
distribution what the tests read, and an installed wheel is enough for `minicnn --version`
and `minicnn notebooks --out DIR` (the example scripts, kept in the repository's top-level
examples/ folder, ship inside the package: setup.py's build step).

The wheel is built with the running interpreter's setuptools (no build isolation, so no
download) and installed without dependencies into a fresh virtual environment, which
borrows this environment's packages (numpy, jupytext, ...) through a .pth file placed after
its own site-packages; the command then runs from an unrelated folder.
"""
import os
import re
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import minicnn
from minicnn import notebooks

from conftest import ROOT

pytestmark = pytest.mark.slow
SOURCES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "minicnn",
           "examples", "docs", "tests", "benchmarks"]
#: What the tests read, which the source distribution must carry (MANIFEST.in).
READ_BY_TESTS = ["docs/**/*.md", "examples/*.py", "examples/README.md", "tests/**/*.py",
                 "tests/**/*.txt", "LICENSE", "README.md", "pyproject.toml"]
SKIP = shutil.ignore_patterns("__pycache__", "figures", "*.egg-info")


def run(command, **kwargs):
    proc = subprocess.run([str(c) for c in command], capture_output=True, text=True,
                          timeout=600, **kwargs)
    assert proc.returncode == 0, f"{command}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A clean copy of the sources (no stale build/ folder, no caches)."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"ignore": SKIP} if copy is shutil.copytree else {}))
    return source


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory):
    """The wheel, built from the clean copy."""
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "-w", out, source])
    (path,) = out.glob("minicnn_xray-*.whl")
    return path


def test_the_wheel_carries_the_licence_and_metadata(wheel):
    archive = zipfile.ZipFile(wheel)
    info = next(n.split("/")[0] for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    meta = archive.read(f"{info}/METADATA").decode()
    assert "Name: minicnn-xray" in meta and "License-Expression: MIT" in meta, meta[:800]
    assert "Classifier: Intended Audience :: Education" in meta
    assert "pip install minicnn-xray" in meta           # the index's page: docs/pypi.md
    assert not re.findall(r"\]\((?!https?://)", meta)   # no link relative to the repository
    licence = archive.read(f"{info}/licenses/LICENSE").decode()
    assert licence == (ROOT / "LICENSE").read_text()


def test_the_sdist_carries_what_the_tests_read(source, tmp_path):
    run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o", tmp_path, source])
    (sdist,) = tmp_path.glob("minicnn_xray-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    wanted = {str(p.relative_to(source)) for pattern in READ_BY_TESTS
              for p in source.glob(pattern) if "__pycache__" not in p.parts}
    assert len(wanted) > 80 and wanted <= names, sorted(wanted - names)


def test_the_wheel_carries_the_examples(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"minicnn/examples/{p.name}" for p in notebooks.example_scripts(ROOT / "examples")}
    assert len(expected) >= 12 and expected <= names, sorted(expected - names)
    assert "minicnn/examples/README.md" in names
    assert {"minicnn/schemas/metrics.schema.json", "minicnn/schemas/config.schema.json"} <= names


def test_the_wheel_carries_the_explore_pages_assets(wheel):
    """The page's HTML, CSS and JavaScript are package data (pyproject.toml)."""
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"minicnn/explore_assets/page.{ext}" for ext in ("html", "css", "js")} <= names


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
    version = run([venv / "bin" / "minicnn", "--version"], cwd=elsewhere, env=env).stdout
    assert version.split() == ["minicnn", minicnn.__version__], version
    proc = run([venv / "bin" / "minicnn", "notebooks", "--out", "nb"], cwd=elsewhere, env=env)
    written = sorted(p.stem for p in (elsewhere / "nb").glob("*.ipynb"))
    assert written == [p.stem for p in notebooks.example_scripts(ROOT / "examples")], proc.stdout
