"""The thesis CNN in minicnn, Keras and PyTorch side by side: ``minicnn bench`` as a script.

    python benchmarks/thesis_cnn.py --markdown docs/benchmarks.md
    python benchmarks/thesis_cnn.py --unset-openblas --markdown docs/benchmarks.md

Options and what is measured: ``python benchmarks/thesis_cnn.py --help`` and minicnn/bench.py.
"""
import sys

from minicnn.bench import main

if __name__ == "__main__":
    sys.exit(main())
