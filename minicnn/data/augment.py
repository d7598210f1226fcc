"""Random affine augmentation (rotation, shift, zoom) of image batches, Keras-style.

Strengths follow Keras's preprocessing layers: ``rotation`` is a fraction of a full turn
(``RandomRotation(factor)``: 0.1 means angles in [-36, 36] degrees), ``shift`` a fraction of
the height/width (``RandomTranslation``), ``zoom`` a fraction of the size (``RandomZoom``:
scale in [1 - zoom, 1 + zoom], same for both axes). Each image gets one affine transform about
its centre, applied with bilinear interpolation and Keras's default 'reflect' fill
(``d c b a | a b c d | d c b a``).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import affine_transform

__all__ = ["augment_batch"]


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
