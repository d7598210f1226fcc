"""Hypothesis strategies shared by the engine tests: window geometries and tie-free inputs."""
import numpy as np
from hypothesis import strategies as st


@st.composite
def window_geometry(draw, max_side=7, max_window=4):
    """(N, H, W, C), (KH, KW), (SH, SW), padding: odd/even sizes, windows up to the input size
    (exactly the input size sometimes), strides 1-3, 'valid' or 'same'."""
    padding = draw(st.sampled_from(["valid", "same"]))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    if draw(st.booleans()):
        kh, kw = h, w                                    # kernel = input size
    else:
        top_h = max_window if padding == "same" else min(h, max_window)
        top_w = max_window if padding == "same" else min(w, max_window)
        kh, kw = draw(st.integers(1, top_h)), draw(st.integers(1, top_w))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return (n, h, w, c), (kh, kw), strides, padding


def distinct_values(shape, rng, spacing=0.01):
    """Values of distinct sizes (multiples of ``spacing``) with random signs and order: no
    ties for max-pooling, and |x| >= spacing keeps ReLU's kink far from x +- h."""
    size = int(np.prod(shape))
    magnitudes = (rng.permutation(size) + 1) * spacing
    return (magnitudes * rng.choice([-1.0, 1.0], size)).reshape(shape)
