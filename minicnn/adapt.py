"""Adapting a trained model to new images without their labels (docs/shift.md).

Three tools, each off by default, each using the new images (x) but never their labels:

- *prior shift* (Saerens, Latinne and Decaestecker, 2002): the EM estimate of the new
  images' class prior from the model's probabilities, and the probabilities moved to it;
- *AdaBN* (Li et al., 2016): every BatchNormalization's moving mean and variance replaced by
  the per-channel mean and (biased) variance of its inputs over the new images;
- *test-time augmentation*: P(pneumonia) averaged over N seeded draws of the run's
  training augmentations.

Every function is pure: the model and the arrays passed in are not changed.
"""
from __future__ import annotations

import math

import numpy as np

from .fusion import forward_steps
from .layers import BatchNormalization
from .model import Ensemble, Sequential
from .validation import SettingError

__all__ = ["METHODS", "parse_adapt", "adapt_name", "parse_adapt_name", "training_prior",
           "move_prior", "em_prior", "adapt_batchnorm", "tta_probability", "adapted_probability",
           "threshold_on_unadapted_scale", "run_training_prior"]

#: What ``--adapt`` accepts: none, or these, comma-separated, applied in this order.
METHODS = ("bn", "prior")


def parse_adapt(text):
    """``"none"`` -> (); ``"bn,prior"`` (any order) -> ("bn", "prior"): the methods in
    the order they are applied (AdaBN first, then the prior). SettingError otherwise."""
    words = [w.strip() for w in str(text).split(",")]
    if words == ["none"]:
        return ()
    unknown = [w for w in words if w not in METHODS]
    if unknown or len(set(words)) != len(words):
        raise SettingError(f"--adapt must be none or a comma-separated choice of "
                           f"{', '.join(METHODS)} (each once), got {text!r}")
    return tuple(m for m in METHODS if m in words)


def adapt_name(methods, tta=0):
    """The adaptation in a file name: ``bn-prior``, ``none-tta8``, ``prior-tta4``."""
    return "-".join(methods or ("none",)) + (f"-tta{tta}" if tta else "")


def parse_adapt_name(text):
    """An adaptation as :func:`adapt_name` spells it (``bn-prior-tta8``; a comma may stand
    for a dash: ``bn,prior``) -> its canonical name. SettingError otherwise."""
    methods, _, draws = str(text).replace(",", "-").partition("-tta")
    if draws and not (draws.isdigit() and int(draws) > 0):
        raise SettingError(f"an adaptation's -ttaN needs N >= 1, got {text!r}")
    return adapt_name(parse_adapt(methods.replace("-", ",")), int(draws or 0))


# -- prior shift ----------------------------------------------------------------------------
def training_prior(counts, class_weights=None):
    """The class-1 prior a model's probabilities are calibrated to.

    counts: (n0, n1) training images per class; class_weights: {0: w0, 1: w1} or None. The
    weighted log-likelihood sum_i w_{y_i} log p(y_i | x_i) is, in expectation, the
    log-likelihood under a prior whose class c has mass proportional to w_c n_c; its
    maximiser is the posterior under that prior:
        pi = w1 n1 / (w0 n0 + w1 n1)
    ('balanced' weights N / (2 n_c) give 0.5; no weights give n1 / (n0 + n1)).
    """
    n0, n1 = (float(c) for c in counts)
    w0, w1 = (1.0, 1.0) if class_weights is None else (
        float(class_weights[k]) for k in _keys(class_weights))
    if min(n0, n1) <= 0 or min(w0, w1) <= 0:
        raise ValueError(f"training counts {tuple(counts)} and class weights ({w0}, {w1}) "
                         f"must be positive to define a training prior")
    return w1 * n1 / (w0 * n0 + w1 * n1)


def _keys(class_weights):
    """The dict's keys for classes 0 and 1 (ints, or strings as JSON keeps them)."""
    return (0, 1) if 0 in class_weights else ("0", "1")


def _prior(value, what):
    value = float(value)
    if not 0 < value < 1:
        raise ValueError(f"{what} must be in (0, 1), got {value}")
    return value


