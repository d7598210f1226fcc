"""The autograder's checks of numerical_gradient, BatchNormalization, Dropout and the sigmoid
binary cross-entropy: the recipe of ``minicnn.exercises.checks``, with every hint in English
and Spanish ({"en": ..., "es": ...}).

The references are minicnn's: ``minicnn.gradcheck.numerical_gradient``,
``minicnn.kernels.batch_moments`` and ``batchnorm_forward``, numerical gradients of them for
the backward pass, Dropout's x * mask / (1 - rate) and ``minicnn.losses.BinaryCrossentropy``.
Each check hands the student's function copies of float64 inputs.
"""
import numpy as np

from .. import kernels, losses
from ..gradcheck import numerical_gradient
from .checks import TOL, _err, _rng, _worst, distinct, numeric_grads


def _hint(en, es):
    return {"en": en, "es": es}


def _judge(got, want, mistakes, generic):
    """(error, hint): None when right, else the first mistake ``got`` matches, else generic."""
    err = _err(got, want)
    if err < TOL:
        return err, None
    for wrong, hint in mistakes:
        if _err(got, wrong) < TOL:
            return err, hint
    if np.shape(got) != np.shape(want):
        shape = np.shape(got) if hasattr(got, "shape") else type(got).__name__
        return err, _hint(f"shape {shape}, expected {np.shape(want)}; {generic['en']}",
                          f"forma {shape}, se esperaba {np.shape(want)}; {generic['es']}")
    return err, generic


def _returns(got, names):
    """None when ``got`` is a tuple of len(names) values, else the hint saying so."""
    if isinstance(got, tuple) and len(got) == len(names):
        return None
    what = ", ".join(names)
    return _hint(f"return a tuple ({what})", f"devuelva una tupla ({what})")


BATCH_MEAN = _hint(
    "{part}: off by a factor of N (the batch size): the loss is the MEAN over the batch, so "
    "its gradient carries 1/N",
    "{part}: difiere en un factor N (el tamaño del lote): la pérdida es la MEDIA sobre el "
    "lote, así que su gradiente lleva 1/N")


# --------------------------------------------------------------------- numerical gradient
ONE_SIDED = _hint(
    "grad: one-sided differences (f(x + h) - f(x)) / h, off by about h; use centred ones, "
    "(f(x + h e_i) - f(x - h e_i)) / (2 h), off by about h^2",
    "grad: diferencias de un solo lado (f(x + h) - f(x)) / h, que se equivocan en el orden "
    "de h; use diferencias centrales, (f(x + h e_i) - f(x - h e_i)) / (2 h), que se "
    "equivocan en el orden de h^2")
TWO_H = _hint(
    "grad: divide the difference f(x + h e_i) - f(x - h e_i) by 2h, the distance between "
    "the two points",
    "grad: divida la diferencia f(x + h e_i) - f(x - h e_i) por 2h, la distancia entre los "
    "dos puntos")
PRECEDENCE = _hint(
    "grad: '/ 2 * h' divides by 2 and then MULTIPLIES by h; write / (2 * h)",
    "grad: '/ 2 * h' divide por 2 y después MULTIPLICA por h; escriba / (2 * h)")
FLAT = _hint(
    "grad: the right numbers in the wrong shape; return an array shaped like x "
    "(np.zeros(x.shape), filled at every index of np.ndindex(x.shape))",
    "grad: los números correctos con la forma equivocada; devuelva un arreglo con la forma "
    "de x (np.zeros(x.shape), llenado en cada índice de np.ndindex(x.shape))")
HALF_ONE_SIDED = _hint(
    "grad: f(x + h e_i) - f(x) divided by 2h: the second point must be x - h e_i (were both "
    "points the same array? x_minus = x does not copy)",
    "grad: f(x + h e_i) - f(x) dividido por 2h: el segundo punto debe ser x - h e_i (¿los "
    "dos puntos eran el mismo arreglo? x_menos = x no copia)")
