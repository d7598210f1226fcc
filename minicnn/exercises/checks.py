"""The autograder: each exercise function against minicnn's own kernels, on random inputs.

A check returns ``(error, hint)``: the worst relative error (``minicnn.gradcheck``'s
max |a - b| / (|a| + |b|)) over its trials, and None or a hint ({"en": ..., "es": ...},
``minicnn.exercises.lang``) naming each returned array that is wrong (dx, dkernel, ...) and
the likely mistake. Forward functions are compared with the kernels' values; backward ones
with float64 numerical gradients (centred differences of the reference forward pass). A
likely mistake is recognised by computing it: the answer a flipped kernel, a forgotten batch
mean, ... would give, compared with the student's. :func:`run_check` runs a check twice,
with float64 and with float32 inputs, through ``conventions.Convention`` (inputs left as
they were, None never returned, the output's dtype the input's).
"""
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from .. import kernels, losses
from ..gradcheck import numerical_gradient, relative_error
from ..optimizers import Adam
from .conventions import Convention
from .isolated import Failure
from .lang import fill, hint, join

TOL = 1e-6        # float64 answers agree to ~1e-12; numerical gradients to ~1e-9
TOL32 = 1e-3      # float32 inputs: error relative to the largest value (rounding ~1e-6)
_PRECISION = {"tol": TOL, "scaled": False}

FLIPPED = hint(
    "the kernel looks flipped: a CNN layer is a cross-correlation, it slides the kernel as it "
    "is (kernel[a, e], not kernel[KH-1-a, KW-1-e]); thesis Figure 5 gives -5",
    "el núcleo parece invertido: una capa convolucional es una correlación cruzada, desliza "
    "el núcleo tal como está (kernel[a, e], no kernel[KH-1-a, KW-1-e]); la figura 5 de la "
    "tesis da -5")
FLIPPED_DX = hint(
    "the kernel is the wrong way round in dx (rotated 180 degrees). Window by window it is "
    "dx_pad[window] += kernel[..., f] * dy[n, i, j, f], the kernel as it is; as a 'full' "
    "correlation of dy, the kernel must first be ROTATED 180 degrees, kernel[::-1, ::-1] "
    "(example 10): forgetting that rotation gives exactly this",
    "el núcleo está al revés en dx (girado 180 grados). Ventana por ventana es "
    "dx_pad[ventana] += kernel[..., f] * dy[n, i, j, f], el núcleo tal como está; como "
    "correlación 'completa' de dy, el núcleo hay que GIRARLO 180 grados antes, "
    "kernel[::-1, ::-1] (ejemplo 10): olvidar ese giro da exactamente esto")
FLIPPED_DKERNEL = hint(
    "rotated 180 degrees: dkernel[a, e, c, f] = sum over n, i, j of "
    "x_pad[n, i*strides + a, j*strides + e, c] * dy[n, i, j, f], the window as it is (do not "
    "flip it)",
    "girado 180 grados: dkernel[a, e, c, f] = suma sobre n, i, j de "
    "x_pad[n, i*strides + a, j*strides + e, c] * dy[n, i, j, f], la ventana tal como está "
    "(no la invierta)")
BATCH_MEAN = hint(
    "off by a factor of N (the batch size): the loss is the MEAN over the batch, so its "
    "gradient carries 1/N; layers then SUM over the batch (dy already holds the 1/N)",
    "errado por un factor N (el tamaño del lote): la pérdida es la MEDIA sobre el lote, así "
    "que su gradiente lleva 1/N; las capas luego SUMAN sobre el lote (dy ya trae el 1/N)")
EVERY_CELL = hint(
    "the gradient went to every cell of the window: only the cell that held the maximum "
    "changed the output, so only it gets dy (the others get 0)",
    "el gradiente fue a todas las celdas de la ventana: solo la celda que tenía el máximo "
    "cambió la salida, así que solo ella recibe dy (las demás reciben 0)")