def move_prior(p, from_prior, to_prior):
    """Posterior P(1 | x) (N,) calibrated to class-1 prior ``from_prior`` moved to the prior
    ``to_prior`` by Bayes' rule (the likelihoods p(x | y) unchanged):
        p' = a p / (a p + b (1 - p)),  a = to / from,  b = (1 - to) / (1 - from).
    Returns float64 (N,)."""
    p = np.asarray(p, dtype=np.float64)
    a = _prior(to_prior, "to_prior") / _prior(from_prior, "from_prior")
    b = (1 - to_prior) / (1 - from_prior)
    return a * p / (a * p + b * (1 - p))


def em_prior(p, train_prior, tol=1e-8, max_iter=1000):
    """EM estimate of the class-1 prior of unlabeled images (Saerens, Latinne and
    Decaestecker, 2002) from P(1 | x) (N,) calibrated to ``train_prior``.

    E step: the posteriors moved to the current prior (:func:`move_prior`); M step: the new
    prior is their mean. Starts at train_prior and stops when the prior changes by less
    than tol. Returns ``{"prior", "iterations", "converged", "p"}`` (p: the moved
    posteriors (N,) float64)."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or len(p) == 0 or not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
        raise ValueError(f"p must be a non-empty (N,) array of probabilities in [0, 1], got "
                         f"shape {p.shape}")
    prior = _prior(train_prior, "train_prior")
    for iteration in range(1, max_iter + 1):
        moved = move_prior(p, train_prior, prior)
        new = float(np.clip(moved.mean(), 1e-6, 1 - 1e-6))
        done, prior = abs(new - prior) < tol, new
        if done:
            break
    return {"prior": prior, "iterations": iteration, "converged": done,
            "p": move_prior(p, train_prior, prior)}


# -- AdaBN ----------------------------------------------------------------------------------
def _copy(model):
    clone = Sequential.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    return clone


def _through(layers, h, batch_size):
    """h (N, ...) run through ``layers`` (inference mode, fused where the model's forward
    would fuse them), batch by batch; returns the outputs (N, ...)."""
    if not layers:
        return h
    steps = [step for _, step in forward_steps(layers)]
    out = []
    for i in range(0, len(h), batch_size):
        batch = h[i:i + batch_size]
        for step in steps:
            batch = step.forward(batch, training=False)
        out.append(batch)
    return np.concatenate(out)


def _moments(h, chunk=64):
    """Per-channel mean and biased variance (float64, (C,)) of h (N, ..., C), over chunks
    of images combined by Chan et al.'s pairwise update (float64 copies of a few images at
    a time)."""
    n, mean, m2 = 0, 0.0, 0.0
    for i in range(0, len(h), chunk):
        part = np.asarray(h[i:i + chunk], dtype=np.float64).reshape(-1, h.shape[-1])
        k, p_mean = len(part), part.mean(axis=0)
        p_m2 = ((part - p_mean) ** 2).sum(axis=0)
        delta = p_mean - mean
        mean = mean + delta * k / (n + k)
        m2 = m2 + p_m2 + delta ** 2 * n * k / (n + k)
        n += k
    return mean, m2 / n


def batchnorm_layers(model):
    """The indices of ``model``'s BatchNormalization layers; ValueError when it has none."""
    found = [i for i, layer in enumerate(model.layers) if isinstance(layer, BatchNormalization)]
    if not found:
        raise ValueError("--adapt bn needs a model with BatchNormalization layers (e.g. "
                         "batch_norm = true); this model has none")
    return found


def adapt_batchnorm(model, x, batch_size=32):
    """A copy of ``model`` whose BatchNormalization layers' moving_mean and moving_variance
    are the per-channel mean and biased variance of each layer's inputs over the images x
    (N, S, S, 1), layer after layer (each one's inputs computed with the earlier layers
    already adapted), in inference mode: no other weight changes (AdaBN, Li et al., 2016).
    One pass over the layers: the inputs of one BatchNormalization are kept (N, ...) to
    compute the next one's. ValueError when the model has no BatchNormalization."""
    if isinstance(model, Ensemble):                  # each member adapted on its own
        return Ensemble([adapt_batchnorm(member, x, batch_size) for member in model.members])
    found = batchnorm_layers(model)
    if len(x) == 0:
        raise ValueError("AdaBN needs at least one image")
    adapted = _copy(model)
    h, start = x, 0                                  # h: the inputs of layers[start]
    for i in found:
        h = _through(adapted.layers[start:i], h, batch_size)
        mean, variance = _moments(h)
        state = adapted.layers[i].state
        state["moving_mean"] = mean.astype(state["moving_mean"].dtype)
        state["moving_variance"] = variance.astype(state["moving_variance"].dtype)
        start = i
    return adapted


