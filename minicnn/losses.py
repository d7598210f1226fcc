"""Cross-entropy losses as Keras computes them, with their gradients.

The loss of a batch is the mean over its N samples of each sample's loss times its weight
(weights default to 1; the divisor stays N, as Keras's "sum_over_batch_size").

From probabilities, p is clipped to [1e-7, 1 - 1e-7] first (Keras's epsilon). From logits the
formulas are the numerically stable ones. When the model's last layer is the matching
activation (softmax, sigmoid), the model computes the loss from the logits, as Keras does,
and its gradient is simply (p - y) * weight / N.
"""
import numpy as np

from .kernels import sigmoid, softmax

# The losses work in float64 on (N, K) logits, a few hundred numbers: NumPy is as quick there
# as Numba, which would compile a float64 copy of its kernel (about 4% of the first training
# step's compilation, docs/benchmarks.md) that nothing else uses.
_LOSS_TIER = "numpy"

EPSILON = 1e-7


def _sample_weight(sample_weight, n):
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have one weight per sample ({n}), got shape "
                         f"{np.shape(sample_weight)}")
    return w


def check_labels(y_true, n_classes, n):
    """Integer labels (N,) in [0, n_classes) from (N,) or (N, 1)."""
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n,):
        raise ValueError(f"y_true must hold one label per sample, shape ({n},), got "
                         f"{np.shape(y_true)}")
    if y.size and not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError("sparse labels must be integers")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes - 1}] for {n_classes} classes, "
                         f"got values in [{y.min()}, {y.max()}]")
    return y


class Loss:
    """A loss: ``loss(y_true, y_pred, sample_weight=None) -> float`` (the batch mean) and
    ``loss.gradient(...) -> dL/dy_pred`` (shape of y_pred)."""

    name = "loss"
    activation = None           # the activation whose logits this loss can take directly

    def __init__(self, from_logits=False):
        self.from_logits = bool(from_logits)

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred, dtype=np.float64)
        per_sample = self.per_sample(y_true, y_pred)
        return float(np.sum(per_sample * _sample_weight(sample_weight, len(y_pred)))
                     / len(y_pred))

    def gradient(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred)
        w = _sample_weight(sample_weight, len(y_pred))
        g = self.per_sample_gradient(y_true, y_pred.astype(np.float64))
        g *= w.reshape((-1,) + (1,) * (g.ndim - 1)) / len(y_pred)
        return g.astype(y_pred.dtype if y_pred.dtype == np.float32 else np.float64)

    def get_config(self):
        """Every constructor argument (a subclass with an option adds it here)."""
        return {"from_logits": self.from_logits}

    def with_logits(self):
        """This loss with every option kept, taken from the logits (``from_logits=True``):
        what training uses when the model's last activation is the loss's own."""
        return type(self)(**{**self.get_config(), "from_logits": True})


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy with integer labels: y_true (N,), y_pred (N, K) probabilities or logits.

    Per sample: -log p_y (from probabilities, clipped; Keras renormalises the clipped values,
    which adds log sum_k clip(p_k)); from logits: logsumexp(z) - z_y.
    """

    name = "sparse_categorical_crossentropy"
    activation = "softmax"

    def _split(self, y_true, y_pred):
        if y_pred.ndim != 2:
            raise ValueError(f"y_pred must have shape (N, classes), got {y_pred.shape}")
        y = check_labels(y_true, y_pred.shape[1], len(y_pred))
        return y, np.eye(y_pred.shape[1])[y]

    def per_sample(self, y_true, y_pred):
        y, _ = self._split(y_true, y_pred)
        if self.from_logits:
            z = y_pred - y_pred.max(axis=1, keepdims=True)
            return np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]
        c = np.clip(y_pred, EPSILON, 1 - EPSILON)
        return np.log(c.sum(axis=1)) - np.log(c[np.arange(len(y)), y])

    def per_sample_gradient(self, y_true, y_pred):
        y, onehot = self._split(y_true, y_pred)
        if self.from_logits:
            return softmax(y_pred, backend=_LOSS_TIER) - onehot
        c = np.clip(y_pred, EPSILON, 1 - EPSILON)
        inside = (y_pred >= EPSILON) & (y_pred <= 1 - EPSILON)
        return (1 / c.sum(axis=1, keepdims=True) - onehot / c) * inside


class BinaryCrossentropy(Loss):
    """Binary cross-entropy: y_true and y_pred (N, D) (or (N,)), labels in [0, 1].

    Per sample, the mean over D of -(y log p + (1 - y) log(1 - p)) (p clipped); from logits
    max(z, 0) - z y + log(1 + e^-|z|).
    """

    name = "binary_crossentropy"
    activation = "sigmoid"

    def _targets(self, y_true, y_pred):
        y = np.asarray(y_true, dtype=np.float64)
        if y.shape != y_pred.shape and y.reshape(-1).shape == y_pred.reshape(-1).shape:
            y = y.reshape(y_pred.shape)
        if y.shape != y_pred.shape:
            raise ValueError(f"y_true has shape {np.shape(y_true)} but y_pred has shape "
                             f"{y_pred.shape}")
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(f"binary targets must lie in [0, 1], got [{y.min()}, {y.max()}]")
        return y

    def _mean_axes(self, a):
        return a.mean(axis=tuple(range(1, a.ndim))) if a.ndim > 1 else a

    def per_sample(self, y_true, y_pred):
        y = self._targets(y_true, y_pred)
        if self.from_logits:
            z = y_pred
            loss = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        else:
            c = np.clip(y_pred, EPSILON, 1 - EPSILON)
            loss = -(y * np.log(c) + (1 - y) * np.log(1 - c))
        return self._mean_axes(loss)

    def per_sample_gradient(self, y_true, y_pred):
        y = self._targets(y_true, y_pred)
        d = y_pred[0].size if y_pred.ndim > 1 else 1        # the mean over D divides by D
        if self.from_logits:
            return (sigmoid(y_pred, backend=_LOSS_TIER) - y) / d
        c = np.clip(y_pred, EPSILON, 1 - EPSILON)
        inside = (y_pred >= EPSILON) & (y_pred <= 1 - EPSILON)
        return (-y / c + (1 - y) / (1 - c)) * inside / d


LOSSES = {cls.name: cls for cls in (SparseCategoricalCrossentropy, BinaryCrossentropy)}


def get(loss):
    """A Loss from an instance or Keras's string name."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise ValueError(f"unknown loss {loss!r}; use a Loss object or one of {sorted(LOSSES)}")
