"""The explorer's numbers for *each* class against minicnn's own functions: Grad-CAM
(minicnn.explain.grad_cam for that class's score), the loss and dL/dx (minicnn's loss and
``Sequential.backward`` through the softmax or sigmoid, not from the logits), the
probabilities; on the thesis CNN, a model with BatchNormalization and a one-unit sigmoid."""
import base64
import zlib

import numpy as np
import pytest

from minicnn import explain, explore, losses
from minicnn.layers import (BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, Input,
                            MaxPooling2D, ReLU)
from minicnn.model import Sequential
from minicnn.models import thesis_cnn

SIZE = 40
INFO = {"threshold": 0.5, "class_names": ["NORMAL", "PNEUMONIA"], "source": "test",
        "untrained": True}


def _unpack(packed):
    """A packed array of the page data back to numpy (what the page's inflate does)."""
    raw = zlib.decompress(base64.b64decode(packed["b64"]))
    return np.frombuffer(raw, dtype=np.dtype(packed["dtype"]).newbyteorder("<")).reshape(
        packed["shape"])


def _image(seed):
    """An image (SIZE, SIZE, 1) in [0, 1] with a bright blotch off-centre, so that the
    classes' Grad-CAMs differ."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    img = 0.3 + 0.5 * np.exp(-((yy - 0.7) ** 2 + (xx - 0.3) ** 2) / 0.02)
    return np.clip(img + 0.1 * rng.random((SIZE, SIZE)), 0, 1).astype(np.float32)[:, :, None]


def _thesis():
    return thesis_cnn((SIZE, SIZE, 1), 2, seed=1)


def _batchnorm():
    model = Sequential([Input((SIZE, SIZE, 1)), Conv2D(6, 3, strides=2, use_bias=False),
                        BatchNormalization(), ReLU(), MaxPooling2D(2),
                        Conv2D(5, 3, padding="same", activation="relu"),
                        GlobalAveragePooling2D(), Dense(2, activation="softmax")], seed=4)
    model.build()
    bn = model.layers[1]                               # non-trivial moving statistics
    bn.state["moving_mean"][:] = np.linspace(-0.1, 0.2, 6)
    bn.state["moving_variance"][:] = np.linspace(0.3, 2.0, 6)
    return model


def _sigmoid():
    return Sequential([Input((SIZE, SIZE, 1)), Conv2D(4, 3, activation="relu"),
                       MaxPooling2D(2), Conv2D(3, 3, activation="relu"),
                       GlobalAveragePooling2D(), Dense(1, activation="sigmoid")], seed=2)


def _own_loss_and_dx(model, x, c):
    """minicnn's cross-entropy of class c and dL/dx, through the output activation."""
    probs = model.forward(x[None])
    if probs.shape[1] == 1:
        loss, y = losses.BinaryCrossentropy(), np.array([[float(c)]])
    else:
        loss, y = losses.SparseCategoricalCrossentropy(), np.array([c])
    dx = model.backward(loss.gradient(y, probs), start=0)[0]
    return float(loss(y, probs)), dx


@pytest.mark.parametrize("make", [_thesis, _batchnorm, _sigmoid],
                         ids=["thesis", "batchnorm", "sigmoid"])
def test_every_class_has_its_own_numbers(make):
    model = make()
    model.build()
    x = _image(5)
    entry = explore.page_data(model, [("x.png", 1, x)], INFO)["images"][0]
    probs = model.predict(x[None])[0].astype(np.float64)
    np.testing.assert_allclose(entry["probs"], probs, rtol=1e-6)
    assert entry["probability"] == pytest.approx(probs[-1], rel=1e-6)
    cams = []
    assert len(entry["backward"]) == 2
    for c, backward in enumerate(entry["backward"]):
        # a sigmoid has one score, its logit: its Grad-CAM serves both labels
        score = c if probs.size > 1 else 0
        own = explain.grad_cam(model, x[None], class_index=score)[0]
        cam = _unpack(backward["gradcam"]).astype(np.float64) / 255
        np.testing.assert_allclose(cam, own, atol=0.5 / 255 + 1e-6, err_msg=f"class {c}")
        cams.append(own)
        loss, dx = _own_loss_and_dx(model, x, c)
        assert backward["loss"] == pytest.approx(loss, rel=1e-5), c
        summary = backward["inputSummary"]
        scale = float(np.abs(dx).max())
        assert summary["shape"] == list(dx.shape)
        for key, value in (("min", dx.min()), ("max", dx.max()),
                           ("meanAbs", np.abs(dx).mean())):
            assert summary[key] == pytest.approx(float(value), abs=1e-4 * scale), (c, key)
    if probs.size > 1:          # the two classes' Grad-CAMs are not the same map here
        assert np.abs(cams[0] - cams[1]).max() > 0.1
