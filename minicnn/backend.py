"""Which kernel tier the layers use: "naive" (loops to read), "numpy" (vectorised), "numba" (JIT).

All three tiers compute the same numbers (tests hold them to 1e-10 in float64); they differ in
speed and in how close the code stays to the equations of the thesis.
"""
BACKENDS = ("naive", "numpy", "numba")
_current = "numba"


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
