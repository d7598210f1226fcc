# %% [markdown]
# # 11 - Learning, step by step: Adam's first step, Glorot's limits, a kernel learned
#
# Example 10 computed gradients; here they are used. Four questions, each with numbers:
#
# 1. What does Adam's first step do, and why does it need a *bias correction*?
# 2. Why does Keras (and the thesis's model) start weights uniform on
#    [-sqrt(6 / (fan_in + fan_out)), +sqrt(6 / (fan_in + fan_out))] (Glorot)?
# 3. Can gradient descent find the thesis's vertical-edge kernel from a random start?
# 4. The thesis says the first convolution "detects lines or curves". What do the 3x3
#    filters of a thesis CNN we train briefly look like, and does the claim hold for them?

# %%
import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from minicnn import initializers, kernels, models, thesis
from minicnn.data import find_data_dir
from minicnn.optimizers import Adam
from minicnn.data.subsets import load_patient_sample


NAME = "11_learning_step_by_step"
QUICK = os.environ.get("MINICNN_QUICK") == "1"   # quick: the last part trains on 48 X-rays
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()  # script or notebook
FIGURES = Path(os.environ.get("MINICNN_FIGURES") or HERE / "figures" / NAME)
FIGURES.mkdir(parents=True, exist_ok=True)
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. Adam's first step, with and without bias correction
#
# Adam keeps two running means per weight, m of the gradient g and v of g^2, both starting
# at 0: m = 0.9 m + 0.1 g and v = 0.999 v + 0.001 g^2. After one step m = 0.1 g and
# v = 0.001 g^2: both far too small, biased towards their zero start. Dividing by
# (1 - 0.9^t) and (1 - 0.999^t) removes the bias: at t = 1, m_hat = 0.1 g / 0.1 = g and
# v_hat = 0.001 g^2 / 0.001 = g^2 exactly. So the first step is
# lr * g / (|g| + eps) = lr * sign(g): the same size, 0.001, whatever the gradient's scale.
# Without the correction it would be lr * 0.1 g / (sqrt(0.001) |g|) = 3.16 lr sign(g).
# (Keras folds both corrections into the step size alpha_t = lr sqrt(1 - 0.999^t) / (1 - 0.9^t)
# and adds eps to sqrt(v) rather than to sqrt(v_hat): for a tiny gradient such as -0.01 its
# step differs from the textbook one in the fourth digit.)

# %%
g = np.array([2.0, -0.01, 0.5])
lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-7
m, v = (1 - b1) * g, (1 - b2) * g ** 2
m_hat, v_hat = m / (1 - b1), v / (1 - b2)
corrected = lr * m_hat / (np.sqrt(v_hat) + eps)
uncorrected = lr * m / (np.sqrt(v) + eps)
w = np.zeros(3)
Adam(lr).apply_gradients([(g, w)])                   # minicnn's Adam, Keras's form
print(f"gradient g              {g}")
print(f"m_hat = {m_hat}, v_hat = {v_hat} (= g and g^2)")
print(f"step with correction    {corrected}")
print(f"step without correction {uncorrected}  ({uncorrected[0] / corrected[0]:.2f} times larger)")
print(f"minicnn.optimizers.Adam {-w}")
print(f"  (relative difference from the textbook step: {np.abs(-w / corrected - 1).max():.1e})")
assert np.allclose(-w, corrected, rtol=1e-3)

# %% [markdown]
# ## 2. Why Glorot's limits
#
# A neuron sums fan_in inputs times weights: if inputs and weights are independent with
# mean 0, Var(z) = fan_in Var(w) Var(x). To keep the signal's variance the same going
# forward we want Var(w) = 1 / fan_in; going backward the gradient sums over fan_out
# neurons, which wants 1 / fan_out. Glorot and Bengio (2010) compromise on
# Var(w) = 2 / (fan_in + fan_out), and a uniform on [-a, a] has variance a^2 / 3, so
# a = sqrt(6 / (fan_in + fan_out)). For a 3x3 convolution both fans count the 9 cells.
# Below: the limits of the thesis CNN's layers, then a signal pushed through 10 linear
# layers of 256 units: with Glorot's scale its size stays put; with weights 10 times
# smaller it vanishes, 10 times larger it explodes.

# %%
thesis_model = models.thesis_cnn((150, 150, 1))
thesis_model.build()
for layer in thesis_model.layers:
    if "kernel" in layer.params:
        fan_in, fan_out = initializers.fans(layer.params["kernel"].shape)
        print(f"{layer.name:<10} kernel {str(layer.params['kernel'].shape):<18} fan_in "
              f"{fan_in:6,} fan_out {fan_out:5,} limit {np.sqrt(6 / (fan_in + fan_out)):.4f}")

rng = np.random.default_rng(0)
x0 = rng.normal(size=(512, 256))
spreads = {}
for scale in (0.1, 1.0, 10.0):
    h, stds = x0, []
    for _ in range(10):
        h = h @ (scale * initializers.glorot_uniform((256, 256), rng, "float64"))
        stds.append(h.std())
    spreads[scale] = stds
    print(f"{scale:4} x Glorot: std after layers 1, 5, 10 = {stds[0]:.3g}, {stds[4]:.3g}, "
          f"{stds[9]:.3g}")
assert 0.5 < spreads[1.0][-1] < 2

# %% [markdown]
# ## 3. Learning the vertical-edge kernel by gradient descent
#
# Make 64 random 8x8 images, compute their "answers" with the thesis's kernel K, start a
# kernel from random numbers and move it against the gradient of the mean squared error
# L = mean((conv(x, W) - conv(x, K))^2) / 2. The gradient is example 10's dK, with
# dY = (conv(x, W) - conv(x, K)) / (number of outputs). The problem is a least-squares
# regression on the 9 weights, so it converges to K.