NO_CORRECTION = hint(
    "no bias correction: m and v start at 0, so divide by (1 - beta_1^t) and "
    "(1 - beta_2^t), here folded into alpha_t = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)",
    "falta la corrección de sesgo: m y v empiezan en 0, así que se dividen por "
    "(1 - beta_1^t) y (1 - beta_2^t), aquí reunidos en "
    "alpha_t = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)")
V_ABS = hint(
    "v averages the SQUARED gradient, grad ** 2 (or grad * grad), not |grad|: "
    "v = beta_2 v + (1 - beta_2) grad^2",
    "v promedia el gradiente AL CUADRADO, grad ** 2 (o grad * grad), no |grad|: "
    "v = beta_2 v + (1 - beta_2) grad^2")
STRIDE_PADDING = hint(
    "right for strides=1 and 'valid' but not for {case}: use the stride in the window "
    "positions (i*strides) and Keras's 'same' zero padding",
    "bien con strides=1 y 'valid' pero no con {case}: use el desplazamiento (stride) en las "
    "posiciones de las ventanas (i*strides) y el relleno con ceros 'same' de Keras")
ROWS_SUM_TO_1 = hint(
    "softmax over the wrong axis: the rows of p must sum to 1 (a row is one image's class "
    "probabilities), so sum the exponentials over axis=1 (keepdims=True), not axis 0",
    "softmax sobre el eje equivocado: las filas de p deben sumar 1 (una fila son las "
    "probabilidades de clase de una imagen), así que sume las exponenciales sobre axis=1 "
    "(keepdims=True), no sobre el eje 0")
ROW_MAXIMUM = hint(
    "subtract each ROW's maximum (logits.max(axis=1, keepdims=True)): a column's maximum "
    "shifts the classes of one image by different amounts and changes p",
    "reste el máximo de cada FILA (logits.max(axis=1, keepdims=True)): el máximo de una "
    "columna desplaza las clases de una imagen en cantidades distintas y cambia p")
NP_MAX = hint(
    "np.max(x, 0) is the largest value along axis 0 (a reduction, the shape shrinks); "
    "max(0, x) element by element is np.maximum(x, 0)",
    "np.max(x, 0) es el mayor valor a lo largo del eje 0 (una reducción, la forma se "
    "achica); max(0, x) elemento a elemento es np.maximum(x, 0)")
ABS = hint("abs(x) is not max(0, x): negatives become 0",
           "abs(x) no es max(0, x): los negativos pasan a 0")
NO_BIAS = hint("the bias is missing: add bias[f] to every output of filter f",
               "falta el intercepto: sume bias[f] a cada salida del filtro f")
SHAPE = hint("shape {got}, expected {want}; ", "forma {got}, se esperaba {want}; ")
NOT_A_TUPLE = hint("return a tuple ({names}), got {got}",
                   "devuelva una tupla ({names}), llegó {got}")
FLOAT32 = hint("with float32 inputs: ", "con entradas float32: ")
SHAPES_DO_NOT_FIT = hint(
    "; the shapes on that line do not fit: print them. A reduction (np.max, np.sum, .mean) "
    "must name the axes it removes, e.g. axis=(1, 2) for a window's rows and columns "
    "(axis 0 is the batch), and keepdims=True keeps them for broadcasting",
    "; las formas en esa línea no encajan: imprímalas. Una reducción (np.max, np.sum, "
    ".mean) debe nombrar los ejes que elimina, p. ej. axis=(1, 2) para las filas y columnas "
    "de una ventana (el eje 0 es el lote), y keepdims=True los conserva para el broadcasting")
CASES = [(1, "valid"), (2, "valid"), (1, "same"), (2, "same")]


@contextmanager
def precision(dtype):
    """Within: _judge's tolerance for answers computed from inputs of ``dtype``."""
    saved = dict(_PRECISION)
    scaled = np.dtype(dtype) != np.float64
    _PRECISION.update(tol=TOL32 if scaled else TOL, scaled=scaled)
    try:
        yield
    finally:
        _PRECISION.update(saved)