NOT_RESTORED = _hint(
    "x was not put back after each entry: the next entries were differentiated at a moved "
    "point; save x[i], perturb it, call f, then x[i] = the saved value",
    "x no se restauró después de cada entrada: las siguientes se derivaron en un punto "
    "corrido; guarde x[i], cámbielo, llame a f y luego x[i] = el valor guardado")
X_CHANGED = _hint(
    "the gradient is right, but x changed (largest change {change:.1e}): the caller's x "
    "must stay as it was; put each entry back by assignment (x[i] = keep; adding and "
    "subtracting h leaves rounding errors) or perturb a copy (x = x.copy())",
    "el gradiente está bien, pero x cambió (cambio máximo {change:.1e}): el x de quien "
    "llama debe quedar como estaba; vuelva a poner cada entrada con una asignación "
    "(x[i] = antes; sumar y restar h deja errores de redondeo) o cambie una copia "
    "(x = x.copy())")


def _one_sided(f, x, h, side=1):
    """(f(x + h e_i) - f(x)) / h (side 1) or (f(x) - f(x - h e_i)) / h (side -1)."""
    grad, at_x = np.zeros(x.shape), f(x)
    for i in np.ndindex(x.shape):
        moved = x.copy()
        moved[i] += side * h
        grad[i] = side * (f(moved) - at_x) / h
    return grad


def _never_restored(f, x, h):
    """Centred differences with x[i] left at x[i] - h after its entry."""
    x, grad = x.copy(), np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        x[i] += h
        up = f(x)
        x[i] -= 2 * h
        grad[i] = (up - f(x)) / (2 * h)
    return grad


def _gradient_case(fn, f, shape, h, seed):
    """One call: x of ``shape`` (entries 0.1 to 1 in size, so f's curvature is large
    enough for the mistakes to differ by far more than TOL); h None: the default."""
    x = distinct(shape, seed) * 10 / np.prod(shape)
    step = 1e-5 if h is None else h
    want = numerical_gradient(f, x, step)
    given = x.copy()
    got = fn(f, given) if h is None else fn(f, given, h=h)
    forward = _one_sided(f, x, step)
    mistakes = [(forward, ONE_SIDED), (_one_sided(f, x, step, -1), ONE_SIDED),
                (forward / 2, HALF_ONE_SIDED), (want * 2, TWO_H), (want * 2 * step, TWO_H),
                (want * step * step, PRECEDENCE), (want.reshape(-1), FLAT),
                (_never_restored(f, x, step), NOT_RESTORED)]
    err, hint = _judge(got, want, mistakes, _hint(
        "grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h) at every index i of x",
        "grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h) en cada índice i de x"))
    if hint is None and not np.array_equal(given, x):    # seen in this process only
        change = float(np.max(np.abs(given - x)))
        hint = {lang: text.format(change=change) for lang, text in X_CHANGED.items()}
    return err, hint


def check_numerical_gradient(fn):
    """On f = the Euclidean norm (curved, with cross terms), at x (3, 4) with h = 1e-3 and
    at x (2, 3, 2) with the default h. Whether x changed is seen only when ``fn`` runs in
    this process (``check_one`` on a notebook's function): ``minicnn exercises check`` runs
    it in a child process, which gets its own copy of x."""
    return _worst([_gradient_case(fn, np.linalg.norm, (3, 4), 1e-3, 0),
                   _gradient_case(fn, np.linalg.norm, (2, 3, 2), None, 1)])


# ------------------------------------------------------------------------ batch normalization
UNBIASED = _hint(
    "{part}: the variance divides by m - 1 (unbiased); batch normalization uses the biased "
    "variance, mean((x - mean)^2), dividing by m (np.var's default ddof=0)",
    "{part}: la varianza divide por m - 1 (insesgada); la normalización por lotes usa la "
    "varianza sesgada, media((x - media)^2), que divide por m (ddof=0, lo que np.var hace "
    "por omisión)")
