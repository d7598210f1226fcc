"""minicnn.explain: class-score gradients through the engine's own backward pass, saliency,
Grad-CAM and layer outputs; on a task where a bright square means class 1 the explanations
point at the square, and explaining never changes the weights or the optimizer."""
import numpy as np
import pytest

from minicnn import Sequential, explain
from minicnn.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
from minicnn.models import thesis_cnn
from minicnn.optimizers import Adam

SIDE, SQUARE = 16, 5


def _square_images(n, seed):
    """n images (SIDE x SIDE x 1) of faint noise; odd ones (class 1) hold a bright SQUARE-px
    square at a random place. Returns x, y and the squares' top-left corners."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 0.05, (n, SIDE, SIDE, 1)).astype(np.float32)
    y = np.arange(n) % 2
    corners = rng.integers(1, SIDE - SQUARE, size=(n, 2))
    for i in np.flatnonzero(y):
        r, c = corners[i]
        x[i, r:r + SQUARE, c:c + SQUARE, 0] = 0.95
    return np.clip(x, 0, 1), y, corners


def _tiny_net(seed=0):
    return Sequential([Input((SIDE, SIDE, 1)), Conv2D(4, 3, activation="relu"),
                       MaxPooling2D(2), Conv2D(4, 3, activation="relu"), Flatten(),
                       Dense(2, activation="softmax")], seed=seed)


@pytest.fixture(scope="module")
def trained():
    """The tiny net trained to tell squares from noise (and its held-out images)."""
    x, y, _ = _square_images(300, seed=0)
    model = _tiny_net()
    model.compile(Adam(0.01), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x, y, batch_size=32, epochs=10, verbose=0, seed=0)
    x_test, y_test, corners = _square_images(60, seed=100)
    assert model.evaluate(x_test, y_test)[1] >= 0.95, "the tiny net did not learn the task"
    return model, x_test, y_test, corners


def _distance_to_square(rows, cols, corner):
    """Chebyshev distance in pixels from each (row, col) to the square (0 inside)."""
    r, c = corner
    dr = np.maximum(np.maximum(r - rows, rows - (r + SQUARE - 1)), 0)
    dc = np.maximum(np.maximum(c - cols, cols - (c + SQUARE - 1)), 0)
    return np.maximum(dr, dc)


# -- gradients ------------------------------------------------------------------------------
def test_score_gradient_matches_finite_differences_of_the_logit():
    model = _tiny_net(seed=3)
    model.build()
    for layer in model.layers:                       # float64 for a clean comparison
        layer.params = {k: v.astype(np.float64) for k, v in layer.params.items()}
    x = np.random.default_rng(4).random((2, SIDE, SIDE, 1))
    result = explain.class_score_gradients(model, x, class_index=1)
    assert result.gradient.shape == x.shape and result.gradient.dtype == np.float64
    assert list(result.class_index) == [1, 1]

    def score(xx):
        """Sum over the batch of the class-1 logit (the samples do not interact)."""
        model.forward(xx)
        return model.layers[-1].logits[:, 1].sum()

    model.forward(x)
    np.testing.assert_allclose(result.score, model.layers[-1].logits[:, 1])
    h, rng = 1e-5, np.random.default_rng(5)
    for _ in range(6):
        n, i, j = rng.integers(2), rng.integers(SIDE), rng.integers(SIDE)
        up, down = x.copy(), x.copy()
        up[n, i, j, 0] += h
        down[n, i, j, 0] -= h
        numeric = (score(up) - score(down)) / (2 * h)
        assert result.gradient[n, i, j, 0] == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_score_gradient_to_a_layer_and_predicted_classes(trained):
    model, x, y, _ = trained
    conv = model.layers[2]
    result = explain.class_score_gradients(model, x[:5], layer=conv.name)
    assert result.gradient.shape == result.activation.shape == (5,) + conv.output_shape
    probs = model.predict(x[:5])
    np.testing.assert_array_equal(result.class_index, probs.argmax(axis=1))
    by_index = explain.class_score_gradients(model, x[:5], layer=2)
    np.testing.assert_allclose(by_index.gradient, result.gradient)
    with pytest.raises(ValueError, match="before the last layer"):
        explain.class_score_gradients(model, x[:2], layer=model.layers[-1])
    with pytest.raises(ValueError, match="no layer named"):
        explain.class_score_gradients(model, x[:2], layer="nope")
    with pytest.raises(ValueError, match="class_index must be in 0..1"):
        explain.class_score_gradients(model, x[:2], class_index=2)
    with pytest.raises(ValueError, match="batch of shape"):
        explain.class_score_gradients(model, x[0])


def test_batches_give_the_same_gradients_as_one_pass(trained):
    model, x, _, _ = trained
    classes = np.arange(7) % 2
    whole = explain.class_score_gradients(model, x[:7], classes, batch_size=32)
    pieces = explain.class_score_gradients(model, x[:7], classes, batch_size=3)
    np.testing.assert_allclose(pieces.gradient, whole.gradient, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(pieces.class_index, classes)


# -- maps -----------------------------------------------------------------------------------
def test_saliency_and_grad_cam_shapes_and_ranges(trained):
    model, x, _, _ = trained
    for maps in (explain.saliency(model, x[:6]), explain.grad_cam(model, x[:6], 1)):
        assert maps.shape == (6, SIDE, SIDE) and maps.dtype == np.float32
        assert maps.min() >= 0 and maps.max() <= 1
        peaks = maps.reshape(6, -1).max(axis=1)
        assert np.all((peaks == 1) | (peaks == 0))          # scaled per image


def test_grad_cam_peak_sits_on_the_square(trained):
    model, x, y, corners = trained
    ones = np.flatnonzero(y == 1)
    cams = explain.grad_cam(model, x[ones], class_index=1)
    for cam, corner in zip(cams, corners[ones]):
        assert cam.max() == 1
        rows, cols = np.nonzero(cam >= cam.max() - 1e-6)    # the peak (ties included)
        assert _distance_to_square(rows, cols, corner).min() == 0, (corner, rows, cols)
        centre = np.array([[int(round(rows.mean()))], [int(round(cols.mean()))]])
        assert _distance_to_square(*centre, corner)[0] <= 2, (corner, centre.ravel())
        inside = np.zeros(cam.shape, bool)
        inside[corner[0]:corner[0] + SQUARE, corner[1]:corner[1] + SQUARE] = True
        assert cam[inside].mean() > 2 * cam[~inside].mean()


def test_saliency_is_largest_on_the_square(trained):
    model, x, y, corners = trained
    ones = np.flatnonzero(y == 1)
    maps = explain.saliency(model, x[ones], class_index=1)
    near = []
    for m, (r, c) in zip(maps, corners[ones]):
        peak = np.unravel_index([m.argmax()], m.shape)
        near.append(_distance_to_square(*peak, (r, c))[0] <= 1)
        square = np.zeros(m.shape, bool)                    # the square and a 1-px border
        square[max(r - 1, 0):r + SQUARE + 1, max(c - 1, 0):c + SQUARE + 1] = True
        assert m[square].mean() > 1.5 * m[~square].mean()
    assert np.mean(near) >= 0.9


def test_grad_cam_places_cells_at_their_receptive_field_centres():
    model = thesis_cnn((150, 150, 1), seed=0)
    model.build()
    assert explain.receptive_field_centres(model, model.layers[6]) == ((18.5, 8.0), (18.5, 8.0))
    assert explain.receptive_field_centres(model, None) == ((0.0, 1.0), (0.0, 1.0))
    same = Sequential([Input((16, 16, 1)), Conv2D(2, 3, padding="same"), MaxPooling2D(2),
                       Conv2D(2, 3), Flatten(), Dense(2, activation="softmax")])
    same.build()
    # 'same' keeps centres; the pool puts cell i at 2i + 0.5; the valid conv shifts by one
    assert explain.receptive_field_centres(same, 0) == ((0.0, 1.0), (0.0, 1.0))
    assert explain.receptive_field_centres(same, 2) == ((2.5, 2.0), (2.5, 2.0))
    # one hot cell of a 6 x 6 map lands on pixels 2.5 + 2 * 3 = 8.5, i.e. rows/cols 8 and 9
    cam = np.zeros((1, 6, 6))
    cam[0, 3, 3] = 1
    up = explain._upsample(cam, (16, 16), explain.receptive_field_centres(same, 2))[0]
    rows, cols = np.nonzero(up == up.max())
    assert set(rows) == {8, 9} and set(cols) == {8, 9}


def test_every_window_layer_moves_the_centres_and_shape_keepers_do_not():
    """The geometry comes from each layer's ``window``: AveragePooling2D counts like
    MaxPooling2D, BatchNormalization changes nothing, Grad-CAM works through them."""
    from minicnn.layers import AveragePooling2D, BatchNormalization, GlobalAveragePooling2D
    net = Sequential([Input((16, 16, 1)), Conv2D(2, 3, activation="relu"),
                      BatchNormalization(), AveragePooling2D(2), Conv2D(3, 3),
                      GlobalAveragePooling2D(), Dense(2, activation="softmax")], seed=0)
    net.build()
    # conv: 1 + i; avg pool 2: 1 + 0.5 + 2i = 1.5 + 2i; valid conv: +1 cell = 3.5 + 2i
    assert explain.receptive_field_centres(net, 1) == ((1.0, 1.0), (1.0, 1.0))
    assert explain.receptive_field_centres(net, 2) == ((1.5, 2.0), (1.5, 2.0))
    assert explain.receptive_field_centres(net, 3) == ((3.5, 2.0), (3.5, 2.0))
    assert explain.receptive_field_centres(net, 4) is None          # global: no positions
    maps = explain.grad_cam(net, np.random.default_rng(0).random((2, 16, 16, 1)), layer=3)
    assert maps.shape == (2, 16, 16)


def test_layer_outputs_cover_every_layer(trained):
    model, x, _, _ = trained
    outputs = explain.layer_outputs(model, x[:3])
    assert list(outputs) == [layer.name for layer in model.layers]
    for layer in model.layers:
        assert outputs[layer.name].shape == (3,) + layer.output_shape
    np.testing.assert_allclose(outputs[model.layers[-1].name], model.predict(x[:3]), rtol=1e-6)
    assert explain.last_conv_layer(model) is model.layers[2]


def test_explanations_leave_weights_and_optimizer_unchanged(trained):
    model, x, _, _ = trained
    weights = model.get_weights()
    opt = model.optimizer
    iterations = opt.iterations
    slots = [[s.copy() for s in slot] for slot in opt._slots]
    explain.saliency(model, x[:4])
    explain.grad_cam(model, x[:4], class_index=0)
    explain.class_score_gradients(model, x[:4], layer=0)
    explain.layer_outputs(model, x[:4])
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert opt.iterations == iterations
    assert len(slots) == len(weights)
    for old, new in zip(slots, opt._slots):
        for a, b in zip(old, new):
            np.testing.assert_array_equal(a, b)
