"""The teaching figures of minicnn.plots: each returns a Figure holding the data it was given
(bar heights, number of images, colourbar) and writes a PNG that Pillow can read."""
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from minicnn import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_png(path):
    assert path.read_bytes().startswith(PNG_MAGIC)
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG" and min(im.size) > 50
        pixels = np.asarray(im.convert("L"))
    assert pixels.std() > 1, "the PNG is blank"


def _shown_images(fig):
    """Images drawn on the visible axes (colourbars excluded)."""
    return [im for ax in fig.axes if ax.get_visible() for im in ax.get_images()]


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return np.clip(rng.normal(0.5, 0.2, (30, 20)), 0, 1)


@pytest.mark.parametrize("shape", [(30, 20), (30, 20, 1)])
def test_intensity_histogram_counts_every_pixel(image, tmp_path, shape):
    path = tmp_path / "hist.png"
    fig = plots.plot_intensity_histogram(image.reshape(shape), path, bins=16)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    heights = [patch.get_height() for patch in ax.patches]
    assert len(heights) == 16 and sum(heights) == image.size
    expected, _ = np.histogram(image, bins=16, range=(0, 1))
    assert heights == pytest.approx(expected)
    assert ax.get_xlabel() and ax.get_ylabel() == "number of pixels"
    _check_png(path)


def test_intensity_histogram_rejects_colour_images():
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        plots.plot_intensity_histogram(np.zeros((4, 4, 3)))


def test_class_counts_bars_and_labels(tmp_path):
    counts = {"NORMAL": 1341, "PNEUMONIA": 3875}
    path = tmp_path / "counts.png"
    fig = plots.plot_class_counts(counts, path)
    (ax,) = fig.axes
    bars = ax.patches
    assert [b.get_height() for b in bars] == [1341, 3875]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["NORMAL", "PNEUMONIA"]
    labels = [t.get_text() for t in ax.texts]
    assert "1,341" in labels and "3,875" in labels
    _check_png(path)
    with pytest.raises(ValueError, match="empty"):
        plots.plot_class_counts({})


@pytest.mark.parametrize("n, rows, cols", [(7, 3, 3), (4, 2, 2), (12, 2, 5)])
def test_image_grid_shows_one_image_per_cell_and_hides_the_rest(tmp_path, n, rows, cols):
    rng = np.random.default_rng(1)
    images = rng.random((n, 12, 10, 1))
    titles = [f"image {k}" for k in range(n)]
    path = tmp_path / "grid.png"
    fig = plots.plot_image_grid(images, titles, rows=rows, cols=cols, path=path)
    assert len(fig.axes) == rows * cols
    shown = min(n, rows * cols)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == shown
    assert [ax.get_title() for ax in visible] == titles[:shown]
    for ax, k in zip(visible, range(shown)):
        (im,) = ax.get_images()
        np.testing.assert_allclose(im.get_array(), images[k, :, :, 0])
    _check_png(path)


def test_image_grid_checks_titles_and_shapes():
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        plots.plot_image_grid(np.zeros((3, 4, 4)), titles=["a", "b"])
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        plots.plot_image_grid(np.zeros((4, 4)))


@pytest.mark.parametrize("channels, max_maps", [(6, 16), (64, 16), (5, 3)])
def test_feature_maps_show_the_first_channels(tmp_path, channels, max_maps):
    rng = np.random.default_rng(2)
    maps = rng.random((9, 11, channels))
    path = tmp_path / "maps.png"
    fig = plots.plot_feature_maps(maps, path, max_maps=max_maps, title="conv2d")
    images = _shown_images(fig)
    n = min(channels, max_maps)
    assert len(images) == n
    for k, im in enumerate(images):
        np.testing.assert_allclose(im.get_array(), maps[:, :, k])
    assert fig.texts[0].get_text() == "conv2d"                 # the suptitle
    _check_png(path)


def test_heatmap_overlay_has_image_heatmap_and_colourbar(image, tmp_path):
    heat = np.zeros_like(image)
    heat[10:15, 5:9] = 1.0
    path = tmp_path / "overlay.png"
    fig = plots.plot_heatmap_overlay(image[:, :, None], heat, path, alpha=0.3, title="cam")
    main, colourbar = fig.axes                                  # the image and its colourbar
    gray, hot = main.get_images()
    np.testing.assert_allclose(gray.get_array(), image)
    np.testing.assert_allclose(hot.get_array(), heat)
    assert hot.get_alpha() == 0.3 and hot.get_clim() == (0.0, 1.0)
    assert main.get_title() == "cam" and colourbar.get_ylim() == (0.0, 1.0)
    _check_png(path)
    with pytest.raises(ValueError, match="resize the heat map"):
        plots.plot_heatmap_overlay(image, heat[:-1])
