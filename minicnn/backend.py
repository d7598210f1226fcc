"""Which kernel tier the layers use: "naive" (loops to read), "numpy" (vectorised), "numba" (JIT).

All three tiers compute the same numbers (tests hold them to 1e-10 in float64); they differ in
speed and in how close the code stays to the equations of the thesis. The default is "numba",
or the environment variable ``MINICNN_BACKEND`` when set.
"""
import os

BACKENDS = ("naive", "numpy", "numba")


def set_backend(name):
    """Select the kernel tier used by every layer from now on."""
    global _current
    _current = resolve(name)


def get_backend():
    """The name of the kernel tier in use."""
    return _current


def resolve(name=None):
    """``name`` checked against :data:`BACKENDS`, or the current tier when ``None``."""
    if name is None:
        return _current
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {BACKENDS}")
    return name


class using:
    """Context manager that switches the tier for a block and restores the previous one::

        with minicnn.backend.using("naive"):
            y = layer.forward(x)
    """

    def __init__(self, name):
        self.name = resolve(name)

    def __enter__(self):
        self.previous = get_backend()
        set_backend(self.name)
        return self.name

    def __exit__(self, *exc):
        set_backend(self.previous)


_current = resolve(os.environ.get("MINICNN_BACKEND") or "numba")