# -- test-time augmentation -----------------------------------------------------------------
NO_AUGMENTATION = ("--tta needs a run trained with augmentation (augment = true or intensity "
                   "> 0); this one drew none")


def tta_probability(model, x, augment, draws, seed, batch_size=32):
    """P(pneumonia) (N,) float64 averaged over ``draws`` augmented copies of x (N, S, S, 1):
    ``augment(x, rng)`` as in training, one np.random.default_rng(seed) for all the draws
    (so the result depends only on x, the order of its rows and the seed, not on
    batch_size)."""
    if augment is None:
        raise ValueError(NO_AUGMENTATION)
    if draws < 1:
        raise ValueError(f"--tta needs at least 1 draw, got {draws}")
    rng = np.random.default_rng(seed)
    total = np.zeros(len(x))
    for _ in range(draws):                 # all of x at once: the draws ignore batch_size
        total += model.predict(augment(x, rng), batch_size)[:, 1]
    return total / draws


NO_TRAINING_PRIOR = ("--adapt prior needs the prior the model was trained under: give a run "
                     "folder, not a bare model file")
MEMBERS_DIFFER = ("--adapt prior needs the class prior the ensemble's members were trained "
                  "under, and theirs differ ({}): their mean probability has no single prior "
                  "to move from. Use --adapt none or bn, or members trained with the same "
                  "class weights")


def adapted_probability(model, x, methods=(), tta=0, train_prior=None, augment=None, seed=0,
                        batch_size=32):
    """P(pneumonia) (N,) of unlabeled images x (N, S, S, 1), unadapted and adapted.

    methods: from :func:`parse_adapt` ("bn" then "prior"); tta: draws of ``augment`` to
    average (0: none, seeded by ``seed``); train_prior: the prior the model's probabilities
    are calibrated to (:func:`training_prior`; needed for "prior"). Returns ``{"p": the
    unadapted (N,), "p_adapted": (N,), "prior": em_prior's result without "p", or None}``.
    """
    p = model.predict(x, batch_size)[:, 1].astype(np.float64)
    adapted = adapt_batchnorm(model, x, batch_size) if "bn" in methods else model
    q = (tta_probability(adapted, x, augment, tta, seed, batch_size) if tta else
         p if adapted is model else adapted.predict(x, batch_size)[:, 1].astype(np.float64))
    if not (np.isfinite(p).all() and np.isfinite(q).all()):
        raise ValueError("the model gives non-finite probabilities on these images; its "
                         "weights are damaged (diverged training?)")
    em = None
    if "prior" in methods:
        if train_prior is None:
            raise ValueError(NO_TRAINING_PRIOR)
        em = em_prior(q, train_prior)
        q = em.pop("p")
        em["train_prior"] = float(train_prior)
    return {"p": p, "p_adapted": q, "prior": em}


def threshold_on_unadapted_scale(threshold, prior):
    """The threshold t' on the unadapted probabilities equivalent to ``threshold`` on the
    prior-adapted ones (p' >= t exactly when p >= t'): move_prior back from the new prior."""
    if prior is None:
        return threshold
    t = float(move_prior(np.array([threshold]), prior["prior"], prior["train_prior"])[0])
    return t if math.isfinite(t) else threshold


def run_training_prior(config):
    """:func:`training_prior` of a run from its config.json (a dict): the training counts
    and the class weights it recorded; None when they are missing (an older run). An
    ensemble's is its members' common prior, recorded when it was made (None when they
    differ: their mean probability is then calibrated to no one prior)."""
    if "member_training_priors" in config:
        priors = config["member_training_priors"]
        return priors[0] if None not in priors and len(set(priors)) == 1 else None
    names, counts = config.get("class_names"), (config.get("counts") or {}).get("train")
    if not names or not counts:
        return None
    return training_prior([counts[name] for name in names[:2]],
                          config.get("class_weight_values"))
