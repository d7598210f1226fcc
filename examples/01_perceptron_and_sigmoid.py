# %% [markdown]
# # 01 - One neuron: the perceptron and the sigmoid (thesis eq. 1-3)
#
# The thesis starts from a single artificial neuron. It receives inputs x_1 ... x_m,
# multiplies each by a weight, adds a bias and passes the result through an activation
# function. Three equations describe it:
#
# - eq. (1), the *activation value*: z = sum_i w_i x_i + b
# - eq. (2), the *activation function*: y = phi(w . x + b)
# - eq. (3), the *sigmoid*: phi(z) = 1 / (1 + e^-z)
#
# Every number below is computed by `minicnn.thesis`, the module that turns the thesis's
# equations into code (docs/equations.md maps each one to its function and its test).
#
# Run it as a script (`python examples/01_perceptron_and_sigmoid.py`) or open it as a
# notebook (VS Code, or Jupyter with Jupytext): each `# %%` line starts a cell.

# %%
import math
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure       # figures drawn off-screen (Agg), saved as PNG

from minicnn import thesis

NAME = "01_perceptron_and_sigmoid"
QUICK = os.environ.get("MINICNN_QUICK") == "1"   # nothing slow here; kept for uniformity
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()  # script or notebook
FIGURES = Path(os.environ.get("MINICNN_FIGURES") or HERE / "figures" / NAME)
FIGURES.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Eq. (1): the activation value z = sum_i w_i x_i + b
#
# Three inputs, three weights and a bias. Multiply pairwise, add up, add the bias.

# %%
x = np.array([1.0, 2.0, 3.0])          # inputs (e.g. three pixel values)
w = np.array([0.5, -0.25, 2.0])        # one weight per input
b = 0.1                                # the bias

terms = " + ".join(f"({wi:g})*{xi:g}" for wi, xi in zip(w, x))
z = thesis.activation_value(x, w, b)
print(f"eq. (1): z = {terms} + {b:g} = {z:g}")
assert math.isclose(z, 0.5 * 1 - 0.25 * 2 + 2 * 3 + 0.1)

# %% [markdown]
# ## The perceptron: a step activation
#
# The oldest neuron answers 1 when z > 0 and 0 otherwise. A tiny change of a weight can flip
# its answer from 0 to 1, with nothing in between: a learning rule cannot tell whether a
# small change helped.

# %%
for bias in (-6.2, -5.8):
    print(f"perceptron with b = {bias:5.1f}: z = {thesis.activation_value(x, w, bias):+.2f}"
          f" -> output {thesis.perceptron(x, w, bias)}")

# %% [markdown]
# ## Eq. (3): the sigmoid, a smooth step
#
# The thesis replaces the step by the sigmoid 1 / (1 + e^-z): outputs anywhere between 0
# and 1, changing a little when z changes a little. That smoothness is what lets a network
# learn by following gradients (example 05 checks those gradients).

# %%
for value in (-4.0, -1.0, 0.0, 1.0, 4.0, z):
    print(f"eq. (3): sigmoid({value:+.2f}) = 1 / (1 + e^({-value + 0.0:+.2f})) = "
          f"{float(thesis.sigmoid(value)):.5f}")
assert thesis.sigmoid(0.0) == 0.5

# %% [markdown]
# ## Eq. (2): the sigmoid neuron, y = phi(w . x + b)
#
# Put eq. (1) into eq. (3). The same bias change that flipped the perceptron now moves the
# output only slightly.

# %%
y = thesis.neuron(x, w, b)
print(f"eq. (2): y = sigmoid(z) = sigmoid({z:g}) = {y:.5f}")
for bias in (-6.2, -5.8):
    print(f"sigmoid neuron with b = {bias:5.1f}: y = {thesis.neuron(x, w, bias):.4f}")

# %% [markdown]
# ## Figure: step versus sigmoid (eq. 3)

# %%
zs = np.linspace(-8, 8, 401)
fig = Figure(figsize=(6, 3.5))
ax = fig.add_subplot()
ax.plot(zs, (zs > 0).astype(float), label="perceptron (step)", linewidth=2)
ax.plot(zs, thesis.sigmoid(zs), label="sigmoid, eq. (3)", linewidth=2)
ax.plot([z], [y], "o", color="crimson", label=f"our neuron: z = {z:g}, y = {y:.3f}")
ax.set_xlabel("activation value z, eq. (1)")
ax.set_ylabel("output y")
ax.grid(alpha=0.3)
ax.legend(loc="upper left", fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "step_vs_sigmoid.png")
fig

# %% [markdown]
# ## An image as input neurons
#
# For an image every pixel is one input x_i. The thesis counts them: a 64x64 gray image gives
# 4,096 inputs, and in colour (three channels) 12,288. Its own X-rays are 150x150 gray.

# %%
for h, w_, c in ((64, 64, 1), (64, 64, 3), (150, 150, 1)):
    print(f"{h}x{w_}x{c} image -> {thesis.input_neurons(h, w_, c):,} inputs")

print(f"figures saved in {FIGURES}")

# %% [markdown]
# ## Exercises (answers in docs/answers.md)
#
# 1. For x = (1, 2, 3) and w = (0.5, -0.25, 2), which bias b puts the neuron exactly on its
#    threshold (z = 0), and what does the sigmoid output there?
# 2. Show that sigmoid(-z) = 1 - sigmoid(z). What does that mean for the two classes of a
#    sigmoid neuron?
# 3. A sigmoid neuron on fixed inputs, fitted by maximising the likelihood of 0/1 labels:
#    which model of a statistics course is it?