AXES = _hint(
    "{part}: the mean and variance were taken over the wrong axes; one mean and one variance "
    "per channel, over every axis but the last: axis=tuple(range(x.ndim - 1))",
    "{part}: la media y la varianza se calcularon sobre los ejes equivocados; una media y "
    "una varianza por canal, sobre todos los ejes menos el último: "
    "axis=tuple(range(x.ndim - 1))")
EPS_SQRT = _hint(
    "{part}: epsilon goes inside the square root, sqrt(var + epsilon), not sqrt(var) + "
    "epsilon (Keras's formula)",
    "{part}: epsilon va dentro de la raíz, sqrt(var + epsilon), no sqrt(var) + epsilon (la "
    "fórmula de Keras)")
EPS_ARG = _hint(
    "{part}: use the epsilon argument (this call passes epsilon={epsilon})",
    "{part}: use el argumento epsilon (esta llamada pasa epsilon={epsilon})")
MEAN_TERMS = _hint(
    "dx: a term is missing; the batch's mean and variance are computed from x, so they are "
    "not constants: dx = gamma / sqrt(var + eps) * (dy - mean(dy) - x_hat * mean(dy * x_hat)) "
    "(the mean gives the 2nd term, the variance the 3rd)",
    "dx: falta un término; la media y la varianza del lote se calculan con x, así que no son "
    "constantes: dx = gamma / sqrt(var + eps) * (dy - media(dy) - x_hat * media(dy * x_hat)) "
    "(la media da el 2.º término, la varianza el 3.º)")
DGAMMA_X = _hint(
    "dgamma: the sum of dy * x_hat (x normalised), not of dy * x",
    "dgamma: la suma de dy * x_hat (x normalizado), no de dy * x")
SUM_NOT_MEAN = _hint(
    "{part}: sum over the batch and positions, do not average (dy already carries the "
    "loss's 1/N)",
    "{part}: sume sobre el lote y las posiciones, sin promediar (dy ya trae el 1/N de la "
    "pérdida)")


def _part(hint, **values):
    return {lang: text.format(**values) for lang, text in hint.items()}


def _channel_axes(x):
    return tuple(range(x.ndim - 1))


def _bn(x, eps, axes=None, ddof=0, eps_outside=False):
    """(x_hat, std, axes) for the right statistics and for the usual mistakes."""
    axes = _channel_axes(x) if axes is None else axes
    var = x.var(axis=axes, ddof=ddof, keepdims=True)
    std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
    return (x - x.mean(axis=axes, keepdims=True)) / std, std, axes


def _bn_backward(x, gamma, dy, eps, through=(True, True), **mistake):
    """(dx, dgamma, dbeta) by the usual formula, with a mistake's statistics; ``through``:
    whether dx keeps the mean's and the variance's terms."""
    x_hat, std, axes = _bn(x, eps, **mistake)
    g = dy - dy.mean(axis=axes, keepdims=True) if through[0] else dy
    if through[1]:
        g = g - x_hat * (dy * x_hat).mean(axis=axes, keepdims=True)
    sums = _channel_axes(x)
    return gamma / std * g, (dy * x_hat).sum(axis=sums), dy.sum(axis=sums)


def _statistics_mistakes(x):
    """[(hint, keywords of _bn)]: the unbiased variance, epsilon outside the root, the
    wrong axes (those that differ from the right ones for this x)."""
    every = tuple(range(x.ndim))
    wrong_axes = [axes for axes in ((0,), every[1:], every) if axes != _channel_axes(x)]
    return [(UNBIASED, {"ddof": 1}), (EPS_SQRT, {"eps_outside": True})] + [
        (AXES, {"axes": axes}) for axes in wrong_axes]


