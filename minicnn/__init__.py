"""minicnn: a from-scratch CNN in NumPy and Numba that reproduces a Keras pneumonia classifier.

    import minicnn
    model = minicnn.models.thesis_cnn()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])

The names below are loaded on first use, so ``import minicnn`` (and ``minicnn --help``) is
quick and changes nothing in the process.
"""
import importlib

__version__ = "0.1.0"

#: name -> the module that defines it (a submodule when the name is the module itself).
_WHERE = {"Sequential": "model", "load_model": "model", "get_backend": "backend",
          "set_backend": "backend", "callbacks": None, "kernels": None, "layers": None,
          "losses": None, "models": None, "optimizers": None, "runtime": None}
__all__ = [*_WHERE, "__version__"]


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module 'minicnn' has no attribute {name!r}")
    module = importlib.import_module(f".{_WHERE[name] or name}", __name__)
    value = module if _WHERE[name] is None else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_WHERE])