def _shape(value):
    try:
        return np.shape(value)
    except (TypeError, ValueError):
        return type(value).__name__


def _err(got, want):
    """Relative error of an answer, inf when it is not an array of the expected shape.
    With float32 inputs: max |got - want| over the largest |want|."""
    try:
        got = np.asarray(got, np.float64)
    except (TypeError, ValueError):
        return np.inf
    if got.shape != np.shape(want) or not np.all(np.isfinite(got)):
        return np.inf
    if _PRECISION["scaled"]:
        want = np.asarray(want, np.float64)
        return float(np.max(np.abs(got - want), initial=0.0) /
                     max(1e-8, np.max(np.abs(want), initial=0.0)))
    return relative_error(got, want)


def _judge(got, want, mistakes, generic, part=None):
    """(error, hint): hint None when right, else the first mistake ``got`` matches (or
    ``generic``), after the name of the returned array (``part``) when one is given."""
    err = _err(got, want)
    if err < _PRECISION["tol"]:
        return err, None
    found = next((h for wrong, h in mistakes if _err(got, wrong) < _PRECISION["tol"]), None)
    if found is None and _shape(got) != np.shape(want):
        found = join(fill(SHAPE, got=str(_shape(got)), want=str(np.shape(want))), generic)
    return err, join(f"{part}: " if part else None, found or generic)


def _worst(results):
    """Combine (error, hint) trials: the worst error, every distinct hint (one a line)."""
    hints = []
    for _, h in results:
        if h and h not in hints:
            hints.append(h)
    return max(e for e, _ in results), join(*hints, sep="\n")


def _first_failing(cases):
    """The first of ``cases`` (callables giving (error, hint)) with a hint, else the worst
    error and no hint: the simplest failing case speaks, not every case after it."""
    errors = []
    for case in cases:
        err, h = case()
        if h:
            return err, h
        errors.append(err)
    return max(errors), None


def _parts(got, names):
    """``got`` as a tuple of len(names); Failure with a hint otherwise."""
    if isinstance(got, (tuple, list)) and len(got) == len(names):
        return tuple(got)
    what = f"{type(got).__name__} of {len(got)}" if isinstance(got, (tuple, list)) else \
        type(got).__name__
    raise Failure("FAIL", fill(NOT_A_TUPLE, names=", ".join(names), got=what))


#: Exercises checked with float64 inputs only: a numerical gradient's h = 1e-5 is below
#: float32's resolution (about 1e-7 relative), so float32 inputs cannot give one.
FLOAT64_ONLY = {"numerical_gradient"}


def run_check(name, fn, checks=None):
    """(error, hint) of exercise ``name``'s ``fn``: its check with float64 inputs, then,
    when that passes, with float32 inputs; an input changed in place is a hint too (after
    the check's own); Failure when a call returns None or the wrong dtype."""
    check = (checks or CHECKS)[name]
    error, found = _run_with(check, fn, name, np.float64)
    if found is None and name not in FLOAT64_ONLY:
        found32 = _run_with(check, fn, name, np.float32)[1]
        found = join(FLOAT32, found32) if found32 else None
    return error, found


def _run_with(check, fn, name, dtype):
    """(error, hint) of one pass, its inputs of ``dtype``."""
    wrapped = Convention(fn, name, dtype)
    with precision(dtype):
        error, found = check(wrapped)
    if wrapped.changed and not (found and wrapped.changed["en"] in found["en"]):
        found = join(found, "\n" if found else None, wrapped.changed)
    return error, found


def _rng(seed=0):
    return np.random.default_rng(seed)


def distinct(shape, seed=0):
    """Values 0.01, 0.02, ... shuffled, random signs: no ties, no zeros (no kinks)."""
    rng = _rng(seed)
    size = int(np.prod(shape))
    return ((rng.permutation(size) + 1) * 0.01 * rng.choice([-1, 1], size)).reshape(shape)


