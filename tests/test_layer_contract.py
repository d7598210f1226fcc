"""Every registered layer kind, checked the same way (cases in layer_cases.py): the three
tiers agree, float64 gradients check out (in training mode where the layer has one),
models save and load with their dtype, configs round-trip, and (with TensorFlow) Keras
computes the same forward, gradients and moving statistics."""
import copy
import os

import numpy as np
import pytest

import minicnn
from minicnn import backend, layers
from minicnn.gradcheck import check_layer

from conftest import TIERS
from layer_cases import CASES, all_cases

CASE_IDS = [case[0] for case in all_cases()]
CASE_ARGS = [case[1:] for case in all_cases()]
parametrize_cases = pytest.mark.parametrize("kind, kwargs, shape, tol", CASE_ARGS, ids=CASE_IDS)


def make(kind, kwargs, dtype="float32"):
    return layers.LAYERS[kind](**kwargs, dtype=dtype)


def distinct_inputs(shape, n=3, seed=0):
    """(n, *shape) float64 values, all different and at least 1/size away from 0: no ties in a
    pooling window, no input on ReLU's kink."""
    size = n * int(np.prod(shape))
    values = (np.random.default_rng(seed).permutation(size) - size / 2 + 0.5) * (4 / size)
    return values.reshape((n,) + tuple(shape))


def test_every_registered_layer_has_cases_and_nothing_else_is_listed():
    assert set(CASES) == set(layers.LAYERS), (
        "add the new layer's cases to tests/layer_cases.py (see docs/adding_a_layer.md)")
    for kind, cls in layers.LAYERS.items():
        assert issubclass(cls, layers.Layer) and cls.__name__ == kind


def test_every_registered_layer_has_a_note_for_the_explorer_page():
    from minicnn.explore import LAYER_NOTES
    missing = sorted(set(layers.LAYERS) - set(LAYER_NOTES))
    assert not missing, (f"add a note for {missing} to minicnn.explore.LAYER_NOTES (see "
                         f"docs/adding_a_layer.md)")


def test_every_step_follows_the_step_contract_through_public_hooks():
    import ast
    import inspect

    from minicnn import fusion
    for cls in [*layers.LAYERS.values(), fusion.ConvReluMaxPool]:
        for method in ("forward", "backward", "backward_from_logits"):
            assert callable(getattr(cls, method, None)), (cls.__name__, method)
    conv, pool = layers.Conv2D(2, 3, activation="relu"), layers.MaxPooling2D(2)
    conv.build((8, 8, 1))
    assert isinstance(conv, layers.Step) and isinstance(fusion.ConvReluMaxPool(conv, pool),
                                                         layers.Step)
    # fusion reaches the layers only through public names (its own private state aside)
    tree = ast.parse(inspect.getsource(fusion))
    private = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
               and node.attr.startswith("_") and not node.attr.startswith("__")
               and not (isinstance(node.value, ast.Name) and node.value.id == "self")}
    assert not private, f"fusion.py uses private attributes of other objects: {private}"


def _run(layer, x, dy, training):
    y = layer.forward(x, training=training)
    return y, layer.backward(dy), {k: v.copy() for k, v in layer.grads.items()}


@parametrize_cases
@pytest.mark.parametrize("training", [False, True])
def test_tiers_agree(kind, kwargs, shape, tol, training):
    template = make(kind, kwargs, "float64")
    template.build(shape, rng=0)
    x = distinct_inputs(shape)
    dy = np.random.default_rng(1).normal(size=(len(x),) + template.output_shape)
    results = {}
    for tier in TIERS:
        with backend.using(tier):
            results[tier] = _run(copy.deepcopy(template), x, dy, training)
    for tier in TIERS[1:]:
        for a, b in zip(results[tier][:2], results["naive"][:2]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=tier)
        for key in results["naive"][2]:
            np.testing.assert_allclose(results[tier][2][key], results["naive"][2][key],
                                       rtol=1e-10, atol=1e-12, err_msg=f"{tier} {key}")


@parametrize_cases
def test_float64_gradients(kind, kwargs, shape, tol, tier):
    layer = make(kind, kwargs)
    with backend.using(tier):
        errors = check_layer(layer, distinct_inputs(shape), seed=1)
    assert set(errors) == {"dx"} | set(layer.params)
    worst = max(errors.values())
    assert worst < tol, errors


