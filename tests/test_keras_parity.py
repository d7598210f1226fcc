"""minicnn against Keras (TensorFlow backend): same weights -> same outputs, losses, gradients
and weights after a few optimizer steps; plus the to_keras / from_keras converters.

The Keras reference networks are written out by hand here (not with to_keras), so the parity
tests do not depend on the converter. Relative difference = max|a - b| / max|b| per array;
the largest found per network and quantity is printed at the end (pytest -s).
"""
import os
import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ.get("MINICNN_REQUIRE_KERAS") == "1":      # CI (.ci/run): missing TF must fail
    import keras
    import tensorflow as tf
else:
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")

from minicnn import layers as L                                         # noqa: E402
from minicnn.keras_interop import from_keras, to_keras                  # noqa: E402
from minicnn.model import Sequential                                    # noqa: E402
from minicnn.models import thesis_cnn                                   # noqa: E402
from minicnn.optimizers import SGD, Adam, ExponentialDecay              # noqa: E402

pytestmark = pytest.mark.keras


@pytest.fixture(autouse=True)
def winograd_everywhere(monkeypatch):
    """Every 3x3, 64-channel-like convolution through Winograd F(4x4, 3x3), as at the
    thesis's batch and size, however small the test's batch (its least accurate path)."""
    from minicnn.kernels import conv
    monkeypatch.setattr(conv, "_WINOGRAD_MIN_TILES", 0)

RTOL_FORWARD, RTOL_LOSS, RTOL_GRAD, RTOL_STEPS = 1e-5, 1e-5, 1e-4, 1e-4
N_STEPS = 3

# -- recording the differences ---------------------------------------------------------------
DIFFS = defaultdict(lambda: defaultdict(float))        # network -> quantity -> largest diff


def rel_diff(actual, expected):
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    err = np.abs(actual - expected).max(initial=0.0)
    return err / max(np.abs(expected).max(initial=0.0), 1e-30) if err else 0.0


def check(net, quantity, actual, expected, rtol, what=""):
    """Assert rel_diff <= rtol and remember the largest difference for the summary."""
    err = rel_diff(actual, expected)
    DIFFS[net][quantity] = max(DIFFS[net][quantity], err)
    assert err <= rtol, f"{net} {quantity} {what}: relative difference {err:.3g} > {rtol:g}"


@pytest.fixture(scope="module", autouse=True)
def print_summary():
    yield
    print("\n\nLargest relative differences minicnn vs Keras (max|a-b| / max|b| per array):")
    for net, quantities in DIFFS.items():
        print(f"  {net}: " + ", ".join(f"{q} {v:.2e}" for q, v in quantities.items()))


# -- the networks ----------------------------------------------------------------------------
def thesis_keras(input_shape):
    """The thesis CNN written in Keras, as the thesis did."""
    kl = keras.layers
    return keras.Sequential([
        keras.Input(input_shape),
        kl.Conv2D(64, 3, activation="relu"), kl.MaxPooling2D(2),
        kl.Conv2D(64, 3, activation="relu"), kl.MaxPooling2D(2),
        kl.Conv2D(64, 3, activation="relu"), kl.MaxPooling2D(2),
        kl.Conv2D(64, 3, activation="relu"),
        kl.Flatten(),
        kl.Dense(64, activation="relu"),
        kl.Dense(2, activation="softmax"),
    ])


SMALL_SHAPE = (9, 11, 2)        # odd sizes: 'same' padding is asymmetric (extra row at the end)


def small_ours():
    return Sequential([
        L.Input(SMALL_SHAPE),
        L.Conv2D(6, 3, strides=2, padding="same", activation="relu"),      # (5, 6, 6)
        L.MaxPooling2D(2, strides=1, padding="same"),                       # (5, 6, 6)
        L.Conv2D(5, (2, 3), padding="same"), L.ReLU(),                      # (5, 6, 5)
        L.MaxPooling2D(2, padding="same"),                                  # (3, 3, 5)
        L.Flatten(),
        L.Dense(7, activation="relu"),
        L.Dense(1, activation="sigmoid"),
    ], name="small", seed=0)


