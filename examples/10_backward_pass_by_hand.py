# %% [markdown]
# # 10 - The backward pass by hand (thesis Figure 5, run backwards)
#
# Example 02 ran the thesis's 6x6 image X through its vertical-edge kernel K and got a 4x4
# map Y, with Y[0, 0] = -5. Training needs the other direction: given dY = dL/dY, how much
# does the loss change with each kernel weight (dK, to learn K) and with each input pixel
# (dX, to pass the gradient on to the layer below)? We compute both with numbers, three
# ways: by the sums, through im2col (the 16x9 matrix of windows), and as correlations;
# then confirm them with the gradient check, and do the same for max-pooling.
#
# Forward, eq. (1) at every window: Y[i, j] = sum_{a, e} X[i + a, j + e] K[a, e] (+ b).
# Each Y[i, j] is linear in K and in X, so by the chain rule
#
#     dK[a, e] = sum_{i, j} dY[i, j] X[i + a, j + e]   (each weight met every window)
#     dX[r, c] = sum_{i, j} dY[i, j] K[r - i, c - j]    (each pixel met the kernel cells
#                                                       that covered it)
#     db       = sum_{i, j} dY[i, j]

# %%
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy.signal import convolve2d, correlate2d

from minicnn import kernels, thesis
from minicnn.gradcheck import numerical_gradient, relative_error

NAME = "10_backward_pass_by_hand"
QUICK = os.environ.get("MINICNN_QUICK") == "1"   # nothing slow here; kept for uniformity
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()  # script or notebook
FIGURES = Path(os.environ.get("MINICNN_FIGURES") or HERE / "figures" / NAME)
FIGURES.mkdir(parents=True, exist_ok=True)

X = thesis.EXAMPLE_IMAGE_6X6              # (6, 6)
K = thesis.VERTICAL_EDGE_KERNEL           # (3, 3)


def conv(x, k):
    """The layer's forward pass on one 2-D image and kernel (N = C_in = C_out = 1)."""
    return kernels.conv2d_forward(x[None, :, :, None], k[:, :, None, None], np.zeros(1))[0, :, :, 0]


def conv_backward(x, k, dy):
    """minicnn's backward pass on 2-D arrays: (dX (6, 6), dK (3, 3), db)."""
    dx, dk, db = kernels.conv2d_backward(x[None, :, :, None], k[:, :, None, None],
                                         dy[None, :, :, None])
    return dx[0, :, :, 0], dk[:, :, 0, 0], float(db[0])


def show(name, a):
    print(f"{name}:\n{np.array2string(a.astype(int) if np.all(a == a.round()) else a)}")


Y = conv(X, K)
show("Y = X * K (example 02)", Y)

# %% [markdown]
# ## dY all ones: the loss L = sum(Y)
#
# Then dK[a, e] is the sum of the 4x4 block of X that the kernel cell (a, e) saw: dK[0, 0] is
# the sum of X's top-left 4x4 block. dX[r, c] is the sum of the kernel cells that covered
# pixel (r, c): a corner pixel met only K[0, 0] = 1; a pixel in the middle met all nine
# cells, whose sum is 0.

# %%
ones = np.ones((4, 4))
dX, dK, db = conv_backward(X, K, ones)
print(f"dK[0, 0] = sum of X[0:4, 0:4] = {int(X[:4, :4].sum())}")
show("dK (dY = ones)", dK)
show("dX (dY = ones)", dX)
print(f"db = sum(dY) = {db:.0f}")
assert dK[0, 0] == X[:4, :4].sum() and dX[0, 0] == K[0, 0] and dX[2, 2] == 0

# %% [markdown]
# ## A chosen dY: the sums written out
#
# Now a dY with a few non-zero cells. Only windows with dY[i, j] != 0 contribute: dK is
# 1 x (window at (0, 0)) + 2 x (window at (1, 2)) - 1 x (window at (3, 3)); dX is the kernel
# stamped at those three places with those weights.

# %%
dY = np.zeros((4, 4))
dY[0, 0], dY[1, 2], dY[3, 3] = 1, 2, -1
show("dY", dY)
by_hand_dK = 1 * X[0:3, 0:3] + 2 * X[1:4, 2:5] - 1 * X[3:6, 3:6]
by_hand_dX = np.zeros((6, 6))
for (i, j), g in np.ndenumerate(dY):
    by_hand_dX[i:i + 3, j:j + 3] += g * K               # stamp the kernel, weighted by dY
dX, dK, db = conv_backward(X, K, dY)
show("dK by hand = 1*X[0:3,0:3] + 2*X[1:4,2:5] - 1*X[3:6,3:6]", by_hand_dK)
show("dX by hand (the kernel stamped where dY is not 0)", by_hand_dX)
assert np.array_equal(dK, by_hand_dK) and np.array_equal(dX, by_hand_dX)
print("minicnn.kernels.conv2d_backward gives the same dK and dX")

# %% [markdown]
# ## The same through im2col: a 16x9 matrix
#
# Write each of the 16 windows of X as a row of 9 numbers: the 16x9 matrix C. The forward
# pass is then one matrix-vector product, Y = C k with k = K flattened (9 numbers); this is
# what minicnn's numba tier does, in chunks, with BLAS. Its derivative is the transpose:
# dK = C^T dY (a 9-vector), and the windows' gradient dC = dY k^T (16x9), which "col2im"
# adds back into the pixels each window came from.

