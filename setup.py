"""The one build step pyproject.toml cannot say: the example scripts (kept in the
repository's top-level examples/ folder) are copied into the wheel as minicnn/examples/, so
that ``minicnn notebooks DIR`` works from an installed package (minicnn/notebooks.py)."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

EXAMPLES = Path(__file__).resolve().parent / "examples"


class BuildPyWithExamples(build_py):
    """build_py, then examples/NN_*.py and examples/README.md into <build>/minicnn/examples."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "minicnn" / "examples"
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(EXAMPLES.glob("[0-9][0-9]_*.py")) + [EXAMPLES / "README.md"]:
            shutil.copyfile(path, target / path.name)


setup(cmdclass={"build_py": BuildPyWithExamples})