def _bn_data(shape, seed):
    """x with a different mean and scale per channel; gamma, beta (C,); dy like x."""
    rng, channels = _rng(seed), shape[-1]
    x = rng.normal(size=shape) * rng.uniform(0.5, 2, channels) + rng.normal(size=channels)
    return x, rng.uniform(0.5, 1.5, channels), rng.normal(size=channels), rng.normal(size=shape)


BN_CASES = [((4, 3, 3, 2), 0.001), ((6, 3), 0.01)]     # (x's shape, epsilon)


def _bn_forward_case(fn, shape, eps, seed):
    x, gamma, beta, _ = _bn_data(shape, seed)
    want = kernels.batchnorm_forward(x, gamma, beta, *kernels.batch_moments(x), eps)
    got = fn(x.copy(), gamma.copy(), beta.copy(), epsilon=eps)
    mistakes = [(gamma * _bn(x, eps, **wrong)[0] + beta, _part(hint, part="y"))
                for hint, wrong in _statistics_mistakes(x)]
    mistakes += [(gamma * _bn(x, e)[0] + beta, _part(EPS_ARG, part="y", epsilon=eps))
                 for e in (0.001, 1e-5) if e != eps]
    return _judge(got, want, mistakes, _hint(
        "y = gamma * (x - mean) / sqrt(var + epsilon) + beta, per channel",
        "y = gamma * (x - media) / sqrt(var + epsilon) + beta, por canal"))


def check_batchnorm_forward(fn):
    """Against minicnn.kernels (batch_moments, batchnorm_forward): x (4, 3, 3, 2) with
    epsilon 0.001 and x (6, 3) with epsilon 0.01."""
    return _worst([_bn_forward_case(fn, shape, eps, seed)
                   for seed, (shape, eps) in enumerate(BN_CASES)])


def _bn_backward_case(fn, shape, eps, seed):
    x, gamma, beta, dy = _bn_data(shape, seed)
    def forward(x_, gamma_, beta_):                  # moments of x_: training mode
        return kernels.batchnorm_forward(x_, gamma_, beta_, *kernels.batch_moments(x_), eps)
    want = numeric_grads(forward, dy, x, gamma, beta)
    got = fn(x.copy(), gamma.copy(), dy.copy(), epsilon=eps)
    wrong = _returns(got, ("dx", "dgamma", "dbeta"))
    if wrong:
        return np.inf, wrong
    dx_wrong = [(_bn_backward(x, gamma, dy, eps, through)[0], MEAN_TERMS)
                for through in ((False, False), (True, False), (False, True))]
    dgamma_wrong = [((dy * x).sum(axis=_channel_axes(x)), DGAMMA_X),
                    (want[1] / np.prod(shape[:-1]), _part(SUM_NOT_MEAN, part="dgamma"))]
    for hint, mistake in _statistics_mistakes(x):
        dx, dgamma, _ = _bn_backward(x, gamma, dy, eps, **mistake)
        dx_wrong.append((dx, _part(hint, part="dx")))
        dgamma_wrong.append((dgamma, _part(hint, part="dgamma")))
    return _worst([
        _judge(got[0], want[0], dx_wrong, _hint(
            "dx = gamma / sqrt(var + eps) * (dy - mean(dy) - x_hat * mean(dy * x_hat))",
            "dx = gamma / sqrt(var + eps) * (dy - media(dy) - x_hat * media(dy * x_hat))")),
        _judge(got[1], want[1], dgamma_wrong, _hint(
            "dgamma = the sum of dy * x_hat over every axis but the last",
            "dgamma = la suma de dy * x_hat sobre todos los ejes menos el último")),
        _judge(got[2], want[2],
               [(want[2] / np.prod(shape[:-1]), _part(SUM_NOT_MEAN, part="dbeta"))], _hint(
                   "dbeta = the sum of dy over every axis but the last",
                   "dbeta = la suma de dy sobre todos los ejes menos el último"))])


