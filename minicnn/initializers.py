"""Weight initialisers, as Keras's defaults: glorot_uniform kernels, zero biases."""
import numpy as np


def fans(shape):
    """(fan_in, fan_out) of a kernel: Dense (in, out); Conv2D (KH, KW, C_in, C_out), where the
    receptive field KH * KW multiplies both fans (Keras's rule)."""
    if len(shape) < 2:
        raise ValueError(f"fans need a kernel of rank >= 2, got shape {shape}")
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def glorot_uniform(shape, rng=None, dtype="float32"):
    """Uniform on [-limit, limit] with limit = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio)."""
    fan_in, fan_out = fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return np.random.default_rng(rng).uniform(-limit, limit, size=shape).astype(dtype)


def zeros(shape, rng=None, dtype="float32"):
    """All zeros (Keras's bias default)."""
    return np.zeros(shape, dtype=dtype)


def ones(shape, rng=None, dtype="float32"):
    """All ones (BatchNormalization's gamma and moving variance)."""
    return np.ones(shape, dtype=dtype)
