# %% [markdown]
# # 03 - ReLU and max-pooling (thesis: "unidad lineal rectificada" and "max-pooling")
#
# After each convolution the thesis applies the rectifier f(x) = max(0, x) (ReLU), then a
# 2x2 max-pooling that keeps the largest value of every 2x2 block and so halves the height
# and width of every feature map. We apply both to the output of example 02, then redo the
# thesis's pooling arithmetic (32 maps of 28x28 -> 14x14 -> 7x7) and walk the thesis CNN's
# shapes from 150x150 down to the 14,400 numbers its dense layer sees.

# %%
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from minicnn import kernels, layers, models, thesis

NAME = "03_relu_and_max_pooling"
QUICK = os.environ.get("MINICNN_QUICK") == "1"   # nothing slow here; kept for uniformity
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()  # script or notebook
FIGURES = Path(os.environ.get("MINICNN_FIGURES") or HERE / "figures" / NAME)
FIGURES.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## ReLU, f(x) = max(0, x)
#
# Negative values become 0, positive values pass unchanged. It is the non-linearity that
# lets stacked layers compute more than one big linear map, and it is cheap: a comparison.

# %%
feature_map = thesis.edge_example()                  # example 02's 4x4 output
rectified = kernels.relu(feature_map)
print("convolution output (example 02):\n", feature_map.astype(int))
print("after ReLU, max(0, x):\n", rectified.astype(int))
assert rectified.min() == 0 and rectified[0, 3] == 8

# %% [markdown]
# ## Max-pooling 2x2: keep the largest value of each 2x2 block
#
# The 4x4 map has four 2x2 blocks, so the pooled map is 2x2.

# %%
by_hand = np.array([[rectified[r:r + 2, c:c + 2].max() for c in (0, 2)] for r in (0, 2)])
pooled = kernels.maxpool2d_forward(rectified[None, :, :, None], pool_size=2)[0, :, :, 0]
print("blocks and their maxima:")
for r in (0, 2):
    for c in (0, 2):
        block = rectified[r:r + 2, c:c + 2]
        print(f"  rows {r}-{r + 1}, cols {c}-{c + 1}: {block.astype(int).tolist()}"
              f" -> {int(block.max())}")
print("pooled:\n", pooled.astype(int))
assert np.array_equal(pooled, by_hand)

# %% [markdown]
# ## Figure: convolution -> ReLU -> max-pooling

# %%
fig = Figure(figsize=(10, 3.3))
axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1.3, 4, 4, 2]})
zs = np.linspace(-3, 3, 121)
axes[0].plot(zs, kernels.relu(zs), linewidth=2)
axes[0].set_title("f(x) = max(0, x)", fontsize=10)
axes[0].grid(alpha=0.3)
for ax, data, title in zip(axes[1:], (feature_map, rectified, pooled),
                           ("convolution output", "after ReLU", "after 2x2 max-pooling")):
    top = np.abs(feature_map).max() * 1.6
    ax.imshow(data, cmap="coolwarm", vmin=-top, vmax=top)
    for (r, c), v in np.ndenumerate(data):
        ax.text(c, r, f"{int(v)}", ha="center", va="center", fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
fig.savefig(FIGURES / "relu_and_pooling.png")
fig

# %% [markdown]
# ## The thesis's pooling arithmetic
#
# The thesis's example: 32 feature maps of 28x28 hold 32 x 28 x 28 = 25,088 values; a 2x2
# max-pooling leaves 32 maps of 14x14 = 6,272 values; pooling again leaves 32 maps of 7x7.
#
# A small slip to notice: the text gives 3,136 for that last step, but 32 x 7 x 7 = 1,568.
# (3,136 is what 64 maps of 7x7 hold; every pooling divides the count by exactly 4, and
# 6,272 / 4 = 1,568.) The idea in the text is right; only the last number is off.

# %%
for side, values in thesis.pooling_sizes(maps=32, size=28, pools=2):
    print(f"32 maps of {side:2d}x{side:<2d} = {values:6,} values")
print(f"the text's 3,136 would be 64 maps of 7x7: "
      f"{thesis.pooling_sizes(maps=64)[-1][1]:,} values")

pool = layers.MaxPooling2D(2)
shape = (28, 28, 32)
for _ in range(2):                                  # the same with a real layer
    shape = pool.build(shape)
    print(f"MaxPooling2D(2) -> {shape}, {int(np.prod(shape)):,} values")
assert int(np.prod(shape)) == 1_568

# %% [markdown]
# ## Shapes through the thesis CNN (thesis Figure 19, the model summary)
#
# A 3x3 convolution without padding removes one pixel on each side (150 -> 148); a 2x2
# pooling halves, rounding down (34 -> 17). After four convolutions and three poolings a
# 150x150 X-ray has become 64 maps of 15x15 = 14,400 numbers for the dense layer.

# %%
model = models.thesis_cnn()                          # (150, 150, 1) input
model.build()
sides = []
for layer in model.layers:
    print(f"{type(layer).__name__:>13} -> {layer.output_shape}")
    if len(layer.output_shape) == 3:
        sides.append(layer.output_shape[0])
print(" -> ".join(str(s) for s in [150] + sides))
assert sides == [148, 74, 72, 36, 34, 17, 15]

# %% [markdown]
# ## Figure: how many values each layer passes on

# %%
names = ["input"] + [f"{i} {type(layer).__name__}" for i, layer in enumerate(model.layers, 1)]
counts = [150 * 150] + [int(np.prod(layer.output_shape)) for layer in model.layers]
fig = Figure(figsize=(8, 3.6))
ax = fig.add_subplot()
ax.bar(range(len(counts)), counts, color="#4c72b0")
ax.set_yscale("log")
ax.set_xticks(range(len(counts)), names, rotation=45, ha="right", fontsize=8)
ax.set_ylabel("values per image (log scale)")
for i, c in enumerate(counts):
    ax.text(i, c, f"{c:,}", ha="center", va="bottom", fontsize=7)
ax.set_title("thesis CNN: values per image after each layer", fontsize=10)
fig.tight_layout()
fig.savefig(FIGURES / "values_per_layer.png")
fig

# %%
print(f"figures saved in {FIGURES}")

# %% [markdown]
# ## Exercises (answers in docs/answers.md)
#
# 1. The thesis's text says 3,136 values after the second pooling. Which of its numbers has
#    to change for 3,136 to be right?
# 2. A 2x2 max-pooling keeps one value in four. Which fraction of the gradient's cells are
#    zero on its way back (example 10), and why is that not a problem for learning?
# 3. For a 64x64 input, what are the thesis CNN's shapes, and how many values does its
#    dense layer see?
