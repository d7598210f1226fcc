"""Numerical gradient checks: is the backward pass the derivative of the forward pass?

The recipe: float64, centred differences with h = 1e-5,
    dL/dx_i ~ (L(x + h e_i) - L(x - h e_i)) / (2 h),
a random upstream gradient g so that L = sum(g * layer(x)) weighs every output differently,
and the relative error max |a - n| / max(1e-8, |a| + |n|) between analytic a and numeric n.
Expect < 1e-7 for smooth ops and < 1e-5 where ReLU or max-pooling have kinks.
"""
import copy

import numpy as np


def numerical_gradient(f, x, h=1e-5):
    """Centred-difference gradient of ``sum(f(x))`` at ``x`` (any shape).

    ``f`` may return a scalar or an array of terms; for an array the two evaluations are
    subtracted term by term before summing, so terms that x_i does not touch cancel exactly
    instead of drowning the difference in the rounding error of a large sum.
    ``f`` is called on a perturbed copy of ``x``; ``x`` itself is never changed.
    """
    x = np.array(x, dtype=np.float64)          # the copy we perturb
    grad = np.empty_like(x)
    for i in np.ndindex(x.shape):
        keep = x[i]
        x[i] = keep + h
        up = f(x)
        x[i] = keep - h
        down = f(x)
        x[i] = keep
        grad[i] = np.sum(np.asarray(up, np.float64) - down) / (2 * h)
    return grad


def relative_error(analytic, numeric):
    """max |a - n| / max(1e-8, |a| + |n|), elementwise then the worst; 0.0 for empty arrays."""
    a, n = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    if a.shape != n.shape:
        raise ValueError(f"shapes differ: analytic {a.shape}, numeric {n.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n))))


def check_layer(layer, x, seed=0, h=1e-5, training=None):
    """Relative errors of a layer's dx and of every trainable parameter's gradient.

    The layer (built, or built from ``x``) is switched to float64 weights for the check.
    x: (N, *input_shape). ``training`` (default: the layer's ``has_training_mode``) runs the
    forward pass in training mode. Every evaluation runs on a fresh copy of the layer as it
    was, so a dropout mask or BatchNormalization's moving statistics are the same each time.
    Returns ``{"dx": err, "kernel": err, "bias": err, ...}``.
    """
    x = np.array(x, dtype=np.float64)
    if not layer.built:
        layer.build(x.shape[1:], rng=seed)
    if training is None:
        training = layer.has_training_mode
    for store in (layer.params, layer.state):
        store.update({k: v.astype(np.float64) for k, v in store.items()})
    g = np.random.default_rng(seed).normal(size=(len(x),) + layer.output_shape)
    snapshot = copy.deepcopy(layer)

    def loss_at(inputs, params=None):          # the terms of L = sum(g * y)
        fresh = copy.deepcopy(snapshot)
        fresh.params.update(params or {})
        return g * fresh.forward(inputs, training=training)

    analytic = copy.deepcopy(snapshot)
    analytic.forward(x, training=training)
    errors = {"dx": relative_error(analytic.backward(g), numerical_gradient(loss_at, x, h))}
    for name, value in snapshot.params.items():
        numeric = numerical_gradient(lambda p, name=name: loss_at(x, {name: p}), value, h)
        errors[name] = relative_error(analytic.grads[name], numeric)
    return errors


def check_loss(loss, y_true, y_pred, sample_weight=None, h=1e-5):
    """Relative error of ``loss.gradient`` against centred differences of ``loss``."""
    y_pred = np.array(y_pred, dtype=np.float64)
    numeric = numerical_gradient(lambda p: loss(y_true, p, sample_weight), y_pred, h)
    return relative_error(loss.gradient(y_true, y_pred, sample_weight), numeric)
