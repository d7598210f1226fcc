# %% [markdown]
# # 02 - Convolution by hand (thesis Figure 5: the 6x6 image and the 3x3 kernel)
#
# A convolution layer slides a small matrix of weights, the *kernel*, over the image. At each
# position it multiplies the pixels under the kernel by the kernel's weights and adds them
# up: eq. (1), z = sum_i w_i x_i + b, once per position. The thesis works one position out
# by hand on a 6x6 image with a vertical-edge kernel and gets -5. We do the same, then the
# whole output, then compare minicnn's three implementations ("tiers") of the same layer.

# %%
import os
import platform
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from scipy.signal import convolve2d, correlate2d

from minicnn import kernels, thesis

NAME = "02_convolution_by_hand"
QUICK = os.environ.get("MINICNN_QUICK") == "1"   # a smaller timing problem
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()  # script or notebook
FIGURES = Path(os.environ.get("MINICNN_FIGURES") or HERE / "figures" / NAME)
FIGURES.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## The image and the kernel of Figure 5

# %%
image = thesis.EXAMPLE_IMAGE_6X6          # (6, 6)
kernel = thesis.VERTICAL_EDGE_KERNEL      # (3, 3): +1 left column, 0 middle, -1 right
print("image:\n", image.astype(int))
print("kernel:\n", kernel.astype(int))

# %% [markdown]
# ## The top-left output, one product at a time (Figure 5's arithmetic)
#
# Lay the kernel over the top-left 3x3 window, multiply cell by cell, add the nine products.

# %%
window = image[:3, :3]
products = window * kernel
print(" + ".join(f"{int(p)}*{int(k)}" if k >= 0 else f"{int(p)}*({int(k)})"
               for p, k in zip(window.ravel(), kernel.ravel())))
print(" = " + " + ".join(f"({int(v)})" for v in products.ravel()) + f" = {int(products.sum())}")
top_left = int(products.sum())
print(f"top-left output: {top_left}")
assert top_left == -5

# %% [markdown]
# ## The whole output: slide the window everywhere
#
# A 3x3 kernel fits 6 - 3 + 1 = 4 times across and 4 times down, so the output is 4x4
# (in general H_out = (H - KH) // stride + 1 without padding).

# %%
by_hand = np.empty((4, 4))
for i in range(4):                        # rows of the output
    for j in range(4):                    # columns of the output
        by_hand[i, j] = np.sum(image[i:i + 3, j:j + 3] * kernel)
print("by hand:\n", by_hand.astype(int))

layer_output = thesis.edge_example()      # minicnn's conv2d_forward, the layer's own kernel
print("minicnn.thesis.edge_example():\n", layer_output.astype(int))
assert np.array_equal(by_hand, layer_output)

# %% [markdown]
# ## Why it is really a *cross-correlation*
#
# In mathematics a convolution flips the kernel (upside down and left to right) before
# sliding it. CNN layers, in Keras and here, do not flip: what they compute is a
# cross-correlation. The name "convolution" stuck; the difference does not matter for
# learning, because the network learns the kernel anyway. For this kernel, flipping turns
# +1 into -1, so a true convolution gives +5 where the layer gives -5.

# %%
print("scipy correlate2d (no flip) top-left:", int(correlate2d(image, kernel, "valid")[0, 0]))
print("scipy convolve2d  (flip)    top-left:", int(convolve2d(image, kernel, "valid")[0, 0]))
assert np.array_equal(correlate2d(image, kernel, "valid"), layer_output)

# %% [markdown]
# ## What the kernel detects: a vertical edge
#
# The kernel answers "left column minus right column". On a picture that is bright on the
# left and dark on the right it answers strongly exactly at the boundary, and 0 on flat
# areas: the first layers of a CNN are detectors of lines and edges like this one.

# %%
step = np.zeros((6, 8))
step[:, :4] = 10                                          # bright left half
edges = kernels.conv2d_forward(step[None, :, :, None], kernel[:, :, None, None],
                               np.zeros(1))[0, :, :, 0]
print("bright-left picture through the kernel:\n", edges.astype(int))

# %% [markdown]
# ## Figure: image, kernel and output (Figure 5)