def numeric_grads(forward, dy, *args):
    """Centred-difference gradients of sum(dy * forward(*args)) for each argument."""
    grads = []
    for k, arg in enumerate(args):
        def loss(value, k=k):
            trial = list(args)
            trial[k] = value
            return dy * forward(*trial)
        grads.append(numerical_gradient(loss, arg))
    return grads


# -------------------------------------------------------------------------- activations
def check_relu_forward(fn):
    """relu_forward(x) against minicnn.kernels.relu on (2, 4, 5, 3) values with no zeros."""
    x = distinct((2, 4, 5, 3))
    return _judge(fn(x.copy()), kernels.relu(x), [(np.abs(x), ABS), (np.max(x, 0), NP_MAX)],
                  hint("max(0, x): negatives become 0, positives stay",
                       "max(0, x): los negativos pasan a 0, los positivos quedan"), "y")


def check_relu_backward(fn):
    """relu_backward(x, dy) against the numerical gradient of sum(dy * relu(x))."""
    x, dy = distinct((2, 4, 5, 3), 1), _rng(1).normal(size=(2, 4, 5, 3))
    (want,) = numeric_grads(kernels.relu, dy, x)
    mistakes = [(dy * (dy > 0), hint("the mask must come from x (the forward's input), not dy",
                                     "la máscara debe salir de x (la entrada del paso hacia "
                                     "adelante), no de dy")),
                ((x > 0) * 1.0, hint("multiply the mask by dy (the chain rule)",
                                     "multiplique la máscara por dy (la regla de la cadena)"))]
    return _judge(fn(x.copy(), dy.copy()), want, mistakes,
                  hint("dx = dy where x > 0, else 0", "dx = dy donde x > 0, si no 0"), "dx")


# --------------------------------------------------------------------------------- conv
def _conv_data(seed):
    """x (2, 6, 7, 2), kernel (3, 3, 2, 3), bias (3,): an odd width tests the padding."""
    rng = _rng(seed)
    return (rng.normal(size=(2, 6, 7, 2)), rng.normal(size=(3, 3, 2, 3)),
            rng.normal(size=3))


def _case(strides, padding):
    return f"strides={strides}, padding={padding!r}"


def _conv_case(fn, strides, padding, seed):
    x, k, b = _conv_data(seed)
    want = kernels.conv2d_forward(x, k, b, strides, padding)
    got = fn(x.copy(), k.copy(), b.copy(), strides=strides, padding=padding)
    mistakes = [(kernels.conv2d_forward(x, k[::-1, ::-1], b, strides, padding), FLIPPED),
                (want - b, NO_BIAS)]
    generic = hint("eq. (1) at every window: sum(window * kernel) + bias",
                   "la ecuación (1) en cada ventana: sum(ventana * kernel) + bias")
    if (strides, padding) != (1, "valid"):
        generic = fill(STRIDE_PADDING, case=_case(strides, padding))
        mistakes += [(kernels.conv2d_forward(x, k, b, 1, padding), generic),
                     (kernels.conv2d_forward(x, k, b, strides, "valid"), generic)]
    return _judge(got, want, mistakes, generic, "y")


def check_conv2d_forward(fn):
    """Eq. (1) at every window, for strides 1 and 2, padding "valid" and "same"."""
    return _first_failing([lambda s=s, p=p, seed=seed: _conv_case(fn, s, p, seed)
                           for seed, (s, p) in enumerate(CASES)])


@lru_cache(maxsize=None)
def _conv_backward_reference(strides, padding, seed):
    """x, kernel, dy and the numerical gradients (the same for every student: kept)."""
    x, k, b = _conv_data(seed)
    dy = _rng(seed + 10).normal(size=kernels.conv2d_forward(x, k, b, strides, padding).shape)
    def forward(x_, k_, b_):
        return kernels.conv2d_forward(x_, k_, b_, strides, padding)
    kept = (x, k, dy, *numeric_grads(forward, dy, x, k, b))
    for array in kept:
        array.setflags(write=False)
    return kept[:3], kept[3:]


