"""The exercises: each function's signature and the docstring its stub carries.

A stub is ``def <signature>:``, the docstring, and ``raise NotImplementedError``. Layouts
are minicnn's (and Keras's): images (N, H, W, C), conv kernel (KH, KW, C_in, C_out), dense
kernel (in, out). Equation numbers are the thesis's (see docs/equations.md).
"""
from collections import namedtuple

Exercise = namedtuple("Exercise", "name file signature doc")

EXERCISES = [
    Exercise("relu_forward", "activations.py", "relu_forward(x)", """\
ReLU, f(x) = max(0, x), elementwise.

x: any shape -> same shape. Hint: np.maximum."""),
    Exercise("relu_backward", "activations.py", "relu_backward(x, dy)", """\
Gradient of ReLU: dL/dx given the forward's input x and dy = dL/dy (same shape).

dx = dy where x > 0, else 0 (the derivative at 0 is taken as 0, as Keras).
Hint: the mask comes from x, the values from dy."""),
    Exercise("conv2d_forward", "conv.py",
             'conv2d_forward(x, kernel, bias, stride=1, padding="valid")', """\
Convolution layer (a cross-correlation: the kernel is NOT flipped), eq. (1) per window:

    y[n, i, j, f] = sum_{a, e, c} x_pad[n, i*stride + a, j*stride + e, c] * kernel[a, e, c, f]
                    + bias[f]

x (N, H, W, C_in), kernel (KH, KW, C_in, C_out), bias (C_out,) -> y (N, H_out, W_out, C_out).
padding "valid": no padding, H_out = (H - KH) // stride + 1.
padding "same" (Keras's rule): H_out = ceil(H / stride); pad the total
max((H_out - 1) * stride + KH - H, 0) with zeros, half of it (rounded down) on top/left,
the rest on the bottom/right. Same for the width.
Hint: thesis Figure 5, the 6x6 image and vertical-edge kernel, gives -5 at the top left.
np.tensordot(window, kernel, axes=3) sums one window against all filters."""),
    Exercise("conv2d_backward", "conv.py",
             'conv2d_backward(x, kernel, dy, stride=1, padding="valid")', """\
Gradients of conv2d_forward given dy = dL/dy (N, H_out, W_out, C_out).

Returns (dx, dkernel, dbias) shaped like x, kernel and (C_out,).
Each output y[n, i, j, f] used one window of x_pad and the kernel, so:
  dkernel[..., f] += window * dy[n, i, j, f]      (summed over n, i, j)
  dx_pad[window]  += kernel[..., f] * dy[n, i, j, f]
  dbias[f]         = sum of dy[..., f]
then crop the padding off dx_pad. (dx is the "full" correlation of dy with the kernel
rotated 180 degrees: example 10.)"""),
    Exercise("maxpool2d_forward", "pool.py", "maxpool2d_forward(x, pool_size=2)", """\
Max-pooling, per channel: the largest value of each pool_size x pool_size window,
windows side by side (stride = pool_size), no padding.

x (N, H, W, C) -> (N, H // pool_size, W // pool_size, C) (leftover rows/columns dropped)."""),
    Exercise("maxpool2d_backward", "pool.py", "maxpool2d_backward(x, dy, pool_size=2)", """\
Gradient of maxpool2d_forward: dL/dx (N, H, W, C) from x and dy (N, H_out, W_out, C).

Only the cell that held the window's maximum gets dy; the others get 0 (they did not
change the output). Hint: not every cell, and not dy / 4."""),
    Exercise("dense_forward", "dense.py", "dense_forward(x, kernel, bias)", """\
Dense layer, eq. (1) per neuron: z = x . kernel + bias.

x (N, in), kernel (in, out), bias (out,) -> z (N, out)."""),
    Exercise("dense_backward", "dense.py", "dense_backward(x, kernel, dy)", """\
Gradients of dense_forward given dy = dL/dz (N, out).

Returns (dx (N, in), dkernel (in, out), dbias (out,)). dy already carries the batch
mean's 1/N (from the loss): sum over the batch here, do not average again."""),
    Exercise("softmax_cross_entropy", "loss.py", "softmax_cross_entropy(logits, labels)", """\
Softmax followed by cross-entropy, from logits, mean over the batch.

logits (N, K) float, labels (N,) integers in [0, K) -> (loss float, dlogits (N, K)).
p = softmax(logits) row by row; loss = mean_n(-ln p[n, labels[n]]);
dlogits = (p - onehot(labels)) / N (the fused gradient p - y, example 04).
Hint: subtract each row's maximum before exp (the result is the same, no overflow)."""),
    Exercise("adam_step", "adam.py",
             "adam_step(param, grad, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)",
             """\
One Adam step (Keras's form), t = 1, 2, ... the step number. Returns (param, m, v), new arrays.

m = beta_1 m + (1 - beta_1) grad;  v = beta_2 v + (1 - beta_2) grad^2
alpha_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)     (the bias correction)
param = param - alpha_t * m / (sqrt(v) + epsilon)
Hint: at t = 1 with m = v = 0 the step is about lr * sign(grad) (example 10)."""),
]

#: The last exercise: a small CNN built from the functions above, trained on X-rays.
TRAINING = "small_cnn"
#: The stub script that runs it by itself (it holds no exercise function).
TRAIN_SCRIPT = "train_small_cnn.py"
NAMES = [e.name for e in EXERCISES] + [TRAINING]


def stub_files():
    """{file name: source} of the stub files ``minicnn exercises start`` writes."""
    files = {}
    for ex in EXERCISES:
        doc = "\n    ".join(ex.doc.splitlines()).replace("\n    \n", "\n\n")
        body = f'def {ex.signature}:\n    """{doc}\n    """\n    raise NotImplementedError\n'
        files.setdefault(ex.file, [_HEADER.format(file=ex.file)]).append(body)
    sources = {name: "\n\n".join(parts) for name, parts in files.items()}
    sources[TRAIN_SCRIPT] = _TRAIN_SCRIPT
    return sources


_HEADER = '''"""minicnn exercises: {file}. Fill in each function, then run
    minicnn exercises check DIR
(DIR: this folder). NumPy only; do not import minicnn here. The checker passes float64
arrays: keep them float64 (float32 rounding would look like a mistake)."""
import numpy as np
'''

_TRAIN_SCRIPT = '''"""The last exercise: a small CNN of YOUR functions, trained on a few X-rays.

    python train_small_cnn.py            (from this folder; `minicnn exercises check .`
                                          runs the same training as its last exercise)

conv 3x3 (8 filters) -> ReLU -> max-pool 2x2 -> dense (2) -> softmax cross-entropy, Adam.
Read minicnn/exercises/small_cnn.py for the loop: it calls only the functions you wrote.
"""
import sys
from pathlib import Path

from minicnn.exercises import load_solutions
from minicnn.exercises.small_cnn import report, train_on_xrays

if __name__ == "__main__":
    result = train_on_xrays(load_solutions(Path(__file__).parent))
    print(report(result))
    sys.exit(0 if result["passed"] else 1)
'''