# %%
images = rng.normal(size=(64, 8, 8, 1))
K = thesis.VERTICAL_EDGE_KERNEL[:, :, None, None]
target = kernels.conv2d_forward(images, K, np.zeros(1))
W = rng.uniform(-1, 1, size=(3, 3, 1, 1))
curve = []
for step in range(201):
    residual = kernels.conv2d_forward(images, W, np.zeros(1)) - target
    curve.append(0.5 * np.mean(residual ** 2))
    _, dW, _ = kernels.conv2d_backward(images, W, residual / residual.size)
    if step in (0, 10, 50, 200):
        print(f"step {step:3}: loss {curve[-1]:.2e}, kernel\n{W[:, :, 0, 0]}")
    W -= 0.1 * dW
assert np.allclose(W[:, :, 0, 0], thesis.VERTICAL_EDGE_KERNEL, atol=1e-3)

fig = Figure(figsize=(5, 3.2))
ax = fig.add_subplot()
ax.semilogy(curve)
ax.set_xlabel("gradient descent step")
ax.set_ylabel("mean squared error (log)")
ax.set_title("learning the vertical-edge kernel from a random start", fontsize=10)
fig.tight_layout()
fig.savefig(FIGURES / "learning_the_edge_kernel.png")
fig

# %% [markdown]
# ## 4. The first-layer filters of a briefly trained thesis CNN
#
# We train the thesis CNN on training X-rays (one per patient, seeded; quick mode: 24 per
# class at 48 px, one epoch; otherwise 200 per class at 64 px, four epochs) and look at its
# 64 first-layer 3x3 filters next to their random (Glorot) start. Two numbers per filter:
# how far it moved from its start, and its "edge score" |sum w| / sum |w|, which is 0 for a
# filter whose weights sum to zero (it answers changes, like the vertical-edge kernel) and
# 1 for one with all weights of one sign (it answers brightness, like a blur).

# %%
try:
    DATA = find_data_dir(None)
except FileNotFoundError as exc:
    print(f"This part needs the chest X-ray data set, which was not found.\n{exc}")
    sys.exit(0)

SIZE, PER_CLASS, EPOCHS = (48, 24, 1) if QUICK else (64, 200, 4)
train = load_patient_sample(DATA / "train", PER_CLASS, SIZE, seed=0)
model = models.thesis_cnn((SIZE, SIZE, 1), seed=0)
model.compile(Adam(0.001), "sparse_categorical_crossentropy", ["accuracy"])
model.build()
first = next(layer for layer in model.layers if "kernel" in layer.params)   # conv layer 1
start = first.params["kernel"][:, :, 0, :].copy()                          # (3, 3, 64)
model.fit(train.x, train.y, batch_size=32, epochs=EPOCHS, seed=0, verbose=0)
trained = first.params["kernel"][:, :, 0, :]


def edge_score(f):
    """|sum w| / sum |w| per filter (3, 3, F) -> (F,): 0 = zero-sum (edge), 1 = one sign."""
    return np.abs(f.sum(axis=(0, 1))) / np.abs(f).sum(axis=(0, 1))


moved = np.linalg.norm(trained - start) / np.linalg.norm(start)
print(f"trained on {len(train.y)} X-rays at {SIZE} px for {EPOCHS} epoch(s); "
      f"training accuracy {model.evaluate(train.x, train.y)[1]:.3f}")
print(f"first-layer filters moved {moved:.1%} of their size from the random start")
print(f"edge score, median over 64 filters: start {np.median(edge_score(start)):.2f}, "
      f"trained {np.median(edge_score(trained)):.2f}")

fig = Figure(figsize=(10, 5.4))
top = max(np.abs(start).max(), np.abs(trained).max())          # one colour scale for both
for col, (filters, title) in enumerate(((start, "random start (Glorot)"), (trained, "trained"))):
    for k in range(16):
        ax = fig.add_subplot(4, 9, (k // 4) * 9 + col * 5 + k % 4 + 1)
        image = ax.imshow(filters[:, :, k], cmap="coolwarm", vmin=-top, vmax=top)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.text(0.06 + col * 0.5, 0.95, f"first 16 of 64 filters, {title}", fontsize=10)
fig.colorbar(image, ax=fig.axes, shrink=0.6, label="weight")
fig.savefig(FIGURES / "first_layer_filters.png")
fig

# %% [markdown]
# **What we see, honestly.** In a short run the first-layer filters stay close to their
# random start (the line above says how close), and their edge scores are about as
# spread as a random start's. So this run can neither confirm nor refute the thesis's
# statement that the first convolution detects lines: a random 3x3 filter already responds
# to some edges (part 3's kernel is one of many zero-sum patterns), and the few hundred Adam
# steps of this example, at most 0.001 per weight each, barely move weights of size ~0.1.
# The statement comes from networks trained far longer on far more images (Zeiler and
# Fergus, 2014); check it on a long run with `MINICNN_RUN` in example 08.

# %%
print(f"figures saved in {FIGURES}")

# %% [markdown]
# ## Exercises (answers in docs/answers.md)
#
# 1. What is Adam's second step, t = 2, for a gradient that stays the same, g = 2? Work it
#    out by hand, then with `minicnn.optimizers.Adam`.
# 2. The thesis CNN's dense layer has fan_in 14,400 and fan_out 64. What is its Glorot
#    limit, and why is it so much smaller than the first convolution's?
# 3. In part 3, what happens with a learning rate of 2 instead of 0.1? And with images of
#    constant brightness (every pixel the same) instead of random ones?
# 4. Train longer (or load a run with `MINICNN_RUN`) and recompute the edge scores. Do the
#    filters move further from their start? Does the median edge score change?