def _conv_backward_case(fn, strides, padding, seed):
    (x, k, dy), want = _conv_backward_reference(strides, padding, seed)
    got = _parts(fn(x.copy(), k.copy(), dy.copy(), strides=strides, padding=padding),
                 ("dx", "dkernel", "dbias"))
    flipped = kernels.conv2d_backward(x, k[::-1, ::-1], dy, strides, padding)[0]
    basic = (strides, padding) == (1, "valid")
    stride_hint = fill(STRIDE_PADDING, case=_case(strides, padding))
    n = len(x)
    return _worst([
        _judge(got[0], want[0], [(flipped, FLIPPED_DX), (want[0] / n, BATCH_MEAN)],
               hint("every window gets kernel * dy, added into dx_pad; then crop the padding",
                    "cada ventana recibe kernel * dy, sumado en dx_pad; luego se recorta el "
                    "relleno") if basic else stride_hint, "dx"),
        _judge(got[1], want[1], [(want[1][::-1, ::-1], FLIPPED_DKERNEL),
                                 (want[1] / n, BATCH_MEAN)],
               hint("the kernel gets window * dy, summed over the batch and positions",
                    "el núcleo recibe ventana * dy, sumado sobre el lote y las posiciones")
               if basic else stride_hint, "dkernel"),
        _judge(got[2], want[2], [(want[2] / np.prod(dy.shape[:3]), BATCH_MEAN),
                                 (want[2] / n, BATCH_MEAN)],
               hint("dbias[f] = the sum of dy[..., f] over the batch and positions",
                    "dbias[f] = la suma de dy[..., f] sobre el lote y las posiciones"),
               "dbias")])


def check_conv2d_backward(fn):
    """(dx, dkernel, dbias) against numerical gradients, for the four strides/padding cases;
    the first failing case is reported."""
    return _first_failing([lambda s=s, p=p, seed=seed: _conv_backward_case(fn, s, p, seed)
                           for seed, (s, p) in enumerate(CASES)])


# --------------------------------------------------------------------------------- pool
POOLS = [((2, 6, 6, 3), 2), ((2, 7, 8, 2), 3)]


def _pool_case(fn, shape, p, seed):
    x = distinct(shape, seed)
    want = kernels.maxpool2d_forward(x, p)
    mean = hint("that is the mean of each window (average pooling); take the maximum",
                "eso es la media de cada ventana (agrupación promedio); tome el máximo")
    return _judge(fn(x.copy(), pool_size=p), want,
                  [(kernels.avgpool2d_forward(x, p), mean)],
                  hint(f"the maximum of each {p}x{p} window, windows side by side (stride "
                       f"{p}), per channel",
                       f"el máximo de cada ventana de {p}x{p}, ventanas lado a lado "
                       f"(desplazamiento {p}), canal por canal"), "y")


def check_maxpool2d_forward(fn):
    """Pools of 2 (6x6 input) and 3 (7x8 input: leftover rows and columns dropped)."""
    return _first_failing([lambda sh=sh, p=p, seed=seed: _pool_case(fn, sh, p, seed)
                           for seed, (sh, p) in enumerate(POOLS)])


def _pool_backward_case(fn, shape, p, seed):
    x = distinct(shape, seed)
    dy = _rng(seed).normal(size=kernels.maxpool2d_forward(x, p).shape)
    (want,) = numeric_grads(lambda v: kernels.maxpool2d_forward(v, p), dy, x)
    spread = kernels.avgpool2d_backward(x, dy, p)
    mistakes = [(spread * p * p, EVERY_CELL),
                (spread, hint("dy / (window size) to every cell is average pooling's "
                              "gradient; max-pooling sends dy to the maximum's cell only",
                              "dy / (tamaño de la ventana) a cada celda es el gradiente de la "
                              "agrupación promedio; la agrupación máxima manda dy solo a la "
                              "celda del máximo"))]
    return _judge(fn(x.copy(), dy.copy(), pool_size=p), want, mistakes,
                  hint("dy goes to the cell holding its window's maximum, 0 elsewhere",
                       "dy va a la celda que tiene el máximo de su ventana, 0 en las demás"),
                  "dx")


