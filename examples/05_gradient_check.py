# %% [markdown]
# # 05 - Gradient checks: is each backward pass the derivative of its forward pass?
#
# Training (backpropagation) needs, for every layer, the derivative of the loss with
# respect to the layer's input and weights. minicnn writes each of those derivatives by hand
# (the `backward` methods). A mistake there would not crash anything: the network would
# just learn badly. So we check every one against *numerical* derivatives:
#
#     dL/dx_i ~ (L(x + h e_i) - L(x - h e_i)) / (2 h),   h = 1e-5, in float64,
#
# and report the relative error max |a - n| / (|a| + |n|) between the analytic gradient a
# and the numerical one n. Below 1e-7 means "the same up to rounding" for smooth layers;
# ReLU and max-pooling have kinks, where we allow 1e-5 and keep the inputs away from them.
# This is the thesis's eq. (1)-(3) network being differentiated, layer by layer.

# %%
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from minicnn import Sequential, backend, layers, losses
from minicnn.gradcheck import check_layer, check_loss, numerical_gradient, relative_error

NAME = "05_gradient_check"
QUICK = os.environ.get("MINICNN_QUICK") == "1"   # everything here takes seconds anyway
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()  # script or notebook
FIGURES = Path(os.environ.get("MINICNN_FIGURES") or HERE / "figures" / NAME)
FIGURES.mkdir(parents=True, exist_ok=True)
SMOOTH, KINKED = 1e-7, 1e-5                       # the thresholds (the recipe in minicnn.gradcheck)

# %% [markdown]
# ## The numerical derivative on a function we know
#
# d/dx x^3 = 3x^2. Centred differences get it right to about 1e-10.

# %%
x = np.array([1.0, -2.0, 0.5])
numeric = numerical_gradient(lambda v: v ** 3, x)
print(f"x = {x}: numerical {numeric}, exact {3 * x ** 2}, "
      f"relative error {relative_error(3 * x ** 2, numeric):.1e}")


# %% [markdown]
# ## Every layer, every parameter
#
# `check_layer(layer, x)` runs the layer forward, backpropagates a random upstream gradient
# g (so the loss is L = sum(g * layer(x)), which weighs every output differently), and
# compares dL/dx and dL/d(each weight) with centred differences. Inputs are made of
# distinct values at least 0.01 apart, so no pooling window has a tie and no ReLU input sits
# at its kink.