# %%
C = np.array([X[i:i + 3, j:j + 3].ravel() for i in range(4) for j in range(4)])   # (16, 9)
print(f"C, the 16x9 window matrix (row 0 = the top-left window {C[0].astype(int)}):")
print(C.astype(int))
k = K.ravel()
print(f"C @ k = {(C @ k).astype(int)}  (Y row by row)")
assert np.array_equal((C @ k).reshape(4, 4), Y)
dK_im2col = (C.T @ dY.ravel()).reshape(3, 3)
dC = np.outer(dY.ravel(), k)                          # (16, 9): each window's gradient
dX_im2col = np.zeros((6, 6))
for row, (i, j) in enumerate((i, j) for i in range(4) for j in range(4)):
    dX_im2col[i:i + 3, j:j + 3] += dC[row].reshape(3, 3)             # col2im
show("C^T dY, reshaped 3x3", dK_im2col)
assert np.array_equal(dK_im2col, dK) and np.array_equal(dX_im2col, dX)

# %% [markdown]
# ## dX is a "full" correlation with the kernel rotated 180 degrees
#
# Pad dY with KH - 1 = 2 zeros on every side (8x8), rotate K by 180 degrees (flip it upside
# down and left to right) and slide it over the padded dY: the 6x6 result is dX. Correlating
# with a rotated kernel is a true convolution, so dX = convolve(dY, K, "full"): the forward
# pass of a CNN is a correlation and its input gradient a convolution. And dK is the "valid"
# correlation of the input with dY.

# %%
K_rot = np.rot90(K, 2)
show("K rotated 180 degrees", K_rot)
full = correlate2d(np.pad(dY, 2), K_rot, "valid")
assert np.array_equal(full, dX) and np.array_equal(convolve2d(dY, K, "full"), dX)
assert np.array_equal(correlate2d(X, dY, "valid"), dK)
print("correlate(pad(dY, 2), rot180(K)) == convolve(dY, K, 'full') == dX: True")
print("correlate(X, dY, 'valid') == dK: True")

# %% [markdown]
# ## The gradient check agrees
#
# Centred differences of L = sum(dY * conv(X, K)), in float64 (example 05's recipe).

# %%
num_dK = numerical_gradient(lambda kk: dY * conv(X, kk), K)
num_dX = numerical_gradient(lambda xx: dY * conv(xx, K), X)
print(f"relative error dK {relative_error(dK, num_dK):.1e}, dX {relative_error(dX, num_dX):.1e}")
assert relative_error(dK, num_dK) < 1e-8 and relative_error(dX, num_dX) < 1e-8

# %% [markdown]
# ## Max-pooling backward: the gradient goes to the winner
#
# Pool Y (4x4) with 2x2 windows: each output is the largest of four numbers, so only that
# number moved the output, and only its cell gets the gradient; the other three get 0.
# (With ties, minicnn, like Keras, picks the first maximum in row-major order. That happens
# after ReLU, when a whole window is 0: try it in exercise 2.)

# %%
pooled = kernels.maxpool2d_forward(Y[None, :, :, None])[0, :, :, 0]
d_pooled = np.array([[1.0, 2.0], [3.0, 4.0]])
d_Y = kernels.maxpool2d_backward(Y[None, :, :, None], d_pooled[None, :, :, None])[0, :, :, 0]
show("Y, pooled 2x2 (max of each block)", pooled)
show("gradient from above, dL/d(pooled)", d_pooled)
show("dL/dY: each gradient at its block's maximum", d_Y)
for (i, j), g in np.ndenumerate(d_pooled):
    block = Y[2 * i:2 * i + 2, 2 * j:2 * j + 2]
    a, e = np.unravel_index(block.argmax(), (2, 2))
    print(f"block ({i},{j}) {block.astype(int).tolist()}: max {int(block.max())} at "
          f"({2 * i + a},{2 * j + e}) gets {g:.0f}")
assert d_Y.sum() == d_pooled.sum() and np.count_nonzero(d_Y) == 4

# %% [markdown]
# ## Figure: X, dY, dK and dX

# %%
fig = Figure(figsize=(11, 3.2))
for ax, data, title in zip(fig.subplots(1, 4), (X, dY, dK, dX),
                           ("X (6x6)", "dY (4x4)", "dK = corr(X, dY)", "dX = conv(dY, K, full)")):
    top = max(np.abs(data).max(), 1) * 1.6
    ax.imshow(data, cmap="coolwarm", vmin=-top, vmax=top)
    for (r, c), v in np.ndenumerate(data):
        ax.text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
fig.savefig(FIGURES / "backward_by_hand.png")
fig

# %%
print(f"figures saved in {FIGURES}")

# %% [markdown]
# ## Exercises (answers in docs/answers.md)
#
# 1. With dY = ones, why are columns 2 and 3 of dX all 0 while column 0 is not? Which
#    property of the vertical-edge kernel makes it so?
# 2. Pool the ReLU of Y instead of Y. Two of the four windows are all zeros: where does
#    their gradient go, and does it matter for learning?
# 3. With stride 2 (windows at columns 0 and 2 only), which pixels of X get no gradient at
#    all? Check with `kernels.conv2d_backward(..., strides=2)`.
# 4. Write `conv2d_backward` yourself: `minicnn exercises start --out my_exercises`, then
#    `minicnn exercises check my_exercises conv2d_backward`.