def check_maxpool2d_backward(fn):
    """dx against the numerical gradient of sum(dy * maxpool(x)), inputs without ties."""
    return _first_failing([lambda sh=sh, p=p, seed=seed: _pool_backward_case(fn, sh, p, seed)
                           for seed, (sh, p) in enumerate(POOLS)])


# -------------------------------------------------------------------------------- dense
def _dense_data():
    rng = _rng(3)
    return rng.normal(size=(4, 5)), rng.normal(size=(5, 3)), rng.normal(size=3)


def check_dense_forward(fn):
    """z = x @ kernel + bias on x (4, 5), kernel (5, 3)."""
    x, k, b = _dense_data()
    want = kernels.dense_forward(x, k, b)
    return _judge(fn(x.copy(), k.copy(), b.copy()), want, [(want - b, NO_BIAS)],
                  hint("z = x @ kernel + bias, eq. (1)", "z = x @ kernel + bias, ecuación (1)"),
                  "z")


def check_dense_backward(fn):
    """(dx, dkernel, dbias) against numerical gradients."""
    x, k, b = _dense_data()
    dy = _rng(4).normal(size=(4, 3))
    want = numeric_grads(kernels.dense_forward, dy, x, k, b)
    got = _parts(fn(x.copy(), k.copy(), dy.copy()), ("dx", "dkernel", "dbias"))
    n = len(x)
    return _worst([
        _judge(got[0], want[0], [(want[0] / n, BATCH_MEAN)],
               hint("dx = dy @ kernel.T, shape (N, in)", "dx = dy @ kernel.T, forma (N, in)"),
               "dx"),
        _judge(got[1], want[1], [(want[1] / n, BATCH_MEAN)],
               hint("dkernel = x.T @ dy, shape (in, out)",
                    "dkernel = x.T @ dy, forma (in, out)"), "dkernel"),
        _judge(got[2], want[2], [(want[2] / n, BATCH_MEAN)],
               hint("dbias = dy summed over the batch", "dbias = dy sumado sobre el lote"),
               "dbias")])


# --------------------------------------------------------------------------------- loss
def _softmax_ce(logits, labels, axis=1, shift_axis=1):
    """(loss, dlogits) with the sum over ``axis`` and the maximum over ``shift_axis``: the
    right answer for 1, 1; the usual mistakes otherwise."""
    z = logits - logits.max(axis=shift_axis, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)
    rows = np.arange(len(labels))
    grad = p.copy()
    grad[rows, labels] -= 1
    return float(-np.log(p[rows, labels]).mean()), grad / len(labels)


def _loss_case(fn, shift, rng):
    logits, labels = rng.normal(size=(6, 3)) * 3 + shift, rng.integers(0, 3, 6)
    ce = losses.SparseCategoricalCrossentropy(from_logits=True)
    want = (ce(labels, logits), numerical_gradient(lambda z: ce(labels, z), logits)
            if shift == 0 else ce.gradient(labels, logits))  # (differences lose digits at 1000)
    got = _parts(fn(logits.copy(), labels.copy()), ("loss", "dlogits"))
    overflow = None if shift == 0 else hint(
        "; with logits near 1000 exp overflows: subtract each row's maximum first",
        "; con logits cerca de 1000 exp se desborda: reste primero el máximo de cada fila")
    n = len(labels)
    wrong = [(_softmax_ce(logits, labels, 0, shift_axis), ROWS_SUM_TO_1)
             for shift_axis in (0, 1)] + [(_softmax_ce(logits, labels, 1, 0), ROW_MAXIMUM)]
    generic = [hint("loss = mean of -ln p[n, label[n]]", "loss = media de -ln p[n, label[n]]"),
               hint("dlogits = (softmax(logits) - onehot(labels)) / N, N the batch size",
                    "dlogits = (softmax(logits) - onehot(labels)) / N, N el tamaño del lote")]
    return _worst([_judge(got[k], want[k], [(want[k] * n, BATCH_MEAN)] +
                          [(answer[k], h) for answer, h in wrong],
                          join(generic[k], overflow), part)
                   for k, part in enumerate(("loss", "dlogits"))])


