"""The exercises: each function's signature and the docstring its stub carries.

A stub is ``def <signature>:``, the docstring, and ``raise NotImplementedError``. Layouts
are minicnn's (and Keras's): images (N, H, W, C), conv kernel (KH, KW, C_in, C_out), dense
kernel (in, out). Equation numbers are the thesis's (see docs/equations.md). ``doc_es`` is the
Spanish docstring (None: not written yet).
"""
from collections import namedtuple

Exercise = namedtuple("Exercise", "name file signature doc doc_es", defaults=(None,))

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

# The exercises added after the first ten; COURSE below puts every exercise in its place.
_MORE = [
    Exercise("numerical_gradient", "gradcheck.py", "numerical_gradient(f, x, h=1e-5)", """\
Numerical gradient of a scalar function f at the array x, by centred differences:

    grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h)     for every index i of x

f takes an array shaped like x and returns a number; x any shape -> grad shaped like x.
Centred differences are off by about h^2, one-sided ones by about h (example 05). Leave x
as it was: change one entry, call f, and put the saved value back (keep = x[i]; ...;
x[i] = keep; adding and subtracting h leaves rounding errors), or work on a copy.
Hint: np.ndindex(x.shape) gives every index of an array of any shape. Use this function to
check your backward passes below.""", """\
Gradiente numérico de una función escalar f en el arreglo x, por diferencias centrales:

    grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h)     para cada índice i de x

f recibe un arreglo con la forma de x y devuelve un número; x de cualquier forma -> grad
con la forma de x. Las diferencias centrales se equivocan en el orden de h^2; las de un
solo lado, en el orden de h (ejemplo 05). Deje x como estaba: cambie una entrada, llame a
f y vuelva a poner el valor guardado (antes = x[i]; ...; x[i] = antes; sumar y restar h
deja errores de redondeo), o trabaje sobre una copia.
Pista: np.ndindex(x.shape) da todos los índices de un arreglo de cualquier forma. Use esta
función para comprobar sus funciones hacia atrás de más abajo."""),
    Exercise("batchnorm_forward", "batchnorm.py",
             "batchnorm_forward(x, gamma, beta, epsilon=0.001)",
             """\
Batch normalization in training mode (Keras's BatchNormalization; not in the thesis: the
`improved` preset adds it after each pooling and the last convolution). Per channel c (the
last axis):

    mean[c], var[c] over every other axis (N, H, W), var = mean((x - mean)^2), the biased
    variance (divide by m, the number of values per channel, not by m - 1)
    y = gamma[c] * (x - mean[c]) / sqrt(var[c] + epsilon) + beta[c]

x (N, H, W, C) or (N, C), gamma and beta (C,) -> y shaped like x.
Hint: axes = tuple(range(x.ndim - 1)); x.mean(axis=axes) and x.var(axis=axes) (ddof=0).""",
             """\
Normalización por lotes en modo de entrenamiento (BatchNormalization de Keras; no está en
la tesis: el preset `improved` la agrega después de cada agrupación y de la última
convolución). Por canal c (el último eje):

    media[c], var[c] sobre todos los demás ejes (N, H, W), var = media((x - media)^2), la
    varianza sesgada (se divide por m, el número de valores por canal, no por m - 1)
    y = gamma[c] * (x - media[c]) / sqrt(var[c] + epsilon) + beta[c]

x (N, H, W, C) o (N, C), gamma y beta (C,) -> y con la forma de x.
Pista: ejes = tuple(range(x.ndim - 1)); x.mean(axis=ejes) y x.var(axis=ejes) (ddof=0)."""),
    Exercise("batchnorm_backward", "batchnorm.py",
             "batchnorm_backward(x, gamma, dy, epsilon=0.001)",
             """\
Gradients of batchnorm_forward given dy = dL/dy (shaped like x): (dx, dgamma, dbeta).

With x_hat = (x - mean) / sqrt(var + epsilon) and sums and means over every axis but the
last (per channel):
  dbeta = sum of dy;   dgamma = sum of dy * x_hat   (both (C,))
  dx = gamma / sqrt(var + epsilon) * (dy - mean(dy) - x_hat * mean(dy * x_hat))
The two mean terms come from mean and var: they are computed from x, so they are not
constants (one x moves every x_hat of its channel). Without them dx is the inference-mode
gradient. Hint: check dx with your numerical_gradient on a small x (the loss sum(dy * y)).""",
             """\
Gradientes de batchnorm_forward dado dy = dL/dy (con la forma de x): (dx, dgamma, dbeta).

Con x_hat = (x - media) / sqrt(var + epsilon), y sumas y medias sobre todos los ejes menos
el último (por canal):
  dbeta = suma de dy;   dgamma = suma de dy * x_hat   (ambos (C,))
  dx = gamma / sqrt(var + epsilon) * (dy - media(dy) - x_hat * media(dy * x_hat))
Los dos términos con media vienen de la media y la varianza: se calculan con x, así que no
son constantes (un x mueve todos los x_hat de su canal). Sin ellos dx es el gradiente del
modo de predicción. Pista: compruebe dx con su numerical_gradient en un x pequeño (la
pérdida sum(dy * y))."""),
    Exercise("dropout_forward", "dropout.py", "dropout_forward(x, mask, rate)", """\
Inverted dropout in training (Keras's Dropout, minicnn's layers.Dropout): the dropped
values become 0 and the kept ones are divided by the keep probability 1 - rate, so every
value keeps its expected value and Dropout does nothing at inference:

    y = x * mask / (1 - rate)

x any shape; mask shaped like x, 1 where the value is kept and 0 where it is dropped
(drawn for you, 1 with probability 1 - rate); rate in [0, 1) -> y shaped like x.
Hint: E[mask] = 1 - rate, so E[y] = x only if you divide by 1 - rate (not by rate).""", """\
Dropout invertido en entrenamiento (Dropout de Keras, layers.Dropout de minicnn): los
valores descartados pasan a 0 y los que se quedan se dividen por la probabilidad de quedarse,
1 - rate, así cada valor conserva su valor esperado y Dropout no hace nada en la
predicción:

    y = x * mask / (1 - rate)

x de cualquier forma; mask con la forma de x, 1 donde el valor se queda y 0 donde se
descarta (ya sorteada, 1 con probabilidad 1 - rate); rate en [0, 1) -> y con la forma de
x. Pista: E[mask] = 1 - rate, así que E[y] = x solo si divide por 1 - rate (no por rate)."""),
    Exercise("dropout_backward", "dropout.py", "dropout_backward(dy, mask, rate)", """\
Gradient of dropout_forward given dy = dL/dy: dx shaped like dy.

Each y is its x times a constant, mask / (1 - rate), so dx is dy times the same constant.
Hint: the same mask AND the same division by 1 - rate as the forward.""", """\
Gradiente de dropout_forward dado dy = dL/dy: dx con la forma de dy.

Cada y es su x por una constante, mask / (1 - rate), así que dx es dy por la misma
constante. Pista: la misma máscara Y la misma división por 1 - rate que hacia adelante."""),
    Exercise("sigmoid_binary_cross_entropy", "loss.py",
             "sigmoid_binary_cross_entropy(logits, labels)", """\
Sigmoid followed by binary cross-entropy, from logits, mean over the batch: one output
unit, minus a logistic regression's log-likelihood per observation (docs/bridge.md).

logits (N,) float, labels (N,) of 0 and 1 -> (loss float, dlogits (N,)).
p = sigmoid(z) = 1 / (1 + e^-z) (thesis eq. (3));
loss = mean_n(-(y ln p + (1 - y) ln(1 - p))) = mean_n(softplus(z) - y z);
dlogits = (sigmoid(logits) - labels) / N.
Hint: at logits of +-1000, ln p or ln(1 - p) is ln 0; write
softplus(z) = ln(1 + e^z) = max(z, 0) + ln(1 + e^-|z|) (np.log1p), finite for any z.""",
             """\
Sigmoide seguida de entropía cruzada binaria, desde los logits, promediada sobre el lote:
una sola unidad de salida, menos la log-verosimilitud de una regresión logística por
observación (docs/es/puente.md).

logits (N,) reales, labels (N,) de 0 y 1 -> (loss real, dlogits (N,)).
p = sigmoide(z) = 1 / (1 + e^-z) (ecuación (3) de la tesis);
loss = media_n(-(y ln p + (1 - y) ln(1 - p))) = media_n(softplus(z) - y z);
dlogits = (sigmoide(logits) - labels) / N.
Pista: con logits de +-1000, ln p o ln(1 - p) es ln 0; escriba
softplus(z) = ln(1 + e^z) = max(z, 0) + ln(1 + e^-|z|) (np.log1p), finito para todo z."""),
]

#: The course's order: your own gradient check first, then the layers, the losses and Adam.
COURSE = ["numerical_gradient", "relu_forward", "relu_backward", "conv2d_forward",
          "conv2d_backward", "maxpool2d_forward", "maxpool2d_backward", "dense_forward",
          "dense_backward", "batchnorm_forward", "batchnorm_backward", "dropout_forward",
          "dropout_backward", "sigmoid_binary_cross_entropy", "softmax_cross_entropy",
          "adam_step"]
EXERCISES = sorted(EXERCISES + _MORE, key=lambda e: COURSE.index(e.name))

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
