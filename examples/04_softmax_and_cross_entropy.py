# %% [markdown]
# # 04 - Softmax, cross-entropy and the gradient p - y
#
# The thesis's network ends in a dense layer of two neurons with a *softmax*, which turns
# two raw scores (logits) into two probabilities that add up to 1, "such as [0.6, 0.4]":
# 60% for the first class, 40% for the second. Training compares those probabilities with
# the true label through the *cross-entropy* loss (Keras's
# `sparse_categorical_crossentropy`, the thesis's choice), and needs its gradient, which
# turns out to be simply p - y.

# %%
import math
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from minicnn import kernels, layers, losses
from minicnn.gradcheck import numerical_gradient, relative_error

NAME = "04_softmax_and_cross_entropy"
QUICK = os.environ.get("MINICNN_QUICK") == "1"   # nothing slow here; kept for uniformity
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()  # script or notebook
FIGURES = Path(os.environ.get("MINICNN_FIGURES") or HERE / "figures" / NAME)
FIGURES.mkdir(parents=True, exist_ok=True)
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## Softmax: p_k = e^(z_k) / sum_j e^(z_j)
#
# Exponentiate each score (everything becomes positive), divide by the total (everything
# adds up to 1). Which scores give the thesis's [0.6, 0.4]? Only the *difference* of the two
# scores matters: e^(z_0) / e^(z_1) = 0.6 / 0.4, so z_0 - z_1 = ln 1.5 = 0.405...

# %%
z = np.array([math.log(1.5), 0.0])                 # logits: "normal" 0.405, "pneumonia" 0
p = kernels.softmax(z)
by_hand = np.exp(z) / np.exp(z).sum()
print(f"logits z = {z}")
print(f"e^z = {np.exp(z)}, sum = {np.exp(z).sum():.4f}")
print(f"softmax(z) = {p}  (by hand {by_hand})")
print(f"softmax(z + 7) = {kernels.softmax(z + 7)}  (adding a constant changes nothing)")
assert np.allclose(p, [0.6, 0.4], rtol=1e-12)

# %% [markdown]
# ## Cross-entropy: the loss of one image is -ln(probability of its true class)
#
# With p = [0.6, 0.4]: if the image is normal (label 0) the loss is -ln 0.6 = 0.511; if it
# shows pneumonia (label 1) the loss is -ln 0.4 = 0.916. Confident and right costs almost
# nothing; confident and wrong costs a lot. A batch's loss is the mean over its images.

# %%
loss = losses.SparseCategoricalCrossentropy()        # takes probabilities, as the thesis
probs = np.array([[0.6, 0.4]])
for label in (0, 1):
    print(f"label {label}: loss = -ln {probs[0, label]} = {loss([label], probs):.4f}")
batch = np.array([[0.6, 0.4], [0.1, 0.9], [0.7, 0.3]])
labels = np.array([0, 1, 1])
by_hand = -np.mean(np.log(batch[np.arange(3), labels]))
print(f"batch of three: mean(-ln [0.6, 0.9, 0.3]) = {loss(labels, batch):.4f} "
      f"(by hand {by_hand:.4f})")
assert math.isclose(loss([0], probs), -math.log(0.6), rel_tol=1e-9)

# %% [markdown]
# ## The fused gradient: dL/dz = p - y
#
# Chain the two derivatives, dL/dp (cross-entropy) and dp/dz (softmax), and almost
# everything cancels: the gradient of the loss with respect to the logits is the
# probabilities minus the one-hot label. For p = [0.6, 0.4] and label 0 it is
# [0.6 - 1, 0.4 - 0] = [-0.4, 0.4]: raise the "normal" score, lower the other. (Over a
# batch of N images it is divided by N, because the loss is a mean.) Keras computes the loss
# from the logits for this reason, and so does minicnn.
#
# We check it three ways: the formula, the chain rule through the softmax layer, and
# numerical differentiation (centred differences, see example 05).

# %%
onehot = np.array([1.0, 0.0])
fused = kernels.softmax(z) - onehot
print(f"p - y = {p} - {onehot} = {fused}")