def check_softmax_cross_entropy(fn):
    """(loss, dlogits) against minicnn's loss from logits, also for logits near 1000."""
    rng = _rng(5)
    return _first_failing([lambda shift=shift: _loss_case(fn, shift, rng)
                           for shift in (0.0, 1000.0)])


# --------------------------------------------------------------------------------- adam
def reference_adam(param, grad, m, v, t, lr, beta_1, beta_2, epsilon):
    """One step of minicnn.optimizers.Adam from state (m, v) at step t: (param, m, v)."""
    opt = Adam(lr, beta_1, beta_2, epsilon)
    w, slots = param.copy(), (m.copy(), v.copy())
    opt.iterations, opt._slots = t - 1, [slots]
    opt.apply_gradients([(grad, w)])
    return w, slots[0], slots[1]


def _adam_param(param, m, v, t, lr, beta_1, beta_2, epsilon):
    """param after a step with the moments m and v already updated (a student's own)."""
    with np.errstate(all="ignore"):
        alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        return param - alpha * np.asarray(m, float) / (np.sqrt(np.asarray(v, float)) + epsilon)


def _no_correction(param, grad, m, v, lr, beta_1, beta_2, epsilon):
    m = beta_1 * m + (1 - beta_1) * grad
    v = beta_2 * v + (1 - beta_2) * grad ** 2
    return param - lr * m / (np.sqrt(v) + epsilon)


def _adam_case(fn, t, hp, rng):
    param, grad = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    m, v = (np.zeros((3, 4)), np.zeros((3, 4))) if t == 1 else \
        (rng.normal(size=(3, 4)) * 0.1, rng.random((3, 4)) * 0.1)
    want = reference_adam(param, grad, m, v, t, *hp)
    got = _parts(fn(param.copy(), grad.copy(), m.copy(), v.copy(), t, *hp), ("param", "m", "v"))
    moments = [_judge(got[1], want[1], [], hint(
                   "m = beta_1 m + (1 - beta_1) grad, the moving average of the gradient",
                   "m = beta_1 m + (1 - beta_1) grad, la media móvil del gradiente"), "m"),
               _judge(got[2], want[2], [(hp[2] * v + (1 - hp[2]) * np.abs(grad), V_ABS)],
                      hint("v = beta_2 v + (1 - beta_2) grad^2, the moving average of the "
                           "squared gradient", "v = beta_2 v + (1 - beta_2) grad^2, la media "
                           "móvil del gradiente al cuadrado"), "v")]
    if any(h for _, h in moments) and _err(got[0], _adam_param(param, got[1], got[2], t, *hp)) \
            < _PRECISION["tol"]:
        return _worst(moments)        # param follows from the student's m and v: fix those
    wrong = [(_no_correction(param, grad, m, v, *hp), NO_CORRECTION),
             (reference_adam(param, grad, m, v, t + 1, *hp)[0],
              hint("t is the step number counted from 1: use it as given",
                   "t es el número de paso contado desde 1: úselo tal como llega"))]
    return _worst(moments + [_judge(got[0], want[0], wrong, hint(
        "param - alpha_t * m / (sqrt(v) + epsilon), with the new m and v",
        "param - alpha_t * m / (sqrt(v) + epsilon), con los m y v nuevos"), "param")])


def check_adam_step(fn):
    """One step from zero moments at t = 1, and from given moments at t = 7: m and v are
    judged first, and param only when it does not follow from the student's m and v."""
    rng = _rng(6)
    return _first_failing([lambda t=t, hp=hp: _adam_case(fn, t, hp, rng)
                           for t, hp in ((1, (0.001, 0.9, 0.999, 1e-7)),
                                         (7, (0.01, 0.8, 0.99, 1e-7)))])


CHECKS = {name[len("check_"):]: fn for name, fn in globals().items()
          if name.startswith("check_")}
