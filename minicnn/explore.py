"""``minicnn explore``: one self-contained HTML page that steps through a CNN on real X-rays.

    minicnn explore [--model RUN_OR_FILE] [--data DIR] [--images N | IMAGE ...] [--out FILE]

Every number on the page is computed here, by minicnn's own engine, when the page is
written: the forward pass (``Sequential.forward(..., keep=True)``), the backward pass from the
logits for each class taken as the label (``Sequential.backward``), Grad-CAM
(:func:`minicnn.explain.grad_cam`) and one Adam step on each image (``train_on_batch`` on a
copy of the model). The page itself only redoes the sum of thesis eq. (1) for the pixel a
student clicks, from the exact float32 inputs of that convolution, so that z can be read term
by term, and the forward pass of an X-ray added in the page (``addImage``), from the
embedded weights.

Python API (the numbers the page shows): :func:`formula` (the window, kernel slice, bias, z
and y of one output pixel of a Conv2D), :func:`loss_gradients` and :func:`gradient`
(dL/d(output) of every layer and its summary), :func:`adam_step`, :func:`page_data` and
:func:`write_page`. Shapes: one image is (H, W, 1) float32 in [0, 1]; the model takes
(N, H, W, 1).

Data on the page: feature maps and gradients as 8-bit maps (one byte per value, each map
with its own range), the inputs of every convolution and every layer's weights as exact
float32, all compressed with zlib and base64-encoded; the browser inflates them with
``DecompressionStream``. The page's HTML, CSS and JavaScript: ``minicnn/explore_assets/``.
"""
from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np

from . import __version__, losses, runs
from ._explore_page import render
from .data import decode_image, find_data_dir, load_image_folder, preprocess_image
from .data.locate import describe_places
from .explain import grad_cam
from .io import atomic_write
from .kernels.geometry import pad_amounts
from .layers import BatchNormalization, Conv2D, Dense
from .model import Ensemble
from .models import thesis_cnn
from .settings import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
from .validation import int_argument

__all__ = ["PAGE_NAME", "open_model", "check_model", "read_images", "choose_images",
           "forward", "formula", "loss_gradients", "summary", "gradient", "adam_step",
           "dense_contributions", "page_data", "write_page", "explore", "add_arguments", "run"]

PAGE_NAME = "explore.html"
DEFAULT_CLASS_NAMES = ["NORMAL", "PNEUMONIA"]
TOP_CONTRIBUTIONS = 6          # inputs listed per dense unit
CANDIDATES_PER_CLASS = 16      # test images scanned per class to find right and wrong ones


# -- the model ----------------------------------------------------------------------------
def open_model(ref=None, image_size=150):
    """``(model, info)``: a run folder or model file (``ref``), or the untrained thesis CNN
    at ``image_size`` (seed 0) when ``ref`` is None.

    info: threshold, class_names, source (text for the page), untrained (bool), equalize
    (the preprocessing the model's images get). An ensemble's folder shows its first member's
    network (the page says so): the views follow one network's layers.
    """
    if ref is None:
        model = thesis_cnn((image_size, image_size, 1), 2, seed=0)
        model.build()
        return model, {"threshold": 0.5, "class_names": list(DEFAULT_CLASS_NAMES),
                       "source": "the thesis CNN with untrained weights (seed 0)",
                       "untrained": True, "equalize": "none"}
    model, info = runs.load_run(ref)
    source = str(ref)
    if isinstance(model, Ensemble):
        source = (f"{ref}, an ensemble of {len(model.members)}: its first member, with that "
                  f"member's own probabilities (not the ensemble's mean)")
        model = model.members[0]
    return model, {"threshold": float(info["threshold"]),
                   "class_names": list(info["class_names"]), "source": source,
                   "untrained": False, "equalize": info["equalize"]}


