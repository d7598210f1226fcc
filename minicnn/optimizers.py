"""Optimizers that update weights exactly as Keras does.

``optimizer.apply_gradients(pairs)`` takes (gradient, weight) pairs, like Keras, and changes
each weight array in place; the optimizer's state (momentum, Adam's m and v) is kept per
position in that list, so pass the weights in the same order every step.
"""
import numpy as np


class ExponentialDecay:
    """Keras's learning-rate schedule: lr(step) = initial_learning_rate *
    decay_rate ** (step / decay_steps), the exponent rounded down with ``staircase``
    (e.g. decay_steps = batches per epoch: the rate falls by decay_rate after every epoch).
    ``step`` counts the optimizer's updates from 0, so a resumed training (whose optimizer
    keeps its step count) continues on the same curve."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        if not initial_learning_rate > 0 or not decay_steps >= 1 or not 0 < decay_rate <= 1:
            raise ValueError(f"need initial_learning_rate > 0, decay_steps >= 1 and decay_rate "
                             f"in (0, 1]; got {initial_learning_rate}, {decay_steps}, "
                             f"{decay_rate}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps, self.decay_rate = int(decay_steps), float(decay_rate)
        self.staircase = bool(staircase)

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (p // 1 if self.staircase else p)

    def get_config(self):
        return {"class_name": "ExponentialDecay", "initial_learning_rate":
                self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase}


class Optimizer:
    name = "optimizer"

    def __init__(self, learning_rate):
        """``learning_rate``: a positive number, or a schedule such as
        :class:`ExponentialDecay` (called with the number of updates made so far)."""
        if not (callable(learning_rate) or learning_rate > 0):
            raise ValueError(f"learning_rate must be positive, got {learning_rate}")
        self.learning_rate = learning_rate if callable(learning_rate) else float(learning_rate)
        self.iterations = 0          # steps taken so far (Keras's optimizer.iterations)
        self._slots = None

    def current_learning_rate(self):
        """The rate of the update being made (``iterations`` already counts it, as in
        ``_update``), or of the next one before the first."""
        if not callable(self.learning_rate):
            return self.learning_rate
        return self.learning_rate(max(self.iterations - 1, 0))

    def apply_gradients(self, pairs):
        """Update each weight in place from its gradient; returns None."""
        pairs = list(pairs)
        for g, w in pairs:
            if np.shape(g) != w.shape:
                raise ValueError(f"gradient of shape {np.shape(g)} for a weight of shape "
                                 f"{w.shape}")
        if self._slots is None:
            self._slots = [self._new_slots(w) for _, w in pairs]
        elif len(self._slots) != len(pairs):
            raise ValueError(f"this optimizer was used on {len(self._slots)} weights, now given "
                             f"{len(pairs)}; make a new optimizer for a new model")
        self.iterations += 1
        for (g, w), slots in zip(pairs, self._slots):
            self._update(w, np.asarray(g, dtype=w.dtype), slots)

    def _new_slots(self, w):
        return ()

    def get_config(self):
        rate = self.learning_rate
        return {"learning_rate": rate.get_config() if callable(rate) else rate}

    def get_state(self):
        """What the next step depends on: the step count and copies of the slots (Adam's m
        and v per weight; None before the first step), for :meth:`set_state`."""
        slots = None if self._slots is None else [[s.copy() for s in ws] for ws in self._slots]
        return {"iterations": self.iterations, "slots": slots}

    def set_state(self, state):
        """Continue from a :meth:`get_state` of the same kind of optimizer; a state with
        another number of slots per weight is a ValueError, and nothing changes then."""
        iterations, slots = int(state["iterations"]), state["slots"]
        if slots is not None:
            slots = [[np.array(s) for s in ws] for ws in slots]
            per_weight = len(self._new_slots(np.zeros(1)))
            if any(len(ws) != per_weight for ws in slots):
                raise ValueError(f"this {type(self).__name__} keeps {per_weight} slot(s) per "
                                 f"weight; the state holds another number")
        self.iterations, self._slots = iterations, slots


class SGD(Optimizer):
    """Stochastic gradient descent, with Keras's momentum form:
    v = momentum * v - lr * g;  w += v   (momentum 0: w -= lr * g)."""

    name = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0):
        super().__init__(learning_rate)
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.momentum = float(momentum)

    def _new_slots(self, w):
        return (np.zeros_like(w),) if self.momentum else ()

    def _update(self, w, g, slots):
        lr = w.dtype.type(self.current_learning_rate())
        if not self.momentum:
            w -= lr * g
            return
        (v,) = slots
        v *= w.dtype.type(self.momentum)
        v -= lr * g
        w += v

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


class Adam(Optimizer):
    """Adam (Kingma & Ba) in Keras's "epsilon hat" form, step t = 1, 2, ...:

    alpha_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
    m += (g - m) * (1 - beta_1);  v += (g^2 - v) * (1 - beta_2)
    w -= alpha_t * m / (sqrt(v) + epsilon)
    """

    name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate)
        for name, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0 <= b < 1:
                raise ValueError(f"{name} must be in [0, 1), got {b}")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _new_slots(self, w):
        return np.zeros_like(w), np.zeros_like(w)

    def _update(self, w, g, slots):
        m, v = slots
        f = w.dtype.type                  # scalars in the weight's dtype, as Keras casts them
        t = f(self.iterations)
        alpha = (f(self.current_learning_rate()) * np.sqrt(f(1) - f(self.beta_2) ** t)
                 / (f(1) - f(self.beta_1) ** t))
        m += (g - m) * f(1 - self.beta_1)
        v += (g * g - v) * f(1 - self.beta_2)
        w -= alpha * m / (np.sqrt(v) + f(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


OPTIMIZERS = {cls.name: cls for cls in (SGD, Adam)}


def get(optimizer):
    """An Optimizer from an instance or Keras's string name ("adam", "sgd")."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    raise ValueError(f"unknown optimizer {optimizer!r}; use an Optimizer object or one of "
                     f"{sorted(OPTIMIZERS)}")
