"""Random affine augmentation (rotation, shift, zoom) of image batches, Keras-style.

Strengths follow Keras's preprocessing layers: ``rotation`` is a fraction of a full turn
(``RandomRotation(factor)``: 0.1 means angles in [-36, 36] degrees), ``shift`` a fraction of
the height/width (``RandomTranslation``), ``zoom`` a fraction of the size (``RandomZoom``:
scale in [1 - zoom, 1 + zoom], same for both axes). Each image gets one affine transform about
its centre, applied with bilinear interpolation and Keras's default 'reflect' fill
(``d c b a | a b c d | d c b a``).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.ndimage import affine_transform

__all__ = ["augment_batch", "intensity_batch", "training_augmenter"]


def augment_batch(x: np.ndarray, rng: np.random.Generator, rotation: float = 0.1,
                  shift: float = 0.1, zoom: float = 0.1, fill_mode: str = "reflect",
                  order: int = 1) -> np.ndarray:
    """Randomly rotate, shift and zoom each image of x (N, H, W, C); returns a new array.

    rotation: max angle as a fraction of a full turn (0.1 -> +-36 degrees).
    shift: max shift as a fraction of H (rows) and W (columns), drawn separately.
    zoom: max relative change of scale (0.1 -> scale in [0.9, 1.1]).
    fill_mode: scipy.ndimage mode for pixels from outside ('reflect', 'nearest', 'constant'
        (zeros), 'mirror', 'wrap'). order: spline order (1 = bilinear, 0 = nearest).
    Same shape and dtype out; x is not changed; the result depends only on x, the strengths
    and the state of ``rng``. With all strengths 0 a copy of x is returned.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, H, W, C), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be a float array, got dtype {x.dtype}")
    if not 0 <= rotation <= 0.5:
        raise ValueError(f"rotation must be in [0, 0.5] (fraction of a full turn), got {rotation}")
    if not 0 <= shift < 1:
        raise ValueError(f"shift must be in [0, 1) (fraction of the size), got {shift}")
    if not 0 <= zoom < 1:
        raise ValueError(f"zoom must be in [0, 1), got {zoom}")
    if rotation == shift == zoom == 0:
        return x.copy()

    n, h, w, c = x.shape
    angles = rng.uniform(-rotation, rotation, size=n) * 2 * np.pi
    scales = rng.uniform(1 - zoom, 1 + zoom, size=n)
    shifts = rng.uniform(-shift, shift, size=(n, 2)) * np.array([h, w])
    centre = np.array([(h - 1) / 2, (w - 1) / 2])

    out = np.empty_like(x)
    for i in range(n):
        cos, sin = np.cos(angles[i]), np.sin(angles[i])
        # Output pixel o comes from input pixel  R^-1 (o - centre - shift) / scale + centre.
        inverse = np.array([[cos, sin], [-sin, cos]]) / scales[i]
        offset = centre - inverse @ (centre + shifts[i])
        for ch in range(c):
            out[i, :, :, ch] = affine_transform(x[i, :, :, ch], inverse, offset=offset,
                                                order=order, mode=fill_mode)
    return out


def intensity_batch(x: np.ndarray, rng: np.random.Generator, strength: float = 0.1) -> np.ndarray:
    """Randomly change each image's gamma, contrast and brightness (x in [0, 1]); returns a
    new array, clipped to [0, 1].

    With s = ``strength``, per image: x ** g with g = exp(U(-s, s)) (gamma), then
    (x - mean) * c + mean with c in U(1 - s, 1 + s) (contrast about the image's mean, as
    Keras's RandomContrast(s)), then + b with b in U(-s, s) (brightness, as Keras's
    RandomBrightness(s) on a [0, 1] range). X-ray exposure and processing differ between
    machines and hospitals in exactly these ways. ``strength`` 0 returns a copy of x.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    x = np.asarray(x)
    if x.ndim != 4 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"x must be a float array of shape (N, H, W, C), got {x.dtype} "
                         f"{x.shape}")
    if not 0 <= strength < 1:
        raise ValueError(f"strength must be in [0, 1), got {strength}")
    if strength == 0:
        return x.copy()
    n = len(x)
    gamma = np.exp(rng.uniform(-strength, strength, n)).reshape(n, 1, 1, 1)
    contrast = rng.uniform(1 - strength, 1 + strength, n).reshape(n, 1, 1, 1)
    brightness = rng.uniform(-strength, strength, n).reshape(n, 1, 1, 1)
    out = np.clip(x, 0, 1) ** gamma.astype(x.dtype)
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    out = (out - mean) * contrast.astype(x.dtype) + mean + brightness.astype(x.dtype)
    return np.clip(out, 0, 1, out=out)


def training_augmenter(settings):
    """``(x_batch, rng) -> x_batch`` for a run's training batches (and test-time
    augmentation) from its settings (minicnn.settings.Settings): the geometric augmentation
    (with ``augment``) then the intensity one (``intensity`` > 0); None when neither."""
    steps = []
    if settings.augment:
        steps.append(functools.partial(augment_batch, rotation=settings.rotation,
                                       shift=settings.shift, zoom=settings.zoom))
    if settings.intensity > 0:
        steps.append(functools.partial(intensity_batch, strength=settings.intensity))
    if not steps:
        return None

    def augment(x, rng):
        for step in steps:
            x = step(x, rng)
        return x
    return augment