def check_batchnorm_backward(fn):
    """(dx, dgamma, dbeta) against numerical gradients of minicnn's training-mode forward
    pass (the gradient flows through the batch's mean and variance)."""
    return _worst([_bn_backward_case(fn, shape, eps, seed)
                   for seed, (shape, eps) in enumerate(BN_CASES)])


# --------------------------------------------------------------------------------- dropout
NOT_SCALED = _hint(
    "{part}: the kept values were not divided by 1 - rate; inverted dropout divides them so "
    "that each value keeps its expected value (and inference needs no change)",
    "{part}: los valores que se quedan no se dividieron por 1 - rate; el dropout invertido "
    "los divide para que cada valor conserve su valor esperado (y la predicción no cambie)")
BY_RATE = _hint(
    "{part}: scaled with rate, the probability of DROPPING; divide by 1 - rate, the "
    "probability of keeping",
    "{part}: se escaló con rate, la probabilidad de DESCARTAR; divida por 1 - rate, la "
    "probabilidad de quedarse")
TIMES_KEEP = _hint(
    "{part}: multiplied by 1 - rate; divide by it",
    "{part}: se multiplicó por 1 - rate; hay que dividir")
MASK_FLIPPED = _hint(
    "{part}: the mask was used the wrong way round: mask is 1 where the value is KEPT",
    "{part}: la máscara se usó al revés: mask vale 1 donde el valor SE QUEDA")
NOT_SCALED_BACK = _hint(
    "dx: not divided by 1 - rate; the forward divided the kept values by it, so the chain "
    "rule gives dx = dy * mask / (1 - rate), the same division",
    "dx: no se dividió por 1 - rate; hacia adelante los valores que se quedan se dividieron "
    "por 1 - rate, así que la regla de la cadena da dx = dy * mask / (1 - rate), la misma "
    "división")
NO_MASK = _hint(
    "dx: the dropped values did not reach the output, so their dx is 0: multiply by the "
    "mask too",
    "dx: los valores descartados no llegaron a la salida, así que su dx es 0: multiplique "
    "también por la máscara")
DROPOUT_CASES = [((4, 5), 0.25), ((2, 3, 3, 2), 0.6)]     # (shape, rate): rate != 1 - rate


def _dropout_case(fn, shape, rate, seed, part):
    """One call; x is dy for the backward pass (part "dx"): the same product."""
    rng = _rng(seed)
    x, mask = rng.normal(size=shape), (rng.random(shape) >= rate).astype(np.float64)
    keep = 1 - rate
    want = x * mask / keep
    mistakes = [(x * mask, NOT_SCALED_BACK if part == "dx" else NOT_SCALED),
                (x * mask / rate, BY_RATE), (x * mask * rate, BY_RATE),
                (x * mask * keep, TIMES_KEEP), (x * (1 - mask) / keep, MASK_FLIPPED),
                (x * (1 - mask) / rate, MASK_FLIPPED)]
    mistakes = [(wrong, _part(hint, part=part)) for wrong, hint in mistakes]
    if part == "dx":
        mistakes.append((x / keep, NO_MASK))
    formula = "dy * mask / (1 - rate)" if part == "dx" else "x * mask / (1 - rate)"
    return _judge(fn(x.copy(), mask.copy(), rate), want, mistakes,
                  _hint(f"{part} = {formula}", f"{part} = {formula}"))


def check_dropout_forward(fn):
    """x * mask / (1 - rate) (minicnn.layers.Dropout's training pass) for rates 0.25, 0.6."""
    return _worst([_dropout_case(fn, shape, rate, seed, "y")
                   for seed, (shape, rate) in enumerate(DROPOUT_CASES)])


def check_dropout_backward(fn):
    """dy * mask / (1 - rate): the forward is linear in x with that factor."""
    return _worst([_dropout_case(fn, shape, rate, seed + 10, "dx")
                   for seed, (shape, rate) in enumerate(DROPOUT_CASES)])


