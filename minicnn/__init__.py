"""minicnn: a from-scratch CNN in NumPy and Numba that reproduces a Keras pneumonia classifier.

    import minicnn
    model = minicnn.models.thesis_cnn()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
"""
from . import callbacks, kernels, layers, losses, models, optimizers, runtime
from .backend import get_backend, set_backend
from .model import Sequential, load_model

__version__ = "0.1.0"
__all__ = ["Sequential", "load_model", "get_backend", "set_backend", "callbacks", "kernels",
           "layers", "losses", "models", "optimizers", "runtime", "__version__"]
