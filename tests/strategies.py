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


@st.composite
def zeros_and_ties(draw, max_side=9, max_channels=3, max_filters=4):
    """(x, kernel (3, 3, C, F), bias, dy) for a 2x2-pooled 3x3 convolution, of small integers
    with many exact zeros: whole windows whose sums are exactly 0 (ReLU's kink) and equal
    sums (max-pooling's ties); every sum is exact in float32. x (N, H, W, C), dy (N, Hq, Wq,
    F); odd and even sizes."""
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, max_channels)), draw(
        st.integers(1, max_filters))
    h, w = draw(st.integers(4, max_side)), draw(st.integers(4, max_side))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    zero_share = draw(st.sampled_from([0.3, 0.7, 1.0]))
    x = rng.integers(-1, 2, (n, h, w, c)) * (rng.random((n, h, w, c)) >= zero_share)
    if draw(st.booleans()):                         # a black border around the image
        x[:, :2], x[:, :, :2] = 0, 0
    kernel = rng.integers(-1, 2, (3, 3, c, f))
    bias = rng.integers(-1, 2, f)
    dy = rng.integers(-3, 4, (n, (h - 2) // 2, (w - 2) // 2, f))
    return tuple(a.astype(np.float64) for a in (x, kernel, bias, dy))