def small_keras():
    kl = keras.layers
    return keras.Sequential([
        keras.Input(SMALL_SHAPE),
        kl.Conv2D(6, 3, strides=2, padding="same", activation="relu"),
        kl.MaxPooling2D(2, strides=1, padding="same"),
        kl.Conv2D(5, (2, 3), padding="same"), kl.ReLU(),
        kl.MaxPooling2D(2, padding="same"),
        kl.Flatten(),
        kl.Dense(7, activation="relu"),
        kl.Dense(1, activation="sigmoid"),
    ])


def modern_layers(kl):
    """A net that uses every layer the thesis CNN does not: Conv2D without bias followed by
    BatchNormalization, AveragePooling2D with 'same' padding, GlobalAveragePooling2D."""
    return [
        kl.Conv2D(5, 3, use_bias=False), kl.BatchNormalization(), kl.ReLU(),     # (7, 9, 5)
        kl.AveragePooling2D(2, padding="same"),                                  # (4, 5, 5)
        kl.Conv2D(4, 2, padding="same", use_bias=False),
        kl.BatchNormalization(momentum=0.9, epsilon=0.01),
        kl.ReLU(),
        kl.AveragePooling2D(3, strides=1, padding="same"),                       # (4, 5, 4)
        kl.GlobalAveragePooling2D(),                                             # (4,)
        kl.Dense(6, use_bias=False), kl.BatchNormalization(center=False),
        kl.Dense(3, activation="softmax"),
    ]


def modern_ours():
    return Sequential([L.Input(SMALL_SHAPE)] + modern_layers(L), name="modern", seed=0)


def modern_keras():
    return keras.Sequential([keras.Input(SMALL_SHAPE)] + modern_layers(keras.layers))


