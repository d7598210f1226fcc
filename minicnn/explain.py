"""Looking inside a trained network: activations, saliency maps and Grad-CAM.

Everything here uses the engine's own backward pass (the same ``Layer.backward`` that training
uses), not an automatic-differentiation library. The quantity explained is a class *score*:
the last layer's logit z_c (its activation input, before the softmax), as in Simonyan et al.
(2014) for saliency and Selvaraju et al. (2017) for Grad-CAM.

Side effects: an explanation runs a forward pass (inference mode) and a backward pass, so it
overwrites each layer's cached activations and its ``grads`` dict. It never changes the
weights (``params``) or the optimizer's state; train after it as usual.

Shapes: x (N, H, W, C) as the model expects; maps returned as (N, H, W) float32 in [0, 1].
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .kernels.geometry import pad_amounts
from .layers import Conv2D

__all__ = ["ScoreGradient", "class_score_gradients", "saliency", "grad_cam", "layer_outputs",
           "last_conv_layer", "receptive_field_centres"]

#: Result of :func:`class_score_gradients`.
#: gradient: d score / d (input or the chosen layer's output), same shape as ``activation``;
#: activation: the input x, or the chosen layer's output (N, ...);
#: score: (N,) the chosen class's logit per sample; class_index: (N,) the class used.
ScoreGradient = namedtuple("ScoreGradient", ["gradient", "activation", "score", "class_index"])


def _check_batch(model, x):
    """x as an array of shape (N, *model.input_shape), the model built."""
    if not model.built:
        model.build()
    x = np.asarray(x)
    expected = tuple(model.input_shape)
    if x.ndim != len(expected) + 1 or x.shape[1:] != expected:
        hint = " (add a batch axis: x[None])" if x.shape == expected else ""
        raise ValueError(f"expected a batch of shape (N, {', '.join(map(str, expected))}), "
                         f"got {x.shape}{hint}")
    if len(x) == 0:
        raise ValueError("x holds no samples")
    return x


def _layer_index(model, layer):
    """Index in model.layers of ``layer`` (:meth:`Sequential.layer_index`); -1 for None
    (the input)."""
    return -1 if layer is None else model.layer_index(layer)


def last_conv_layer(model):
    """The model's last Conv2D layer (Grad-CAM's default); ValueError if there is none."""
    for layer in reversed(model.layers):
        if isinstance(layer, Conv2D):
            return layer
    raise ValueError("the model has no Conv2D layer; pass layer= to choose one")


def _class_indices(class_index, logits):
    n, k = logits.shape
    if class_index is None:
        return logits.argmax(axis=1)
    idx = np.asarray(class_index)
    if idx.ndim == 0:
        idx = np.full(n, int(idx))
    if idx.shape != (n,) or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"class_index must be None, an int or (N,) = ({n},) ints, got "
                         f"{np.asarray(class_index)!r}")
    if idx.min() < 0 or idx.max() >= k:
        raise ValueError(f"class_index must be in 0..{k - 1} (the model has {k} outputs), "
                         f"got {sorted(set(idx.tolist()))}")
    return idx.astype(np.int64)


def class_score_gradients(model, x, class_index=None, layer=None, batch_size=32):
    """Gradient of a class score with respect to the input or to one layer's output.

    model: a built :class:`~minicnn.Sequential` whose last layer gives (N, K) outputs.
    x: (N, *model.input_shape). class_index: None (each sample's predicted class), an int
    (the same class for all) or (N,) ints. layer: None (gradient w.r.t. x), or a layer of the
    model (object, name or index) other than the last: gradient w.r.t. that layer's output
    A, e.g. (N, h, w, filters) for a Conv2D.

    The score of class c is the last layer's logit z_c (``model.layers[-1].logits``, before
    the softmax). The backward pass starts from a one-hot dz = e_c at the logits
    (``backward_from_logits``) and goes down through ``Layer.backward``. Layers' ``grads``
    are overwritten; weights and optimizer state are not touched.

    Returns a :data:`ScoreGradient` (gradient, activation, score, class_index).
    """
    x = _check_batch(model, x)
    stop = _layer_index(model, layer)
    if stop == len(model.layers) - 1:
        raise ValueError("layer must come before the last layer (the score is the last "
                         "layer's logit)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    per_sample = class_index is not None and np.ndim(class_index) > 0
    if per_sample and len(class_index) != len(x):
        raise ValueError(f"class_index has {len(class_index)} entries for {len(x)} samples")
    last = model.layers[-1]
    parts = {"gradient": [], "activation": [], "score": [], "class_index": []}
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        outputs = model.forward(xb, keep=True)
        if last.logits is None:
            raise ValueError(f"the last layer {last.name!r} keeps no logits (its activation "
                             f"is fused into its op); end the model with a Dense layer to "
                             f"explain class scores")
        logits = np.asarray(last.logits).reshape(len(xb), -1)
        wanted = (np.asarray(class_index)[start:start + batch_size] if per_sample
                  else class_index)
        idx = _class_indices(wanted, logits)
        rows = np.arange(len(xb))
        dz = np.zeros_like(logits)
        dz[rows, idx] = 1
        grad = model.backward(dz.reshape(last.logits.shape), from_logits=True, start=stop + 1)
        parts["gradient"].append(np.array(grad, copy=True))
        parts["activation"].append(np.array(xb if stop < 0 else outputs[stop], copy=True))
        parts["score"].append(logits[rows, idx].copy())
        parts["class_index"].append(idx)
    return ScoreGradient(**{k: np.concatenate(v) for k, v in parts.items()})


def _normalise(maps):
    """Each map (N, H, W) divided by its maximum (all-zero maps stay zero), float32."""
    maps = np.asarray(maps, dtype=np.float64)
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    out = np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def saliency(model, x, class_index=None):
    """Saliency maps (Simonyan et al., 2014): |d score / d x|, the maximum over channels,
    scaled to [0, 1] per image.

    x (N, H, W, C) -> (N, H, W) float32. class_index as :func:`class_score_gradients`.
    Overwrites the layers' ``grads``; weights are unchanged.
    """
    result = class_score_gradients(model, x, class_index)
    grad = np.abs(result.gradient)
    if grad.ndim == 4:
        grad = grad.max(axis=3)
    elif grad.ndim != 3:
        raise ValueError(f"saliency needs image inputs (N, H, W[, C]), got {grad.shape}")
    return _normalise(grad)


def grad_cam(model, x, class_index=None, layer=None):
    """Grad-CAM heat maps (Selvaraju et al., 2017), (N, H, W) float32 in [0, 1].

    For the feature maps A (N, h, w, K) of ``layer`` (default: the last Conv2D):
    weights w_k = mean over (h, w) of d score / d A_k; map = ReLU(sum_k w_k A_k), brought to
    the input's H x W and divided by its maximum per image (a map with no positive evidence
    is all zeros). x (N, H, W, C); class_index as :func:`class_score_gradients`.

    Upsampling is bilinear (scikit-image) with each cell of A placed at the centre of its
    receptive field: 'valid' convolutions shrink the maps towards the middle (the thesis
    CNN's 15 x 15 cells at 150 px are centred on pixels 18.5, 26.5, ..., 130.5), so a plain
    stretch to the full width would push every hot spot outwards. Layers of unknown geometry
    fall back to ``skimage.transform.resize``. Overwrites the layers' ``grads``; weights are
    unchanged.
    """
    x = _check_batch(model, x)
    if len(model.input_shape) != 3:
        raise ValueError(f"grad_cam needs image inputs (H, W, C), the model takes "
                         f"{model.input_shape}")
    if layer is None:
        layer = last_conv_layer(model)
    result = class_score_gradients(model, x, class_index, layer)
    acts, grads = result.activation, result.gradient
    if acts.ndim != 4:
        raise ValueError(f"grad_cam needs a layer with (N, h, w, K) outputs, got {acts.shape}; "
                         f"choose a Conv2D or pooling layer")
    weights = grads.mean(axis=(1, 2), dtype=np.float64)                 # (N, K)
    cams = np.maximum(np.einsum("nhwk,nk->nhw", acts.astype(np.float64), weights), 0.0)
    upsampled = _upsample(cams, tuple(model.input_shape[:2]),
                          receptive_field_centres(model, layer))
    return _normalise(upsampled)


def receptive_field_centres(model, layer):
    """Where the cells of ``layer``'s output (a Layer, its name or index) sit in the input:
    ``((start_row, jump_row), (start_col, jump_col))``, cell (i, j) centred at input pixel
    (start_row + jump_row * i, start_col + jump_col * j); None when a layer on the way has
    an unknown geometry. The thesis CNN's last Conv2D at 150 px: ((18.5, 8), (18.5, 8)).

    Each layer with a sliding window (``layer.window``: size k, stride s, padding p_before;
    convolutions and poolings) moves the centre of cell i to ``s * i + (k - 1) / 2 -
    p_before`` in its own input; layers that keep the spatial shape (activations, Dropout,
    BatchNormalization) change nothing.
    """
    if not model.built:
        model.build()
    stop = _layer_index(model, layer)
    start, jump = [0.0, 0.0], [1.0, 1.0]
    for lay in model.layers[:stop + 1]:
        if lay.window is not None:
            size, strides, padding = lay.window
            for axis in (0, 1):
                before, _ = pad_amounts(lay.input_shape[axis], size[axis], strides[axis],
                                        padding)
                start[axis] += jump[axis] * ((size[axis] - 1) / 2 - before)
                jump[axis] *= strides[axis]
        elif lay.input_shape != lay.output_shape:
            return None
    return tuple(zip(start, jump))


def _upsample(cams, size, centres):
    """(N, h, w) maps to (N, H, W): bilinear, each cell placed at the centre of its receptive
    field (``centres`` from :func:`receptive_field_centres`), the edges held beyond the
    outermost centres; a plain stretch (``skimage.transform.resize``) when the geometry is
    unknown."""
    from skimage.transform import resize, warp

    if centres is None:
        return np.stack([resize(cam, size, order=1, mode="edge", anti_aliasing=False)
                         for cam in cams])
    (r0, rj), (c0, cj) = centres
    rows = (np.arange(size[0]) - r0) / rj          # fractional cell index of each pixel
    cols = (np.arange(size[1]) - c0) / cj
    coords = np.stack(np.meshgrid(rows, cols, indexing="ij"))
    return np.stack([warp(cam, coords, order=1, mode="edge", preserve_range=True)
                     for cam in cams])


def layer_outputs(model, x):
    """Every layer's output for x (N, *input_shape): ``{layer name: array (N, ...)}`` in
    layer order (copies), e.g. ``(N, 148, 148, 64)`` for the thesis CNN's first Conv2D."""
    x = _check_batch(model, x)
    outputs = model.forward(x, keep=True)
    return {lay.name: np.array(out, copy=True) for lay, out in zip(model.layers, outputs)}