from_logits = losses.SparseCategoricalCrossentropy(from_logits=True)
grad_logits = from_logits.gradient([0], z[None])[0]
print(f"minicnn's loss gradient from the logits: {grad_logits}")

softmax_layer = layers.Softmax()                 # float64 in, float64 out
probs_layer = softmax_layer.forward(z[None])
chained = softmax_layer.backward(loss.gradient([0], probs_layer))[0]
print(f"chain rule, dL/dp through the softmax's backward: {chained}")

numeric = numerical_gradient(lambda logits: from_logits([0], logits[None]), z)
print(f"numerical gradient (centred differences): {numeric}")
print(f"relative error, formula vs numerical: {relative_error(fused, numeric):.1e}")
assert np.allclose(fused, [-0.4, 0.4]) and relative_error(fused, numeric) < 1e-7

# %% [markdown]
# ## Why it cancels: the softmax's Jacobian diag(p) - p p^T
#
# Each p_i depends on every logit: dp_i/dz_j = p_i (1[i = j] - p_j), the matrix
# J = diag(p) - p p^T. The loss L = -ln p_y has dL/dp = -y / p (zero except at the true
# class). The chain rule gives dL/dz = J^T dL/dp; row y of J divided by p_y is
# (1[y = j] - p_j), so the product is p - y: the 1/p of the loss and the p of the softmax
# cancel. With p = [0.6, 0.4] and label 0: J = [[0.24, -0.24], [-0.24, 0.24]],
# dL/dp = [-1/0.6, 0] = [-1.667, 0], and J^T dL/dp = [-0.4, 0.4].

# %%
J = np.diag(p) - np.outer(p, p)
dL_dp = -onehot / p
print(f"J = diag(p) - p p^T =\n{J}")
print(f"dL/dp = -y / p = {dL_dp}")
print(f"J^T dL/dp = {J.T @ dL_dp} = p - y = {p - onehot}")
numeric_J = np.array([numerical_gradient(lambda v, i=i: kernels.softmax(v)[i], z)
                      for i in range(2)])
print(f"numerical Jacobian, relative error {relative_error(J, numeric_J):.1e}")
assert np.allclose(J, [[0.24, -0.24], [-0.24, 0.24]]) and np.allclose(J.T @ dL_dp, p - onehot)

# %% [markdown]
# ## Figure: softmax output and the cross-entropy curve

# %%
fig = Figure(figsize=(9, 3.4))
ax_p, ax_l = fig.subplots(1, 2)
ax_p.bar(["normal (0)", "pneumonia (1)"], p, color=["#4c72b0", "#dd8452"])
for i, v in enumerate(p):
    ax_p.text(i, v, f"{v:.1f}", ha="center", va="bottom")
ax_p.set_ylim(0, 1)
ax_p.set_title(f"softmax of logits [{z[0]:.3f}, {z[1]:.0f}]", fontsize=10)
ps = np.linspace(0.01, 1, 200)
ax_l.plot(ps, -np.log(ps), linewidth=2)
for value, text in ((0.6, "label 0: -ln 0.6"), (0.4, "label 1: -ln 0.4")):
    ax_l.plot([value], [-math.log(value)], "o")
    ax_l.annotate(f"{text} = {-math.log(value):.3f}", (value, -math.log(value)),
                  textcoords="offset points", xytext=(8, 8), fontsize=8)
ax_l.set_xlabel("probability given to the true class")
ax_l.set_ylabel("cross-entropy loss")
ax_l.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(FIGURES / "softmax_and_loss.png")
fig

# %%
print(f"figures saved in {FIGURES}")

# %% [markdown]
# ## Exercises (answers in docs/answers.md)
#
# 1. Why do the rows (and columns) of the Jacobian J = diag(p) - p p^T add up to 0?
# 2. With p = [0.9, 0.1] and label 1, what are the loss and the gradient p - y? Which
#    logit does gradient descent raise?
# 3. With two classes, softmax(z)[1] = sigmoid(z_1 - z_0). Check it numerically: which
#    statistical model is a network whose last layer is a 2-way softmax on fixed features?
