"""The conventions every exercise function keeps, checked around each call the checks make.

:class:`Convention` wraps a student's function: it casts the float arrays it is given to one
dtype (the checks run once with float64 and once with float32); after each call it fails
the function (``Failure``) when it returned None or a float array whose dtype is not its
inputs', and keeps in ``changed`` the hint of the first input it changed in place (the check
goes on, so that a more precise hint of the check comes first). Any exercise, including
ones added later, gets these rules: the checks call the wrapper as they would the function.
"""
import ast

import numpy as np

from ._child import signature_problem
from .catalog import EXERCISES
from .isolated import Failure
from .lang import fill, hint

#: The names of what a function returns, for hints ("dx", not "output 1").
OUTPUTS = {"relu_forward": ("y",), "relu_backward": ("dx",), "conv2d_forward": ("y",),
           "conv2d_backward": ("dx", "dkernel", "dbias"), "maxpool2d_forward": ("y",),
           "maxpool2d_backward": ("dx",), "dense_forward": ("z",),
           "dense_backward": ("dx", "dkernel", "dbias"),
           "softmax_cross_entropy": ("loss", "dlogits"), "adam_step": ("param", "m", "v"),
           "numerical_gradient": ("grad",), "batchnorm_forward": ("y",),
           "batchnorm_backward": ("dx", "dgamma", "dbeta"), "dropout_forward": ("y",),
           "dropout_backward": ("dx",), "sigmoid_binary_cross_entropy": ("loss", "dlogits")}

NO_RETURN = hint("returned None: did you forget `return`?",
                 "devolvió None: ¿olvidó el `return`?")
IN_PLACE = hint("changed its input {input} in place: leave every input as it was (the caller "
                "still needs it) and return new arrays, e.g. `m = beta_1 * m + ...` or "
                "`np.maximum(x, 0)`, not `m *= beta_1`, `param -= ...` or `x[x < 0] = 0`",
                "cambió su entrada {input} en el lugar: deje cada entrada como estaba (quien "
                "llama todavía la necesita) y devuelva arreglos nuevos, p. ej. "
                "`m = beta_1 * m + ...` o `np.maximum(x, 0)`, no `m *= beta_1`, "
                "`param -= ...` ni `x[x < 0] = 0`")
DTYPE = hint("returned {output} as {got} for {want} inputs: the output's dtype must follow "
             "the input's. A NumPy float64 scalar (np.sqrt(2.0), np.float64(...)) or an "
             "array made with np.zeros(shape) / np.empty(shape) turns float32 into float64: "
             "use math.sqrt or plain Python numbers, np.zeros_like(x) or dtype=x.dtype",
             "devolvió {output} como {got} con entradas {want}: el tipo (dtype) de la salida "
             "debe seguir al de la entrada. Un escalar float64 de NumPy (np.sqrt(2.0), "
             "np.float64(...)) o un arreglo hecho con np.zeros(forma) / np.empty(forma) "
             "convierte float32 en float64: use math.sqrt o números de Python, "
             "np.zeros_like(x) o dtype=x.dtype")


#: Exercise name: its own hint for an input changed in place ({change}: the largest change),
#: instead of IN_PLACE (e.g. numerical_gradient's "put each entry back by assignment").
IN_PLACE_ADVICE = {}


def argument_names(name):
    """The parameter names of exercise ``name``, from its signature in the catalog."""
    signature = next((e.signature for e in EXERCISES if e.name == name), None)
    if signature is None:
        return ()
    args = ast.parse(f"def {signature}: pass").body[0].args
    return tuple(a.arg for a in args.posonlyargs + args.args + args.kwonlyargs)


def output_names(name, count):
    """Names for the ``count`` outputs of exercise ``name``."""
    names = OUTPUTS.get(name, ())
    return names if len(names) == count else tuple(f"output {k + 1}" for k in range(count))


def _cast(value, dtype):
    """A float array cast to ``dtype`` (always a copy); anything else as it is."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(dtype)
    return value


def _snapshot(value):
    return value.copy() if isinstance(value, np.ndarray) else None


class Convention:
    """Exercise ``name``'s function ``fn``, called with float arrays of ``dtype``; raises
    Failure when a call returns None or the wrong dtype; ``changed``: None, or the hint of an
    input changed in place."""

    def __init__(self, fn, name, dtype=np.float64):
        self.fn, self.name, self.dtype = fn, name, np.dtype(dtype)
        self.__name__, self.changed = name, None

    def __call__(self, *args, **kwargs):
        args = tuple(_cast(a, self.dtype) for a in args)
        kwargs = {k: _cast(v, self.dtype) for k, v in kwargs.items()}
        before = [_snapshot(a) for a in args], {k: _snapshot(v) for k, v in kwargs.items()}
        if hasattr(self.fn, "call_keeping_args"):        # run in the checker's child process
            value, args, kwargs = self.fn.call_keeping_args(*args, **kwargs)
        else:
            problem = signature_problem(self.fn, self.name, args, kwargs)
            if problem:
                raise Failure("FAIL", problem)
            value = self.fn(*args, **kwargs)
        self.changed = self.changed or self._changed(before, args, kwargs)
        self._returned(value)
        return value

    def _changed(self, before, args, kwargs):
        """None, or the hint naming the first input the call changed."""
        names = argument_names(self.name)
        pairs = [(names[k] if k < len(names) else f"number {k + 1}", b, a)
                 for k, (b, a) in enumerate(zip(before[0], args))]
        pairs += [(key, before[1][key], kwargs.get(key)) for key in before[1]]
        for name, old, new in pairs:
            if old is not None and not (isinstance(new, np.ndarray) and new.shape == old.shape
                                        and np.array_equal(old, new, equal_nan=True)):
                change = float(np.max(np.abs(new - old))) if isinstance(new, np.ndarray) \
                    and new.shape == old.shape else float("nan")
                advice = IN_PLACE_ADVICE.get(self.name, IN_PLACE)
                return fill(advice, input=f"`{name}`", change=change)
        return None

    def _returned(self, value):
        if value is None:
            raise Failure("FAIL", NO_RETURN)
        values = value if isinstance(value, tuple) else (value,)
        for name, v in zip(output_names(self.name, len(values)), values):
            if isinstance(v, np.ndarray) and v.ndim and v.dtype.kind == "f" \
                    and v.dtype != self.dtype:
                raise Failure("FAIL", fill(DTYPE, output=name, got=str(v.dtype),
                                           want=str(self.dtype)))