def check_model(model):
    """The model's image side (H, W) after checking that explore can show it: inputs
    (H, W, 1) gray images, and a last layer that keeps its logits with a softmax (K >= 2
    outputs) or a sigmoid (1 output). ValueError otherwise, saying what was found."""
    if not model.built:
        model.build()
    shape = tuple(model.input_shape)
    if len(shape) != 3 or shape[2] != 1:
        raise ValueError(f"the model expects inputs of shape {shape}; explore feeds it gray "
                         f"X-rays of shape (H, W, 1)")
    last = model.layers[-1]
    outputs = last.output_shape
    kind = last.activation.name
    if len(outputs) != 1 or not ((kind == "softmax" and outputs[0] >= 2)
                                 or (kind == "sigmoid" and outputs[0] == 1)):
        raise ValueError(f"the last layer {last.name!r} gives {outputs} with activation "
                         f"{kind!r}; explore needs a softmax over 2 or more classes or one "
                         f"sigmoid output")
    return shape[:2]


def _n_classes(model):
    return max(2, model.layers[-1].output_shape[0])


def _p_positive(probs):
    """P(class 1) from one output vector (softmax: its entry 1; sigmoid: the only one)."""
    return float(probs[1] if len(probs) > 1 else probs[0])


# -- images -------------------------------------------------------------------------------
def _label_of(path, class_names):
    """The class index named by the image's folder (any case), else None."""
    folder = Path(path).parent.name.casefold()
    names = [name.casefold() for name in class_names]
    return names.index(folder) if folder in names else None


def read_images(paths, size, class_names=DEFAULT_CLASS_NAMES, equalize="none"):
    """``[(name, label or None, image (H, W, 1) float32)]`` for image files, preprocessed as
    in training (``equalize``: the run's equalisation); a file that cannot be decoded is
    skipped with a warning naming it."""
    if size[0] != size[1]:
        raise ValueError(f"the model takes {size[0]}x{size[1]} images; minicnn's "
                         f"preprocessing makes square ones")
    out = []
    for path in paths:
        try:
            image = preprocess_image(decode_image(path), size[0], equalize)
        except Exception as exc:  # any unreadable file: name it and go on
            warnings.warn(f"skipped image {path}: cannot decode it ({type(exc).__name__}: "
                          f"{exc})", stacklevel=2)
            continue
        out.append((Path(path).name, _label_of(path, class_names), image))
    if not out:
        raise ValueError("none of the images could be decoded")
    return out