# %%
def distinct(shape, seed):
    """Values 0.01, 0.02, ... in random order and random signs: no ties, no zeros."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    return ((rng.permutation(size) + 1) * 0.01 * rng.choice([-1, 1], size)).reshape(shape)


def cases():
    """(description, fresh layer, input, threshold)."""
    img = distinct((2, 7, 7, 3), 1)                   # two 7x7 images with 3 channels
    return [
        ("Conv2D 3x3, valid (eq. 1 per window)", layers.Conv2D(4, 3), img, SMOOTH),
        ("Conv2D 3x3, same, stride 2", layers.Conv2D(4, 3, 2, "same"), img, SMOOTH),
        ("Conv2D 3x3 + relu", layers.Conv2D(4, 3, activation="relu"), img, KINKED),
        ("MaxPooling2D 2x2", layers.MaxPooling2D(2), img, KINKED),
        ("MaxPooling2D 3x3, stride 2, same", layers.MaxPooling2D(3, 2, "same"), img, KINKED),
        ("Flatten", layers.Flatten(), img, SMOOTH),
        ("Dense (eq. 1 per neuron)", layers.Dense(5), distinct((3, 8), 2), SMOOTH),
        ("Dense + relu", layers.Dense(5, activation="relu"), distinct((3, 8), 3), KINKED),
        ("Dense + softmax", layers.Dense(2, activation="softmax"), distinct((3, 8), 4),
         SMOOTH),
        ("ReLU, max(0, x)", layers.ReLU(), img, KINKED),
        ("Sigmoid, eq. (3)", layers.Sigmoid(), img, SMOOTH),
        ("Softmax", layers.Softmax(), distinct((4, 3), 5), SMOOTH),
        ("Dropout (inference: identity)", layers.Dropout(0.5), img, SMOOTH),
    ]


rows = []                                             # (tier, case, worst error, threshold)
WIDTH = 38                                            # the description column, both tables
for tier in backend.BACKENDS:                      # "naive", "numpy", "numba"
    with backend.using(tier):                         # every kernel tier gets checked
        for description, layer, inputs, threshold in cases():
            errors = check_layer(layer, inputs, seed=0)
            worst = max(errors.values())
            rows.append((tier, description, worst, threshold))
            detail = ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
            print(f"{tier:>5} | {description:<{WIDTH}} | {detail:<42} | "
                  f"{'ok' if worst < threshold else 'FAIL'}")

# %% [markdown]
# ## The losses
#
# `check_loss` does the same for the loss functions: cross-entropy from probabilities and
# from logits (the p - y of example 04), and the binary cross-entropy of a sigmoid output.

# %%
rng = np.random.default_rng(0)
logits = rng.normal(size=(4, 2))
probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
y = np.array([0, 1, 1, 0])
loss_cases = [
    ("sparse categorical CE, probabilities", losses.SparseCategoricalCrossentropy(), y, probs),
    ("sparse categorical CE, logits", losses.SparseCategoricalCrossentropy(True), y, logits),
    ("binary CE, probabilities", losses.BinaryCrossentropy(), y[:, None],
     1 / (1 + np.exp(-logits[:, :1]))),
    ("binary CE, logits", losses.BinaryCrossentropy(True), y[:, None], logits[:, :1]),
]
for description, loss, labels, predictions in loss_cases:
    err = check_loss(loss, labels, predictions)
    rows.append(("loss", description, err, SMOOTH))
    print(f" loss | {description:<{WIDTH}} | {f'{err:.1e}':<42} | "
          f"{'ok' if err < SMOOTH else 'FAIL'}")

# %% [markdown]
# ## A whole small network, end to end
#
# Same idea for a miniature thesis CNN (conv, pool, conv, flatten, dense, softmax) and the
# cross-entropy of a batch: `model.gradients` (backpropagation through every layer, with the
# fused p - y at the top) against numerical derivatives of the loss for every weight.

# %%
net = Sequential([layers.Input((8, 8, 1)), layers.Conv2D(3, 3, activation="relu",
                                                          dtype="float64"),
                  layers.MaxPooling2D(2), layers.Conv2D(2, 3, dtype="float64"),
                  layers.Flatten(), layers.Dense(2, activation="softmax", dtype="float64")],
                 seed=0)
net.compile("adam", "sparse_categorical_crossentropy")
images, labels = rng.normal(size=(3, 8, 8, 1)), np.array([0, 1, 1])
_, analytic = net.gradients(images, labels)
weights = net.get_weights()
worst_net = 0.0
for k, w in enumerate(weights):
    def loss_at(value, k=k):
        trial = list(weights)
        trial[k] = value
        net.set_weights(trial)
        return net.evaluate(images, labels)[0]
    err = relative_error(analytic[k], numerical_gradient(loss_at, w))
    worst_net = max(worst_net, err)
    print(f"weight array {k} {str(w.shape):<14} relative error {err:.1e}")
net.set_weights(weights)
rows.append(("model", "small CNN + cross-entropy", worst_net, KINKED))

# %%
failed = [r for r in rows if not r[2] < r[3]]
worst = max(r[2] for r in rows)
print(f"{len(rows)} checks, worst relative error {worst:.1e}, "
      f"{'all gradients check out' if not failed else f'{len(failed)} FAILED'}")
assert not failed, failed

# %% [markdown]
# ## The checker can fail too
#
# A check that always passes proves nothing. Make a Dense layer whose backward pass is off
# by 1% and the error jumps from about 1e-10 to about 5e-3.

# %%
class SlightlyWrongDense(layers.Dense):
    def _op_backward(self, x, dz, need_dx):
        return super()._op_backward(x, dz, need_dx) * 1.01


bad = check_layer(SlightlyWrongDense(5), distinct((3, 8), 2))["dx"]
print(f"a 1% wrong backward pass: dx relative error {bad:.1e} (caught: {bad > SMOOTH})")
assert bad > 1e-3

# %% [markdown]
# ## Figure: the worst error of each check (log scale) against its threshold

# %%
shown = [r for r in rows if r[0] in ("numba", "loss", "model")]
fig = Figure(figsize=(8, 0.28 * len(shown) + 1.2))
ax = fig.add_subplot()
ax.barh([f"{r[1]} ({r[0]})" for r in shown], [max(r[2], 1e-17) for r in shown],
        color=["#4c72b0" if r[3] == SMOOTH else "#dd8452" for r in shown])
ax.axvline(SMOOTH, color="#4c72b0", linestyle="--", label="threshold, smooth (1e-7)")
ax.axvline(KINKED, color="#dd8452", linestyle="--", label="threshold, kinks (1e-5)")
ax.set_xscale("log")
ax.set_xlabel("relative error, analytic vs numerical gradient")
ax.invert_yaxis()
ax.tick_params(axis="y", labelsize=7)
ax.legend(fontsize=7, loc="lower right")
fig.tight_layout()
fig.savefig(FIGURES / "gradient_check_errors.png")
fig

# %%
print(f"figures saved in {FIGURES}")

# %% [markdown]
# ## Exercises (answers in docs/answers.md)
#
# 1. Why centred differences, (f(x + h) - f(x - h)) / 2h, rather than (f(x + h) - f(x)) / h?
#    Try both on x^3 at x = 1 with h = 1e-5 and compare the errors.
# 2. Why must the inputs of the max-pooling check have no ties, and what goes wrong near
#    a ReLU input of exactly 0?
# 3. Make the check run in float32 instead of float64. What relative errors do you get,
#    and why would they hide a real mistake?