# %%
fig = Figure(figsize=(10, 3.4))
axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [6, 3, 4]})
for ax, data, title in zip(axes, (image, kernel, layer_output),
                           ("6x6 image", "3x3 kernel", "4x4 output (cross-correlation)")):
    top = np.abs(data).max() * 1.6                        # pale colours: the numbers stay readable
    ax.imshow(data, cmap="coolwarm" if data.min() < 0 else "Greys",
              vmin=-top if data.min() < 0 else 0, vmax=top)
    for (r, c), v in np.ndenumerate(data):
        ax.text(c, r, f"{int(v)}", ha="center", va="center", fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
axes[0].add_patch(Rectangle((-0.5, -0.5), 3, 3, fill=False, edgecolor="crimson",
                           linewidth=2))                  # the top-left window
fig.tight_layout()
fig.savefig(FIGURES / "edge_example.png")
fig

# %% [markdown]
# ## Three tiers, one answer
#
# minicnn implements every layer three times (`minicnn.kernels`, `backend=` argument):
#
# - **naive**: the loops above, written out; for reading, slow.
# - **numpy**: one matrix multiply per kernel offset (shift-and-add), vectorised.
# - **numba**: windows copied into a matrix in cache-sized chunks (im2col) and multiplied
#   by BLAS, compiled with Numba; direct loops when the input has few channels.
#
# All three agree on Figure 5 exactly, and on a layer of the thesis CNN's size up to float
# rounding. Then we time them (the thesis CNN's second convolution: 64 maps in, 64 out),
# each after one untimed call: a Numba function's first call compiles it (or loads it from
# the cache) and starts its threads, which would be timed instead of the convolution.

# %%
for tier in ("naive", "numpy", "numba"):
    print(f"{tier:>5}: top-left {int(thesis.edge_example(backend=tier)[0, 0])}")

rng = np.random.default_rng(0)
n, side = (1, 40) if QUICK else (4, 74)          # full: the thesis's 74x74x64 maps, batch 4
x = rng.random((n, side, side, 64), dtype=np.float32)
w = (rng.standard_normal((3, 3, 64, 64)) * 0.05).astype(np.float32)
bias = np.zeros(64, np.float32)

outputs, seconds = {}, {}
for tier in ("naive", "numpy", "numba"):
    if tier != "naive":     # one untimed call on the same input: Numba compiles (or loads its
        kernels.conv2d_forward(x, w, bias, backend=tier)   # cache), threads start, once
    repeats = 1 if tier == "naive" else 3                  # then the best of three
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        outputs[tier] = kernels.conv2d_forward(x, w, bias, backend=tier)
        best = min(best, time.perf_counter() - start)
    seconds[tier] = best
reference = outputs["naive"]
machine = f"{platform.machine()}, {os.cpu_count()} cores"
print(f"forward of x {x.shape} with kernel {w.shape} -> {reference.shape}, on {machine}:")
for tier in seconds:
    diff = np.abs(outputs[tier] - reference).max()
    print(f"{tier:>5}: {seconds[tier]:8.4f} s, {seconds['naive'] / seconds[tier]:5.1f}x naive's "
          f"speed, max |difference from naive| = {diff:.1e}")
    assert diff < 1e-3 * np.abs(reference).max()

# %% [markdown]
# ## Figure: time per tier (log scale; your machine's numbers)

# %%
fig = Figure(figsize=(5.5, 3.2))
ax = fig.add_subplot()
ax.barh(list(seconds), list(seconds.values()), color=["#999", "#4c72b0", "#dd8452"])
ax.set_xscale("log")
ax.set_xlabel("seconds, one forward pass (log scale)")
ax.set_title(f"Conv2D forward, x {x.shape}, on {machine}", fontsize=9)
ax.invert_yaxis()
fig.tight_layout()
fig.savefig(FIGURES / "tier_times.png")
fig

# %%
print(f"figures saved in {FIGURES}")

# %% [markdown]
# ## Exercises (answers in docs/answers.md)
#
# 1. Compute by hand the output at row 0, column 3 (the 8). Which columns of the image does
#    the kernel compare there?
# 2. Which kernel detects *horizontal* edges? Try it on the 6x6 image with
#    `minicnn.kernels.conv2d_forward`.
# 3. With stride 2 and no padding, what is the output's size for the 6x6 image? And for a
#    150x150 X-ray with the thesis's 3x3 kernels?