# name -> (our model, Keras model, our loss name, Keras loss, batch (x, y))
def make(net):
    rng = np.random.default_rng(1)
    if net.startswith("thesis"):
        shape = (150, 150, 1) if net == "thesis150" else (40, 40, 1)
        n = 2 if net == "thesis150" else 6
        ours, theirs = thesis_cnn(input_shape=shape, seed=0), thesis_keras(shape)
        x = rng.random((n,) + shape, dtype=np.float32)
        y = np.array([0, 1] * (n // 2), dtype=np.int64)
        loss = "sparse_categorical_crossentropy"
        keras_loss = keras.losses.SparseCategoricalCrossentropy
    elif net == "modern":
        ours, theirs = modern_ours(), modern_keras()
        x = rng.standard_normal((8,) + SMALL_SHAPE).astype(np.float32)
        y = np.array([0, 1, 2, 1, 0, 2, 2, 1], dtype=np.int64)
        loss = "sparse_categorical_crossentropy"
        keras_loss = keras.losses.SparseCategoricalCrossentropy
    else:
        ours, theirs = small_ours(), small_keras()
        n = 8
        x = rng.standard_normal((n,) + SMALL_SHAPE).astype(np.float32)
        y = np.array([[0], [1]] * (n // 2), dtype=np.float32)
        loss = "binary_crossentropy"
        keras_loss = keras.losses.BinaryCrossentropy
    if net != "thesis150":
        # Non-zero biases, so the forward pass tests them too. Zero biases would also make
        # the after-Adam check flaky: Adam's steps depend on g / sqrt(v) per element, so a
        # tiny bias gradient (1e-5 where the largest is 0.04) carries float32 rounding of a
        # few 1e-4 into its step, while the whole bias vector is only ~3e-3 after 3 steps.
        # (BatchNormalization's moving statistics too: positive variances, near 1)
        ours.set_weights([w if w.ndim > 1 else w + rng.uniform(-0.05, 0.05, w.shape).astype(w.dtype)
                          for w in ours.get_weights()])
    theirs.set_weights(ours.get_weights())                     # ours -> Keras
    return ours, theirs, loss, keras_loss, x, y


NETS = ["thesis40", "small", "modern"]


def keras_loss_and_grads(theirs, keras_loss, x, y):
    with tf.GradientTape() as tape:
        out = theirs(x, training=True)
        value = keras_loss()(y, out)
    grads = tape.gradient(value, theirs.trainable_weights)
    return float(value), [g.numpy() for g in grads]


# -- parity ----------------------------------------------------------------------------------
def test_thesis_real_size_forward_loss_gradients_and_params():
    ours, theirs, loss, keras_loss, x, y = make("thesis150")
    assert ours.count_params() == theirs.count_params() == 1_033_218
    assert [layer.output_shape for layer in ours.layers] == [
        tuple(layer.output.shape[1:]) for layer in theirs.layers]
    check("thesis150", "forward", ours.predict(x), theirs(x, training=False).numpy(),
          RTOL_FORWARD)
    ours.compile("adam", loss)
    our_loss, our_grads = ours.gradients(x, y)
    their_loss, their_grads = keras_loss_and_grads(theirs, keras_loss, x, y)
    check("thesis150", "loss", our_loss, their_loss, RTOL_LOSS)
    for w, g_ours, g_theirs in zip(theirs.trainable_weights, our_grads, their_grads):
        check("thesis150", "gradient", g_ours, g_theirs, RTOL_GRAD, w.path)


@pytest.mark.parametrize("net", NETS)
def test_forward_loss_and_params(net):
    ours, theirs, loss, keras_loss, x, y = make(net)
    assert ours.count_params() == theirs.count_params()
    assert len(ours.get_weights()) == len(theirs.get_weights())
    out = theirs(x, training=False)
    check(net, "forward", ours.predict(x, batch_size=3), out.numpy(), RTOL_FORWARD)
    ours.compile("adam", loss)
    their_loss = float(keras_loss()(y, out))
    check(net, "loss", ours.test_on_batch(x, y)[0], their_loss, RTOL_LOSS, "test_on_batch")
    theirs.compile(optimizer=keras.optimizers.Adam(), loss=keras_loss(), jit_compile=False)
    check(net, "loss", ours.evaluate(x, y)[0],
          theirs.evaluate(x, y, batch_size=len(x), verbose=0), RTOL_LOSS, "evaluate")
    check(net, "forward (training mode)", ours.forward(x, training=True),
          theirs(x, training=True).numpy(), RTOL_FORWARD)
    for w, a, b in zip(theirs.weights, ours.get_weights(), theirs.get_weights()):
        check(net, "moving statistics after one training forward", a, b, RTOL_FORWARD, w.path)


@pytest.mark.parametrize("net", NETS)
def test_gradients(net):
    ours, theirs, loss, keras_loss, x, y = make(net)
    ours.compile("adam", loss)
    our_loss, our_grads = ours.gradients(x, y, training=True)
    their_loss, their_grads = keras_loss_and_grads(theirs, keras_loss, x, y)
    check(net, "loss", our_loss, their_loss, RTOL_LOSS, "gradients()")
    assert len(our_grads) == len(their_grads)
    for w, g_ours, g_theirs in zip(theirs.trainable_weights, our_grads, their_grads):
        assert np.abs(g_theirs).max() > 0, f"{w.path}: zero gradient, the check would be void"
        check(net, "gradient", g_ours, g_theirs, RTOL_GRAD, w.path)


@pytest.mark.parametrize("optimizer", ["adam", "sgd_momentum"])
@pytest.mark.parametrize("net", NETS)
def test_weights_after_training_steps(net, optimizer):
    ours, theirs, loss, keras_loss, x, y = make(net)
    start = ours.get_weights()
    if optimizer == "adam":
        ours.compile(Adam(), loss)
        theirs.compile(optimizer=keras.optimizers.Adam(), loss=keras_loss(), jit_compile=False)
    else:
        ours.compile(SGD(learning_rate=0.05, momentum=0.9), loss)
        theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
                       loss=keras_loss(), jit_compile=False)
    quantity = "after-Adam weights" if optimizer == "adam" else "after-SGD weights"
    for step in range(N_STEPS):
        our_loss, _ = ours.train_on_batch(x, y)
        their_loss = theirs.train_on_batch(x, y)
        their_loss = their_loss[0] if isinstance(their_loss, list) else their_loss
        # losses are measured before each step; they drift apart only as the weights do
        check(net, f"loss during {optimizer}", our_loss, their_loss, RTOL_STEPS, f"step {step}")
    for w, a, b, w0 in zip(theirs.weights, ours.get_weights(), theirs.get_weights(), start):
        assert not np.array_equal(b, w0), f"{w.path} did not move: the check would be void"
        check(net, quantity, a, b, RTOL_STEPS, w.path)


@pytest.mark.parametrize("optimizer", ["adam", "adam_decay", "sgd_momentum"])
def test_optimizer_given_keras_gradients_matches_keras_exactly(optimizer):
    """Our optimizer fed Keras's own gradients follows Keras's weights (isolates the update
    formulas from the gradient rounding)."""
    _, theirs, _, keras_loss, x, y = make("small")
    if optimizer == "adam":
        ours_opt, their_opt = Adam(), keras.optimizers.Adam()
    elif optimizer == "adam_decay":       # the rate halves after every update
        ours_opt = Adam(ExponentialDecay(1e-3, decay_steps=1, decay_rate=0.5, staircase=True))
        their_opt = keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(
            1e-3, decay_steps=1, decay_rate=0.5, staircase=True))
    else:
        ours_opt = SGD(learning_rate=0.05, momentum=0.9)
        their_opt = keras.optimizers.SGD(learning_rate=0.05, momentum=0.9)
    weights = theirs.get_weights()
    for step in range(N_STEPS):
        _, grads = keras_loss_and_grads(theirs, keras_loss, x, y)
        ours_opt.apply_gradients(zip(grads, weights))
        their_opt.apply_gradients(zip(grads, theirs.trainable_weights))
    for w, a, b in zip(theirs.weights, weights, theirs.get_weights()):
        check("small", f"{optimizer} update on Keras's gradients", a, b, 1e-6, w.path)


# -- the converters --------------------------------------------------------------------------
def layer_shapes(model):
    if isinstance(model, Sequential):
        return [layer.output_shape for layer in model.layers]
    return [tuple(layer.output.shape[1:]) for layer in model.layers]


def every_layer_ours():
    return Sequential([
        L.Input((10, 9, 3)),
        L.Conv2D(4, (3, 2), strides=(2, 1), padding="same", activation="sigmoid"),
        L.MaxPooling2D((2, 3), strides=(1, 2)),
        L.Conv2D(3, 2), L.ReLU(), L.Dropout(0.3, seed=5),
        L.Flatten(),
        L.Dense(6), L.Sigmoid(),
        L.Dense(3), L.Softmax(),
    ], name="every_layer", seed=3)


@pytest.mark.parametrize("net", ["thesis40", "small", "modern", "every_layer"])
def test_round_trip_keeps_predictions_shapes_and_config(net):
    ours = every_layer_ours() if net == "every_layer" else make(net)[0]
    x = np.random.default_rng(2).standard_normal((4,) + ours.input_shape).astype(np.float32)
    converted = to_keras(ours)
    assert isinstance(converted, keras.Sequential)
    assert [layer.name for layer in converted.layers] == [layer.name for layer in ours.layers]
    assert layer_shapes(converted) == layer_shapes(ours)
    assert converted.count_params() == ours.count_params()
    expected = ours.predict(x)
    check(net, "round trip", converted.predict(x, verbose=0), expected, RTOL_FORWARD, "to_keras")
    back = from_keras(converted)
    assert back.get_config() == ours.get_config()
    assert layer_shapes(back) == layer_shapes(ours)
    check(net, "round trip", back.predict(x), expected, RTOL_FORWARD, "from_keras(to_keras)")
    for a, b in zip(back.get_weights(), ours.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_from_keras_of_a_keras_built_model():
    kl = keras.layers
    theirs = keras.Sequential([
        keras.Input((8, 8, 2)),
        kl.Conv2D(3, 3, padding="same"), kl.Activation("relu"),
        kl.MaxPooling2D(), kl.Dropout(0.5),
        kl.Flatten(),
        kl.Dense(5, activation="linear"), kl.Activation("sigmoid"),
        kl.Dense(4), kl.Activation("softmax"),
    ], name="made_in_keras")
    ours = from_keras(theirs)
    assert ours.name == "made_in_keras"
    assert [type(layer).__name__ for layer in ours.layers] == [
        "Conv2D", "ReLU", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Sigmoid", "Dense",
        "Softmax"]
    assert ours.layers[5].activation.name is None and ours.layers[3].rate == 0.5
    x = np.random.default_rng(4).standard_normal((5, 8, 8, 2)).astype(np.float32)
    check("made_in_keras", "round trip", ours.predict(x), theirs(x).numpy(), RTOL_FORWARD)
    assert layer_shapes(ours) == layer_shapes(theirs)
    # softmax + sparse cross-entropy through a standalone Softmax layer: still from the logits
    y = np.array([0, 1, 2, 3, 1])
    ours.compile("sgd", "sparse_categorical_crossentropy")
    check("made_in_keras", "loss", ours.test_on_batch(x, y)[0],
          float(keras.losses.SparseCategoricalCrossentropy()(y, theirs(x))), RTOL_LOSS)


def _one_layer(layer, shape=(6, 6, 2)):
    return keras.Sequential([keras.Input(shape), layer])


@pytest.mark.parametrize("layer, shape, words", [
    (lambda: keras.layers.Conv2D(2, 3, dilation_rate=2), None, ["dilation_rate"]),
    (lambda: keras.layers.Conv2D(2, 3, groups=2), None, ["groups"]),
    (lambda: keras.layers.Conv2D(2, 3, activation="tanh"), None, ["activation", "tanh"]),
    (lambda: keras.layers.Conv2D(2, 3, kernel_regularizer="l2"), None, ["kernel_regularizer"]),
    (lambda: keras.layers.MaxPooling2D(data_format="channels_first"), None, ["data_format"]),
    (lambda: keras.layers.Dense(2, activation="elu"), (4,), ["activation", "elu"]),
    (lambda: keras.layers.ReLU(max_value=6.0), None, ["max_value"]),
    (lambda: keras.layers.Activation("tanh"), None, ["activation", "tanh"]),
    (lambda: keras.layers.Dropout(0.5, noise_shape=(None, 1, 1, 2)), None, ["noise_shape"]),
    (lambda: keras.layers.BatchNormalization(renorm=True), None, ["renorm"]),
    (lambda: keras.layers.BatchNormalization(axis=1), None, ["axis", "channels last"]),
    (lambda: keras.layers.GlobalAveragePooling2D(keepdims=True), None, ["keepdims"]),
    (lambda: keras.layers.AveragePooling2D(2, data_format="channels_first"), None,
     ["data_format"]),
    (lambda: keras.layers.LayerNormalization(), None, ["LayerNormalization", "not supported"]),
])
def test_from_keras_rejects_what_minicnn_cannot_compute(layer, shape, words):
    keras_layer = layer()
    with pytest.raises(ValueError) as info:
        from_keras(_one_layer(keras_layer, shape or (6, 6, 2)))
    message = str(info.value)
    for word in [repr(keras_layer.name)] + words:
        assert word in message, message


def test_from_keras_needs_a_known_input_shape():
    with pytest.raises(ValueError, match="input shape"):
        from_keras(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(TypeError, match="keras.Sequential"):
        from_keras(small_ours())


def test_missing_keras_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)            # `import keras` now fails
    for convert, arg in ((to_keras, small_ours()), (from_keras, None)):
        with pytest.raises(ImportError, match=r"pip install -e '\.\[keras\]'"):
            convert(arg)


def test_importing_minicnn_never_imports_tensorflow():
    code = ("import sys, minicnn, minicnn.keras_interop, minicnn.models; "
            "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
            "assert not bad, bad")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env=env)
