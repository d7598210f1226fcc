"""BatchNormalization, with Keras's arguments, weights and update of the moving statistics."""
import numpy as np

from .. import kernels
from ..initializers import ones, zeros
from ..validation import SettingError, fraction
from .base import Layer, Weight, register


@register
class BatchNormalization(Layer):
    """Normalise each channel (the last axis), then scale and shift: y = gamma * x_hat + beta.

    Training: x_hat uses the batch's mean and biased variance over every axis but the last,
    and the moving statistics move towards them:
        moving = moving * momentum + batch * (1 - momentum).
    Inference: x_hat uses the moving statistics. x (N, ..., C) -> same shape; gamma, beta
    (trainable) and moving_mean, moving_variance (``state``) are (C,), in that order in
    ``get_weights``, as Keras.
    """

    name_prefix = "batch_normalization"
    has_training_mode = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True,
                 name=None, dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        if axis not in (-1, [-1], (-1,)):
            raise SettingError(f"{self.name}: only axis=-1 (channels last) is supported, got "
                               f"{axis!r}")
        self.momentum = fraction(momentum, f"{self.name}: momentum")
        self.epsilon = fraction(epsilon, f"{self.name}: epsilon", 0.0, np.inf, closed=False)
        for option, value in (("center", center), ("scale", scale)):
            if not isinstance(value, bool):
                raise TypeError(f"{self.name}: {option} must be True or False, got {value!r}")
        self.center, self.scale = center, scale
        self._statistics = None

    def weight_specs(self, input_shape):
        channels = input_shape[-1:]
        specs = [Weight("gamma", channels, ones, True)] if self.scale else []
        specs += [Weight("beta", channels, zeros, True)] if self.center else []
        return specs + [Weight("moving_mean", channels, zeros, False),
                        Weight("moving_variance", channels, ones, False)]

    def _gamma_beta(self):
        dtype = self.state["moving_mean"].dtype
        channels = self.state["moving_mean"].shape
        return (self.params.get("gamma", np.ones(channels, dtype)),
                self.params.get("beta", np.zeros(channels, dtype)))

    def _compute_dtype(self, x):
        return self.state["moving_mean"].dtype

    def _op_forward(self, x, training):
        gamma, beta = self._gamma_beta()
        if training:
            mean, variance = kernels.batch_moments(x)
            keep, move = x.dtype.type(self.momentum), x.dtype.type(1 - self.momentum)
            for key, batch in (("moving_mean", mean), ("moving_variance", variance)):
                self.state[key] = self.state[key] * keep + batch * move
        else:
            mean, variance = self.state["moving_mean"], self.state["moving_variance"]
        self._statistics = (mean, variance)
        return kernels.batchnorm_forward(x, gamma, beta, mean, variance, self.epsilon)

    def _op_backward(self, x, dz, need_dx):
        gamma, _ = self._gamma_beta()
        mean, variance = self._statistics
        dx, dgamma, dbeta = kernels.batchnorm_backward(x, gamma, dz, mean, variance,
                                                       self.epsilon, batch_stats=self._training)
        if self.scale:
            self.grads["gamma"] = dgamma
        if self.center:
            self.grads["beta"] = dbeta
        return dx

    def get_config(self):
        return {**super().get_config(), "axis": -1, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale}


def recompute_batchnorm(model, x, batch_size=32):
    """Set every BatchNormalization layer's moving mean and variance of ``model`` (a
    Sequential) to their averages over the images x (N, *input_shape), in batches of
    ``batch_size``; returns the number of layers changed (0: none, nothing done).

    The layers run as in training (each normalises with its batch's statistics, as Wu and
    Johnson's "precise BatchNorm"), and each batch's mean and biased variance count by its
    size: the moving mean becomes the mean of x's values at that layer (exact for the first
    layer) and the moving variance the size-weighted mean of the batch variances. Nothing
    else changes: not the trainable weights, not the layers' momentum, not x.
    """
    found = [i for i, layer in enumerate(model.layers) if isinstance(layer, BatchNormalization)]
    if not found:
        return 0
    layers = [model.layers[i] for i in found]
    momenta = [layer.momentum for layer in layers]
    seen = 0
    try:
        for start in range(0, len(x), batch_size):
            n = len(x[start:start + batch_size])
            for layer in layers:                 # the running mean, weighted by batch size
                layer.momentum = seen / (seen + n)
            model.forward(x[start:start + batch_size], training=True, stop=found[-1])
            seen += n
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return len(found)
