# %% [markdown]
# # 09 - Same weights, same numbers: minicnn against Keras
#
# The thesis built its CNN in Keras. minicnn rebuilds it from scratch; if that is done
# right, the two should compute the same thing. `minicnn.keras_interop.to_keras` writes a
# minicnn model as a Keras model with the same layers and a copy of the same weights. Then
# we compare, on the same batch of images:
#
# 1. the parameter count (thesis Figure 19: 1,033,218);
# 2. the predicted probabilities (the forward pass, eq. 1-3 and the softmax);
# 3. the loss and the gradient of every weight (backpropagation);
# 4. the weights after a few Adam steps (the optimizer).
#
# Differences are relative, max |ours - Keras| / max |Keras| per array. Both compute in
# float32, so expect about 1e-7 to 1e-5, not 0: the same sums added in a different order
# round differently.
#
# Needs TensorFlow (from the checkout: `pip install -e '.[keras]'`); without it this example
# says so and stops. Importing TensorFlow alone takes several seconds.

# %%
import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from minicnn import models
from minicnn.optimizers import Adam

NAME = "09_compare_with_keras"
QUICK = os.environ.get("MINICNN_QUICK") == "1"   # quick: 48 px images instead of 150
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()  # script or notebook
FIGURES = Path(os.environ.get("MINICNN_FIGURES") or HERE / "figures" / NAME)
FIGURES.mkdir(parents=True, exist_ok=True)
IMAGE_SIZE, BATCH, STEPS = (48, 4, 2) if QUICK else (150, 8, 3)

# TensorFlow's log lines, silenced: TF_CPP_MIN_LOG_LEVEL=2 hides its info and warnings, and
# its oneDNN kernels (which only add float32 sums in another order) would print a start-up
# notice twice, past that setting; set TF_ENABLE_ONEDNN_OPTS=1 to compare with them on.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
try:
    import keras
    import tensorflow as tf
except ImportError:
    print("TensorFlow/Keras is not installed, so there is nothing to compare with; "
          "install it from the minicnn checkout with: pip install -e '.[keras]'")
    sys.exit(0)
from minicnn.keras_interop import to_keras  # noqa: E402 (only once TensorFlow is known to be there)


def rel_diff(ours, theirs):
    """max |ours - theirs| / max |theirs|: 0 means identical."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30))


# %% [markdown]
# ## One model, two libraries
#
# We give the biases small random values (Keras and minicnn both start them at 0), so that
# the comparison exercises them as well.

# %%
ours = models.thesis_cnn((IMAGE_SIZE, IMAGE_SIZE, 1), seed=0)
rng = np.random.default_rng(1)
ours.set_weights([w if w.ndim > 1 else rng.uniform(-0.05, 0.05, w.shape).astype(w.dtype)
                  for w in ours.get_weights()])
theirs = to_keras(ours)                  # a keras.Sequential with a copy of the weights
print(f"parameters: minicnn {ours.count_params():,}, Keras {theirs.count_params():,} "
      f"(at {IMAGE_SIZE} px; at 150 px both give 1,033,218)")
assert ours.count_params() == theirs.count_params()
if not QUICK:
    theirs.summary()

# %% [markdown]
# ## The forward pass: the same probabilities

# %%
x = rng.random((BATCH, IMAGE_SIZE, IMAGE_SIZE, 1), dtype=np.float32)   # images in [0, 1]
y = np.array([0, 1] * (BATCH // 2))
p_ours = ours.predict(x)
p_keras = theirs.predict(x, verbose=0)
forward_diff = rel_diff(p_ours, p_keras)
print("P(pneumonia), minicnn:", np.round(p_ours[:, 1], 6))
print("P(pneumonia), Keras:  ", np.round(p_keras[:, 1], 6))
print(f"forward: relative difference {forward_diff:.1e}")

# %% [markdown]
# ## The loss and every gradient
#
# minicnn's `model.gradients` runs its hand-written backward passes; Keras differentiates
# its graph automatically (`tf.GradientTape`). Both use the sparse categorical
# cross-entropy, the thesis's loss.

# %%
ours.compile(Adam(0.001), "sparse_categorical_crossentropy")
loss_ours, grads_ours = ours.gradients(x, y)
with tf.GradientTape() as tape:
    loss_keras = keras.losses.SparseCategoricalCrossentropy()(y, theirs(x, training=True))
grads_keras = [g.numpy() for g in tape.gradient(loss_keras, theirs.trainable_weights)]
print(f"loss: minicnn {loss_ours:.7f}, Keras {float(loss_keras):.7f}")
names = [f"{layer.name}/{key}" for layer in ours.layers for key in layer.params]
grad_diffs = [rel_diff(a, b) for a, b in zip(grads_ours, grads_keras)]
for name, d in zip(names, grad_diffs):
    print(f"gradient {name:<17} relative difference {d:.1e}")

# %% [markdown]
# ## A few Adam steps on each side
#
# Same batch, same optimizer settings (Keras's Adam defaults): the weights stay together.

# %%
theirs.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy")
for _ in range(STEPS):
    ours.train_on_batch(x, y)
    theirs.train_on_batch(x, y)
step_diffs = [rel_diff(a, b) for a, b in zip(ours.get_weights(), theirs.get_weights())]
print(f"after {STEPS} Adam steps: largest relative weight difference {max(step_diffs):.1e}")

# %%
worst = max(forward_diff, max(grad_diffs), max(step_diffs))
print(f"largest relative difference overall: {worst:.1e}")
assert worst < 1e-3, "minicnn and Keras disagree"

# %% [markdown]
# ## Figure: relative differences per weight array (log scale)

# %%
fig = Figure(figsize=(8, 4))
ax = fig.add_subplot()
pos = np.arange(len(names))
ax.barh(pos - 0.2, np.maximum(grad_diffs, 1e-12), height=0.4, label="gradient")
ax.barh(pos + 0.2, np.maximum(step_diffs, 1e-12), height=0.4,
        label=f"weights after {STEPS} Adam steps")
ax.axvline(forward_diff, color="crimson", linestyle="--",
           label=f"forward (probabilities): {forward_diff:.1e}")
ax.set_yticks(pos, names, fontsize=8)
ax.set_xscale("log")
ax.set_xlabel("max |minicnn - Keras| / max |Keras|")
ax.set_title(f"thesis CNN at {IMAGE_SIZE} px, batch {BATCH}, float32", fontsize=10)
ax.invert_yaxis()
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "keras_differences.png")
fig

# %%
print(f"figures saved in {FIGURES}")

# %% [markdown]
# ## Exercises (answers in docs/answers.md)
#
# 1. Both libraries compute in float32. Why are the differences about 1e-7 for the forward
#    pass but up to about 1e-5 after Adam steps?
# 2. Change one layer of the minicnn model (say, the first convolution's bias) before
#    copying it to Keras. Which numbers above reveal it, and by how much?