# ------------------------------------------------------------------- sigmoid cross-entropy
LOSS_SIGN = _hint(
    "loss: the sign; the loss is MINUS the log-likelihood, -(y ln p + (1 - y) ln(1 - p)), "
    "positive",
    "loss: el signo; la pérdida es MENOS la log-verosimilitud, -(y ln p + (1 - y) "
    "ln(1 - p)), positiva")
GRAD_SIGN = _hint(
    "dlogits: the sign; the gradient of the loss is (sigmoid(z) - y) / N, the opposite of "
    "the log-likelihood's",
    "dlogits: el signo; el gradiente de la pérdida es (sigmoide(z) - y) / N, el opuesto "
    "del de la log-verosimilitud")
DL_DP = _hint(
    "dlogits: that is dL/dp; the chain rule multiplies it by dp/dz = p (1 - p), which "
    "leaves (p - y) / N",
    "dlogits: eso es dL/dp; la regla de la cadena lo multiplica por dp/dz = p (1 - p), y "
    "queda (p - y) / N")
OVERFLOW = _hint(
    "right for moderate logits, not at logits of +-1000: there exp(z) overflows, ln p is "
    "ln 0, or a clipped p caps the loss; use softplus(z) - y z with softplus(z) = "
    "max(z, 0) + log1p(exp(-|z|)), finite for any z",
    "bien para logits moderados, no con logits de +-1000: ahí exp(z) se desborda, ln p es "
    "ln 0, o recortar p limita la pérdida; use softplus(z) - y z con softplus(z) = "
    "max(z, 0) + log1p(exp(-|z|)), finito para todo z")


def _bce_trial(fn, logits, labels):
    ce, big = losses.BinaryCrossentropy(from_logits=True), np.abs(logits).max() > 100
    want_loss = ce(labels, logits)
    want_grad = ce.gradient(labels, logits) if big else \
        numerical_gradient(lambda z: ce(labels, z), logits)   # (differences lose digits at 1000)
    got = fn(logits.copy(), labels.copy())
    wrong = _returns(got, ("loss", "dlogits"))
    if wrong:
        return np.inf, wrong
    n = len(labels)
    p = kernels.sigmoid(logits)
    loss_wrong = [(want_loss * n, _part(BATCH_MEAN, part="loss")), (-want_loss, LOSS_SIGN)]
    grad_wrong = [(want_grad * n, _part(BATCH_MEAN, part="dlogits")), (-want_grad, GRAD_SIGN)]
    if not big:
        grad_wrong.append((want_grad / (p * (1 - p)), DL_DP))
    loss_generic = OVERFLOW if big else _hint(
        "loss = mean of softplus(z) - y z = mean of -(y ln p + (1 - y) ln(1 - p))",
        "loss = media de softplus(z) - y z = media de -(y ln p + (1 - y) ln(1 - p))")
    grad_generic = OVERFLOW if big else _hint(
        "dlogits = (sigmoid(logits) - labels) / N", "dlogits = (sigmoide(logits) - labels) / N")
    return _worst([_judge(got[0], want_loss, loss_wrong, loss_generic),
                   _judge(got[1], want_grad, grad_wrong, grad_generic)])


def check_sigmoid_binary_cross_entropy(fn):
    """(loss, dlogits) against minicnn.losses.BinaryCrossentropy(from_logits=True): moderate
    logits (the gradient against numerical differences), then logits of +-1000 and +-30."""
    rng = _rng(7)
    big = np.array([1000.0, -1000.0, 1000.0, -1000.0, 30.0, -30.0, 0.5, -2.0])
    return _worst([
        _bce_trial(fn, rng.normal(size=8) * 3, rng.integers(0, 2, 8).astype(np.float64)),
        _bce_trial(fn, big, np.array([1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0]))])


MORE_CHECKS = {name[len("check_"):]: fn for name, fn in globals().items()
               if name.startswith("check_")}
