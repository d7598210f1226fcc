"""minicnn: a from-scratch CNN in NumPy and Numba that reproduces a Keras pneumonia classifier."""
from .backend import get_backend, set_backend

__version__ = "0.1.0"
__all__ = ["get_backend", "set_backend", "__version__"]
