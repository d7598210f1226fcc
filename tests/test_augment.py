"""augment_batch: shapes, purity, seeded determinism, strengths."""

import numpy as np
import pytest

from minicnn.data import augment_batch


def batch(dtype=np.float32, shape=(4, 20, 24, 2), seed=0):
    return np.random.default_rng(seed).random(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_dtype_kept_and_input_unchanged(dtype):
    x = batch(dtype)
    before = x.copy()
    out = augment_batch(x, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == dtype
    assert out is not x and not np.shares_memory(out, x)
    np.testing.assert_array_equal(x, before)
    assert not np.allclose(out, x)  # it did something
    assert out.min() >= x.min() - 1e-6 and out.max() <= x.max() + 1e-6  # bilinear + reflect


def test_seeded_determinism():
    x = batch()
    a = augment_batch(x, np.random.default_rng(42))
    b = augment_batch(x, np.random.default_rng(42))
    c = augment_batch(x, np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_each_image_gets_its_own_transform():
    one = batch(shape=(1, 20, 20, 1))
    x = np.repeat(one, 3, axis=0)
    out = augment_batch(x, np.random.default_rng(0))
    assert not np.allclose(out[0], out[1]) and not np.allclose(out[1], out[2])


def test_channels_share_the_transform():
    one = batch(shape=(2, 16, 16, 1))
    x = np.concatenate([one, one], axis=3)
    out = augment_batch(x, np.random.default_rng(7))
    np.testing.assert_array_equal(out[..., 0], out[..., 1])


def test_zero_strength_returns_the_input():
    x = batch()
    out = augment_batch(x, np.random.default_rng(0), rotation=0, shift=0, zoom=0)
    np.testing.assert_array_equal(out, x)
    assert out is not x


def test_constant_image_stays_constant():
    x = np.full((3, 15, 15, 1), 0.3, np.float32)
    out = augment_batch(x, np.random.default_rng(0), rotation=0.2, shift=0.2, zoom=0.2)
    np.testing.assert_allclose(out, 0.3, atol=1e-6)


def test_strengths_bound_the_motion_of_a_dot():
    """A bright dot at the centre moves by at most shift * size; rotation and zoom about the
    centre leave it where it is."""
    h = w = 41
    x = np.zeros((20, h, w, 1), np.float32)
    x[:, 20, 20, 0] = 1.0
    rng = np.random.default_rng(1)
    shifted = augment_batch(x, rng, rotation=0, shift=0.1, zoom=0, fill_mode="constant",
                            order=0)
    moves = []
    for img in shifted[..., 0]:
        r, c = np.unravel_index(np.argmax(img), img.shape)
        moves.append(max(abs(r - 20), abs(c - 20)))
    assert max(moves) <= 0.1 * 41 + 1 and max(moves) >= 1
    turned = augment_batch(x, rng, rotation=0.1, shift=0, zoom=0.1, fill_mode="constant",
                           order=0)
    assert np.all(turned[:, 20, 20, 0] == 1.0)


def test_rotation_is_a_fraction_of_a_full_turn():
    """rotation=0.25 allows up to 90 degrees: an off-centre dot can end up far from its
    place; rotation=0.01 (3.6 degrees) keeps it within a pixel."""
    x = np.zeros((30, 41, 41, 1), np.float32)
    x[:, 20, 35, 0] = 1.0  # 15 px right of the centre
    small = augment_batch(x, np.random.default_rng(0), rotation=0.01, shift=0, zoom=0,
                          fill_mode="constant", order=0)
    big = augment_batch(x, np.random.default_rng(0), rotation=0.25, shift=0, zoom=0,
                        fill_mode="constant", order=0)

    def distance(imgs):
        d = []
        for img in imgs[..., 0]:
            r, c = np.unravel_index(np.argmax(img), img.shape)
            d.append(np.hypot(r - 20, c - 35))
        return np.array(d)

    assert distance(small).max() <= 1.5
    assert distance(big).max() > 10


def test_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        augment_batch(np.zeros((4, 4, 1), np.float32), rng)
    with pytest.raises(TypeError, match="float"):
        augment_batch(np.zeros((1, 4, 4, 1), np.uint8), rng)
    with pytest.raises(TypeError, match="Generator"):
        augment_batch(np.zeros((1, 4, 4, 1), np.float32), 0)
    with pytest.raises(ValueError, match="shift"):
        augment_batch(np.zeros((1, 4, 4, 1), np.float32), rng, shift=-0.1)