@parametrize_cases
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_round_trip_keeps_weights_state_and_dtype(kind, kwargs, shape, tol, dtype,
                                                            tmp_path):
    model = minicnn.Sequential([layers.Input(shape), make(kind, kwargs, dtype)], seed=0)
    model.build()
    x = distinct_inputs(shape).astype(dtype)
    model.forward(x, training=True)                  # moves any moving statistics
    model.save(tmp_path / "m.npz")
    loaded = minicnn.load_model(tmp_path / "m.npz")
    assert loaded.get_config() == model.get_config()
    assert loaded.layers[0].dtype == np.dtype(dtype)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert a.dtype == b.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@parametrize_cases
def test_config_round_trip_and_layer_name_in_errors(kind, kwargs, shape, tol):
    layer = make(kind, kwargs, "float64")
    config = layer.get_config()
    assert config["dtype"] == "float64" and config["name"] == layer.name
    again = layers.LAYERS[kind](**config)
    assert again.get_config() == config
    layer.build(shape)
    with pytest.raises(ValueError, match=layer.name):
        layer.forward(np.zeros((2,) + tuple(d + 1 for d in shape)))


def test_state_is_saved_counted_and_never_given_to_the_optimizer():
    model = minicnn.Sequential([layers.Input((4,)), layers.Dense(3, use_bias=False),
                                layers.BatchNormalization(), layers.Dense(2, "softmax")], seed=0)
    model.compile("adam")
    assert model.count_params(trainable=False) == 6          # moving mean and variance, (3,)
    assert model.count_params(trainable=True) == 12 + 6 + 8   # kernel; gamma, beta; kernel+bias
    x = distinct_inputs((4,), n=6)
    before = model.layers[1].state["moving_variance"].copy()
    batch_var = (x @ model.layers[0].params["kernel"].astype(np.float64)).var(axis=0)
    model.train_on_batch(x, [0, 1, 0, 1, 1, 0])
    assert len(model.optimizer._slots) == 5                  # kernel, gamma, beta, kernel, bias
    moved = model.layers[1].state["moving_variance"]
    np.testing.assert_allclose(moved, 0.99 * before + 0.01 * batch_var, rtol=1e-6)
    names = [w.name for layer in model.layers for w in layer.weight_specs(layer.input_shape)]
    assert names == ["kernel", "gamma", "beta", "moving_mean", "moving_variance", "kernel",
                     "bias"]


# -- Keras, one layer at a time ---------------------------------------------------------------
def _keras():
    if os.environ.get("MINICNN_REQUIRE_KERAS") == "1":
        import keras
        import tensorflow as tf
        return keras, tf
    return pytest.importorskip("keras"), pytest.importorskip("tensorflow")


@pytest.mark.keras
@parametrize_cases
def test_keras_parity_one_layer(kind, kwargs, shape, tol):
    """Forward (inference and training), input and weight gradients of sum(g * y), moving
    statistics after one training forward, against the Keras layer to_keras builds."""
    keras, tf = _keras()
    from minicnn.keras_interop import from_keras, to_keras
    ours = minicnn.Sequential([layers.Input(shape), make(kind, kwargs)], seed=0)
    ours.build()
    theirs = to_keras(ours)
    x = distinct_inputs(shape, n=4).astype(np.float32)
    g = np.random.default_rng(2).normal(size=(4,) + ours.output_shape).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x), theirs(x, training=False), rtol=1e-5, atol=1e-6)
    if kind == "Dropout":                          # random masks differ between libraries
        return
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        their_y = theirs(xt, training=True)
        value = tf.reduce_sum(their_y * g)
    their_grads = tape.gradient(value, [xt] + theirs.trainable_weights)
    np.testing.assert_allclose(ours.forward(x, training=True), their_y, rtol=1e-5, atol=1e-6)
    dx = ours.backward(g)
    np.testing.assert_allclose(dx, their_grads[0], rtol=1e-4, atol=1e-5)
    ours_grads = [ours.layers[0].grads[k] for k in ours.layers[0].params]
    for a, b in zip(ours_grads, their_grads[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):     # moving statistics moved
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    back = from_keras(theirs)
    assert back.get_config() == ours.get_config()