def choose_images(model, info, data_dir=None, n=4):
    """n images from the data set's test/ folder, alternating the classes: with a trained
    model, one right and one wrong per class first (at the run's threshold), then right
    ones; untrained, the first of each class. Returns :func:`read_images`' list."""
    root = find_data_dir(data_dir)
    folder = root / "test" if (root / "test").is_dir() else root
    size = check_model(model)
    per_class = max(CANDIDATES_PER_CLASS, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                     # skipped files are not chosen
        ds = load_image_folder(folder, size[0], progress=False, use_cache=False,
                               limit_per_class=per_class, equalize=info["equalize"])
    probs = model.predict(ds.x)
    right = [(_p_positive(p) >= info["threshold"]) == bool(y) for p, y in zip(probs, ds.y)]
    order = _pick(ds.y, right, n, prefer_wrong=not info["untrained"])
    return [(Path(ds.paths[i]).name, int(ds.y[i]), ds.x[i]) for i in order]


def _pick(labels, right, n, prefer_wrong):
    """Indices of n samples alternating the classes; per class, when ``prefer_wrong``, the
    first right one and the first wrong one come first."""
    queues = []
    for label in np.unique(labels):
        members = [i for i in range(len(labels)) if labels[i] == label]
        if prefer_wrong:
            first = [next((i for i in members if right[i] == r), None) for r in (True, False)]
            first = [i for i in first if i is not None]
            members = first + [i for i in members if i not in first]
        queues.append(members)
    order = []
    while len(order) < n and any(queues):
        for queue in queues:
            if queue and len(order) < n:
                order.append(queue.pop(0))
    return order


# -- the numbers --------------------------------------------------------------------------
def forward(model, image):
    """Every layer's output for one image (H, W, 1): a list of arrays without the batch
    axis, from minicnn's forward pass (inference mode); the last is the probabilities."""
    return [out[0] for out in model.forward(image[None], keep=True)]


def _conv_window(layer, x, row, col):
    """The (KH, KW, C_in) window of the input x (H, W, C_in) that output pixel (row, col)
    of Conv2D ``layer`` reads; cells in the 'same' padding are zeros."""
    (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
    top = row * sh - pad_amounts(x.shape[0], kh, sh, layer.padding)[0]
    left = col * sw - pad_amounts(x.shape[1], kw, sw, layer.padding)[0]
    window = np.zeros((kh, kw, x.shape[2]), x.dtype)
    for i in range(kh):
        for j in range(kw):
            if 0 <= top + i < x.shape[0] and 0 <= left + j < x.shape[1]:
                window[i, j] = x[top + i, left + j]
    return window


def formula(model, image, layer, row, col, channel):
    """Thesis eq. (1) and (2) for one output pixel of a Conv2D: the numbers of the formula
    view. image (H, W, 1); layer: a Conv2D's name or index; channel: the output map (filter).

    Returns ``{window (KH, KW, C_in), kernel (KH, KW, C_in), partial (C_in,) = sum of
    window * kernel per input channel, bias, z = sum(partial) + bias, y = phi(z) (the value
    minicnn's forward pass put in the map)}``.
    """
    i = model.layer_index(layer)
    conv = model.layers[i]
    if not isinstance(conv, Conv2D):
        raise ValueError(f"layer {conv.name!r} is a {type(conv).__name__}, not a Conv2D")
    outputs = forward(model, image)
    x = image if i == 0 else outputs[i - 1]
    window = _conv_window(conv, x, row, col).astype(np.float64)
    kernel = conv.params["kernel"][:, :, :, channel].astype(np.float64)
    partial = (window * kernel).sum(axis=(0, 1))
    bias = float(conv.bias_or_zeros()[channel])
    return {"window": window, "kernel": kernel, "partial": partial, "bias": bias,
            "z": float(partial.sum() + bias), "y": float(outputs[i][row, col, channel])}


def _logits_loss(model):
    """The model's own cross-entropy, every option kept (for an uncompiled model the one its
    output implies), taken from the logits as training takes it: its gradient there is
    p - y."""
    return (model.loss or losses.get(_loss_name(model))).with_logits()


def loss_gradients(model, image, class_index):
    """dL/d(output) of every layer for one image taken as class ``class_index``, with
    L = the cross-entropy: ``{"loss", "input": dL/dx (H, W, 1), "layers": [dL/d(output of
    layer i) without the batch axis], "kernels": {layer index: (dK, db)}}``.

    The gradient at layer i's output is what ``model.backward`` returns when it stops at
    layer i + 1 (``start=i + 1``); the last call, down to the input, leaves every layer's
    dK and db in its ``grads``.
    """
    probs = forward(model, image)[-1]
    logits, label = model.layers[-1].logits, np.array([class_index])
    if len(probs) == 1:                                     # sigmoid: targets (N, 1)
        label = label.reshape(1, 1).astype(logits.dtype)
    loss = _logits_loss(model)
    dz = loss.gradient(label, logits)
    n = len(model.layers)
    grads = [None] * (n - 1) + [dz[0]]          # the last layer: dL/d(its logits)
    for start in range(n - 1, 0, -1):
        grads[start - 1] = model.backward(dz, from_logits=True, start=start)[0]
    dx = model.backward(dz, from_logits=True, start=0)[0]
    kernels = {i: (lay.grads["kernel"].copy(), _copy(lay.grads.get("bias")))
               for i, lay in enumerate(model.layers) if isinstance(lay, (Conv2D, Dense))}
    return {"loss": loss(label, logits), "input": dx, "layers": grads, "kernels": kernels}


def _copy(array):
    return None if array is None else np.array(array, copy=True)


def summary(array):
    """``{shape, min, max, meanAbs}`` of an array: what the backward view prints per layer."""
    array = np.asarray(array, dtype=np.float64)
    return {"shape": list(array.shape), "min": float(array.min()), "max": float(array.max()),
            "meanAbs": float(np.abs(array).mean())}


def gradient(model, image, layer, class_index):
    """:func:`summary` of dL/d(output of ``layer``) (a name or index; "input" for dL/dx) for
    one image (H, W, 1) taken as class ``class_index``: the page's ``gradient(image, layer)``.
    For the last layer it is dL/d(logits)."""
    grads = loss_gradients(model, image, class_index)
    if layer == "input":
        return summary(grads["input"])
    return summary(grads["layers"][model.layer_index(layer)])


def adam_step(model, image, label):
    """One Adam step (Keras's defaults, learning rate 0.001) on this one image with its
    label, on a deep copy of the model: ``{"loss": before the step, "kernels": {layer index:
    (new kernel, new bias or None)}}`` for every Conv2D and Dense layer. The model is not
    changed."""
    trained = copy.deepcopy(model)
    trained.compile("adam", _loss_name(model))
    loss, _ = trained.train_on_batch(image[None], np.array([label]))
    return {"loss": float(loss),
            "kernels": {i: (lay.params["kernel"].copy(), _copy(lay.params.get("bias")))
                        for i, lay in enumerate(trained.layers)
                        if isinstance(lay, (Conv2D, Dense))}}


def _loss_name(model):
    return ("sparse_categorical_crossentropy" if model.layers[-1].output_shape[0] > 1
            else "binary_crossentropy")


def dense_contributions(layer, x, top=TOP_CONTRIBUTIONS):
    """For a Dense layer and its input x (in,): per unit j, the inputs with the largest
    |x_i * w_ij| as ``[[i, x_i, w_ij], ...]`` and the sum of all the other products:
    ``{"top": (units, top) lists, "rest": (units,) list}``."""
    x = np.asarray(x, dtype=np.float64)
    products = x[:, None] * layer.params["kernel"].astype(np.float64)     # (in, units)
    top = min(top, len(x))
    order = np.argsort(-np.abs(products), axis=0, kind="stable")[:top]      # (top, units)
    kernel = layer.params["kernel"]
    lists, rest = [], []
    for j in range(products.shape[1]):
        idx = order[:, j]
        lists.append([[int(i), float(x[i]), float(kernel[i, j])] for i in idx])
        rest.append(float(products[:, j].sum() - products[idx, j].sum()))
    return {"top": lists, "rest": rest}


# -- packing arrays for the page -----------------------------------------------------------
def _pack(array, dtype):
    """A numeric array as ``{"shape", "dtype", "b64"}``: its bytes (little-endian), zlib-
    compressed and base64-encoded; the page inflates it into a typed array."""
    array = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<"))
    data = zlib.compress(array.tobytes(), 9)
    return {"shape": list(array.shape), "dtype": np.dtype(dtype).name,
            "b64": base64.b64encode(data).decode("ascii")}


def _pack_map(values, signed=False):
    """An output or a gradient for display. (H, W, C) maps become 8-bit, channel first
    (C, H, W): q = round((value - lo) / (hi - lo) * levels), each map with its own lo and hi
    (its min and max; ``signed``: -max|value| and +max|value| with 254 levels, so that 0 is
    exactly q = 127). The page reads value = lo + q / levels * (hi - lo). 1-D vectors stay
    float32."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3:
        return {"vector": _pack(values.ravel(), np.float32)}
    maps = values.transpose(2, 0, 1).reshape(values.shape[2], -1)
    if signed:
        hi = np.abs(maps).max(axis=1)
        lo, levels = -hi, 254
    else:
        lo, hi, levels = maps.min(axis=1), maps.max(axis=1), 255
    span = np.where(hi > lo, hi - lo, 1.0)
    q = np.rint((maps - lo[:, None]) / span[:, None] * levels)
    return {"q": _pack(q.reshape(values.shape[2], *values.shape[:2]), np.uint8),
            "lo": lo.tolist(), "hi": hi.tolist(), "levels": levels}


# -- the page's data ----------------------------------------------------------------------
LAYER_NOTES = {
    "Conv2D": "Each map is one filter slid over all input maps: z = sum of w * x over a "
              "{k} window of every input channel, plus the bias (eq. 1); y = {act}(z) "
              "(eq. 2).",
    "MaxPooling2D": "Each value is the largest of a {k} block of the map before: the map "
                    "shrinks, the strongest response survives.",
    "AveragePooling2D": "Each value is the mean of a {k} block of the map before.",
    "GlobalAveragePooling2D": "Each map becomes one number: its mean.",
    "BatchNormalization": "Each channel is standardised with the moving mean and variance "
                          "learnt in training, then scaled by gamma and shifted by beta.",
    "Flatten": "The maps laid out in one long row: index = (row * width + column) * "
               "channels + channel (row-major, channels last, as Keras).",
    "Dense": "Each unit reads every input: z = sum of w * x plus the bias (eq. 1); "
             "y = {act}(z) (eq. 2).",
    "Dropout": "At prediction time Dropout lets every value through unchanged.",
    "ReLU": "y = max(0, x) for every value (eq. 2 with the ReLU).",
    "Sigmoid": "y = 1 / (1 + e^-x) for every value (eq. 3).",
    "Softmax": "The values turned into probabilities: e^x_k / sum of e^x_j.",
}


def _layer_entry(layer):
    """What the page needs to know about one layer, weights included: the formula view reads
    the Conv2D kernels, and the page's own forward pass (an image added in the page) every
    weight and BatchNormalization's moving statistics."""
    kind = type(layer).__name__
    window = layer.window
    size = "x".join(map(str, window.size)) if window else ""
    entry = {"name": layer.name, "type": kind, "inputShape": list(layer.input_shape),
             "outputShape": list(layer.output_shape), "activation": layer.activation.name,
             "params": layer.count_params(),
             "note": LAYER_NOTES.get(kind, "").format(k=size,
                                                       act=layer.activation.name or "identity")}
    if window is not None:
        entry["window"] = {"size": list(window.size), "strides": list(window.strides),
                           "padBefore": [pad_amounts(n, k, s, window.padding)[0] for n, k, s
                                         in zip(layer.input_shape, window.size,
                                                window.strides)]}
    if isinstance(layer, (Conv2D, Dense)):
        entry["bias"] = layer.bias_or_zeros().astype(np.float64).tolist()
        entry["kernel"] = _pack(layer.params["kernel"], np.float32)
    if isinstance(layer, BatchNormalization):
        entry["norm"] = {"gamma": _list(layer.params.get("gamma")),      # None: 1 and 0
                         "beta": _list(layer.params.get("beta")),
                         "mean": _list(layer.state["moving_mean"]),
                         "variance": _list(layer.state["moving_variance"]),
                         "epsilon": float(layer.epsilon)}
    return entry


def _backward_entry(model, image, class_index, first=None):
    """The backward view's data for one image and one class taken as the label.

    ``first``: the entry of class 0 and its gradients. With two classes the gradient of the
    second, dL/d(logits) = p - e_1, is a multiple of the first's, p - e_0 (the backward pass
    is linear in it): when minicnn's gradients confirm it, only the factor is stored and the
    page scales class 0's maps by it. The summaries are always this class's own.
    """
    grads = loss_gradients(model, image, class_index)
    convs = [i for i, lay in enumerate(model.layers) if isinstance(lay, Conv2D)]
    entry = {"loss": grads["loss"], "summary": [summary(g) for g in grads["layers"]],
             "inputSummary": summary(grads["input"]), "gradcam": None}
    if convs:        # a sigmoid has one score, its logit: its Grad-CAM serves both labels
        score_class = class_index if model.layers[-1].output_shape[0] > 1 else 0
        cam = grad_cam(model, image[None], class_index=score_class)[0]
        entry["gradcam"] = _pack(np.rint(cam * 255), np.uint8)
    factor = _factor(first[1], grads) if first else None
    if factor is not None:
        return {**entry, "sameAs": 0, "factor": factor}, grads
    return {**entry, "input": _pack_map(grads["input"], signed=True),
            "maps": [_pack_map(g, signed=True) for g in grads["layers"]],
            "dK": {str(i): _pack(grads["kernels"][i][0], np.float32) for i in convs},
            "dB": {str(i): _list(grads["kernels"][i][1]) for i in convs}}, grads


def _factor(base, grads):
    """f with grads = f * base for every layer's gradient (to float32 rounding), else None."""
    a, b = base["layers"][-1], grads["layers"][-1]
    k = int(np.argmax(np.abs(a)))
    if a[k] == 0:
        return None
    f = float(b[k] / a[k])
    pairs = list(zip(base["layers"], grads["layers"])) + [(base["input"], grads["input"])]
    same = all(np.allclose(f * np.asarray(x, np.float64), y, rtol=1e-4,
                           atol=1e-6 * (np.abs(y).max() + 1e-30)) for x, y in pairs)
    return f if same else None


def _backward_entries(model, image):
    """:func:`_backward_entry` for every class, each later one stored as a multiple of
    class 0's when it is one."""
    first = _backward_entry(model, image, 0)
    entries = [first[0]]
    for c in range(1, _n_classes(model)):
        entries.append(_backward_entry(model, image, c, first)[0])
    return entries


def _list(array):
    """A JSON list of float64 values (None stays None)."""
    return None if array is None else np.asarray(array, dtype=np.float64).tolist()


def _adam_entry(model, image, label):
    """One Adam step on this image: the change of every Conv2D's kernel and bias (new - old,
    float32; the page adds it to the kernel it shows)."""
    step = adam_step(model, image, label)
    convs = [i for i, lay in enumerate(model.layers) if isinstance(lay, Conv2D)]
    layers = model.layers
    return {"label": int(label), "loss": step["loss"],
            "dKernel": {str(i): _pack(_change(step["kernels"][i][0], layers[i].params["kernel"]),
                                 np.float32) for i in convs},
            "dBias": {str(i): _list(_change(step["kernels"][i][1], layers[i].bias_or_zeros()))
                      for i in convs}}


def _change(new, old):
    return None if new is None else np.asarray(new, np.float64) - np.asarray(old, np.float64)


def _dense_entries(model, inputs, outputs):
    """Per Dense layer: :func:`dense_contributions`, z and y, read right after the forward
    pass of ``outputs`` (the layers' logits are those of the last forward pass)."""
    return {str(i): {**dense_contributions(lay, inputs[i]), "z": _list(lay.logits[0]),
                     "y": _list(outputs[i])}
            for i, lay in enumerate(model.layers) if isinstance(lay, Dense)}


def _image_entry(model, info, name, label, image):
    """Everything the page shows for one image: forward maps, exact conv inputs, dense
    contributions, the backward pass for each class, the Adam step."""
    outputs = forward(model, image)
    inputs = [image] + outputs[:-1]
    dense = _dense_entries(model, inputs, outputs)      # before any other pass
    logits = model.layers[-1].logits
    probs = outputs[-1].astype(np.float64)
    p = _p_positive(probs)
    predicted = int(p >= info["threshold"]) if len(probs) <= 2 else int(np.argmax(probs))
    exact = [i for i, lay in enumerate(model.layers) if isinstance(lay, Conv2D)]  # inputs
    return {
        "name": name, "label": label, "probability": p, "predicted": predicted,
        "correct": None if label is None else predicted == label,
        "image": _pack(image[:, :, 0], np.float32),
        "exact": {str(i): _pack(inputs[i], np.float32) for i in exact if i > 0},
        "maps": [None if i + 1 in exact else _pack_map(out) for i, out in enumerate(outputs)],
        "logits": _list(logits[0]), "probs": probs.tolist(), "dense": dense,
        "backward": _backward_entries(model, image),
        "adam": _adam_entry(model, image, predicted if label is None else label)}


def page_data(model, images, info):
    """The page's data as a JSON-able dict: the model's layers and, per image (from
    :func:`read_images` / :func:`choose_images`), every number the views show."""
    check_model(model)
    names = list(info.get("class_names") or DEFAULT_CLASS_NAMES)
    return {"version": __version__, "source": info["source"], "untrained": info["untrained"],
            "threshold": info["threshold"], "classNames": names[:_n_classes(model)],
            "inputShape": list(model.input_shape), "params": model.count_params(),
            "layers": [_layer_entry(layer) for layer in model.layers],
            "images": [_image_entry(model, info, *item) for item in images]}


# -- the page -----------------------------------------------------------------------------
def write_page(path, data):
    """Write the self-contained page for ``data`` (:func:`page_data`) to ``path``; returns
    the Path. The data sits in a JSON script element (every ``<`` escaped as \\u003c)."""
    path = Path(path)
    payload = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    atomic_write(path, render(payload).encode("utf-8"))
    return path


def explore(model_ref=None, data_dir=None, n_images=4, image_paths=None, out=None,
            image_size=150):
    """Build and write the page; returns its Path. model_ref: a run folder or model file
    (None: the untrained thesis CNN at ``image_size``); image_paths: image files to show
    instead of n_images picked from the data set's test/ folder; out: the file (default
    explore.html in the run folder, else in the working directory)."""
    model, info = open_model(model_ref, image_size)
    size = check_model(model)
    if image_paths:
        images = read_images(image_paths, size, info["class_names"], info["equalize"])
    else:
        images = choose_images(model, info, data_dir, n_images)
    if out is None:
        ref = Path(model_ref) if model_ref else None
        out = ref / PAGE_NAME if ref is not None and ref.is_dir() else Path(PAGE_NAME)
    return write_page(out, page_data(model, images, info))


def add_arguments(parser):
    """The options of ``minicnn explore`` (see the module docstring)."""
    parser.add_argument("--model", metavar="RUN_OR_FILE",
                        help="run folder or model file (default: the thesis CNN with "
                             "untrained weights)")
    parser.add_argument("--data", help=f"chest_xray folder (default: {describe_places()}); "
                                       f"its test/ images are shown")
    parser.add_argument("--images", type=int_argument(1), default=4, metavar="N",
                        help="how many test X-rays to embed (default 4)")
    parser.add_argument("image_files", nargs="*", metavar="IMAGE",
                        help="image files to show instead of test X-rays")
    parser.add_argument("--out", help=f"the page (default: {PAGE_NAME} in the run folder, "
                                      f"else in the working directory)")
    parser.add_argument("--image-size", type=int_argument(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE),
                        default=150,
                        help="image side for the untrained model (default 150)")


def run(args):
    """Write the page for parsed ``args``; prints where it went and its size. Exit code 0, or
    2 with a message on stderr for a model or data that cannot be shown. Warnings (skipped
    images, a run without a threshold) go to stderr."""
    path = error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            path = explore(args.model, args.data, args.images, args.image_files, args.out,
                           args.image_size)
        except (ValueError, FileNotFoundError) as exc:
            error = exc
    for warning in caught:
        print(f"minicnn explore: warning: {warning.message}", file=sys.stderr)
    if error is not None:
        print(f"minicnn explore: error: {error}", file=sys.stderr)
        return 2
    print(f"explore page written to {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="minicnn explore",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
