"""Argument checks shared by the kernel front functions (errors name the sizes involved)."""
import numpy as np


def as_float_arrays(*arrays, names):
    """Convert to arrays of one common floating dtype (float32 unless a float64 is given)."""
    out = [np.asarray(a) for a in arrays]
    for a, name in zip(out, names):
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)
                or a.dtype == bool):
            raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
    dtype = np.result_type(*[a.dtype for a in out if np.issubdtype(a.dtype, np.floating)]
                           or [np.float32])
    if dtype not in (np.float32, np.float64):
        dtype = np.dtype(np.float64) if dtype.itemsize > 4 else np.dtype(np.float32)
    return [np.asarray(a, dtype=dtype, order="C") for a in out]


def check_rank(a, rank, name, layout):
    """Raise ValueError unless ``a.ndim == rank``; ``layout`` spells the expected axes."""
    if a.ndim != rank:
        raise ValueError(f"{name} must have rank {rank} {layout}, got shape {a.shape}")


def check_same_shape(a, b, name_a, name_b):
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {a.shape} but {name_b} has shape {b.shape}; "
                         f"they must match")
