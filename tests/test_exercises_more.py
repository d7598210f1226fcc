"""The exercises numerical_gradient, batchnorm_forward/backward, dropout_forward/backward and
sigmoid_binary_cross_entropy: the model answers agree with minicnn's layers and losses, and
each usual mistake fails with its own hint, in English and in Spanish. (That the model
answers pass the checker, and that the stubs are written, test_exercises.py checks for every
exercise.)"""
from types import SimpleNamespace

import numpy as np
import pytest

from minicnn import exercises, layers, losses
from minicnn.exercises import catalog, checks_more, solutions

NEW = ["numerical_gradient", "batchnorm_forward", "batchnorm_backward", "dropout_forward",
       "dropout_backward", "sigmoid_binary_cross_entropy"]


def grade(name, fn):
    return exercises.check_one(SimpleNamespace(**{name: fn}, _import_errors={}), name)


# ------------------------------------------------------------------- the model answers
def test_batchnorm_answers_are_minicnns_layer_in_training():
    rng = np.random.default_rng(0)
    x, dy = rng.normal(2, 3, (5, 4, 4, 3)), rng.normal(size=(5, 4, 4, 3))
    layer = layers.BatchNormalization(dtype="float64")
    layer.build(x.shape[1:], rng=0)
    layer.params = {"gamma": rng.uniform(0.5, 2, 3), "beta": rng.normal(size=3)}
    y = layer.forward(x, training=True)
    dx = layer.backward(dy)
    gamma, beta = layer.params["gamma"], layer.params["beta"]
    np.testing.assert_allclose(solutions.batchnorm_forward(x, gamma, beta), y, atol=1e-12)
    mine = solutions.batchnorm_backward(x, gamma, dy)
    for got, want in zip(mine, (dx, layer.grads["gamma"], layer.grads["beta"])):
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_dropout_answers_are_minicnns_layer_in_training():
    x = np.random.default_rng(1).normal(size=(30, 7))                 # no zeros
    layer = layers.Dropout(0.3, seed=4, dtype="float64")
    y = layer.forward(x, training=True)
    mask = (y != 0).astype(np.float64)
    dy = np.arange(x.size, dtype=np.float64).reshape(x.shape)
    np.testing.assert_allclose(solutions.dropout_forward(x, mask, 0.3), y, rtol=1e-15)
    np.testing.assert_allclose(solutions.dropout_backward(dy, mask, 0.3), layer.backward(dy),
                               rtol=1e-15)


def test_sigmoid_cross_entropy_answer_is_minicnns_loss_and_finite_at_1000():
    logits, labels = np.array([1000.0, -1000.0, 1000.0, -1000.0, 0.3]), np.array(
        [1.0, 1.0, 0.0, 0.0, 1.0])
    loss, grad = solutions.sigmoid_binary_cross_entropy(logits, labels)
    ce = losses.BinaryCrossentropy(from_logits=True)
    assert loss == pytest.approx(ce(labels, logits), rel=1e-15)
    assert loss == pytest.approx((1000 + 1000 + np.log1p(np.exp(-0.3))) / 5, rel=1e-15)
    np.testing.assert_allclose(grad, ce.gradient(labels, logits), rtol=1e-15)


def test_numerical_gradient_answer_leaves_x_alone():
    x = np.array([[0.3, -1.2], [2.0, 0.7]])
    before = x.copy()
    grad = solutions.numerical_gradient(lambda v: np.sum(v ** 3), x)
    np.testing.assert_allclose(grad, 3 * before ** 2, rtol=1e-9)
    np.testing.assert_array_equal(x, before)


def test_the_new_exercises_have_both_docstrings_and_their_place_in_the_course():
    names = [e.name for e in catalog.EXERCISES]
    assert names[0] == "numerical_gradient" and catalog.NAMES[-1] == catalog.TRAINING
    assert names.index("dense_backward") < names.index("batchnorm_forward") \
        < names.index("dropout_backward") < names.index("sigmoid_binary_cross_entropy") \
        < names.index("softmax_cross_entropy")
    for e in catalog.EXERCISES:
        if e.name in NEW:
            assert e.doc and e.doc_es and "Pista" in e.doc_es and "Hint" in e.doc, e.name


# ------------------------------------------------------------------- the usual mistakes
def _gradient(f, x, h, step):
    """Differences of f along each entry of a copy of x: step(f, x, i, h) -> d f / d x_i."""
    x, grad = x.copy(), np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        grad[i] = step(f, x, i, h)
    return grad


def _forward_difference(f, x, i, h):
    keep = x[i]
    x[i] = keep + h
    up = f(x)
    x[i] = keep
    return (up - f(x)) / h


def _centred(f, x, i, h, divide=lambda d, h: d / (2 * h), restore=True):
    keep = x[i]
    x[i] = keep + h
    up = f(x)
    x[i] = keep - h
    down = f(x)
    if restore:
        x[i] = keep
    return divide(up - down, h)


def grad_arithmetic_restore(f, x, h=1e-5):
    """Right values, but the caller's x is changed by +h -2h +h rounding."""
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        x[i] += h
        up = f(x)
        x[i] -= 2 * h
        down = f(x)
        x[i] += h
        grad[i] = (up - down) / (2 * h)
    return grad


def bn_backward_constant_statistics(x, gamma, dy, epsilon=0.001):
    x_hat, std, axes = solutions._normalised(x, epsilon)
    return gamma / std * dy, (dy * x_hat).sum(axis=axes), dy.sum(axis=axes)


def bn_forward_statistics(axes=None, ddof=0, eps_outside=False, fixed_eps=None):
    """batchnorm_forward with one of the usual mistakes in its statistics."""
    def forward(x, gamma, beta, epsilon=0.001):
        ax = tuple(range(x.ndim - 1)) if axes is None else axes
        eps = epsilon if fixed_eps is None else fixed_eps
        var = x.var(axis=ax, ddof=ddof, keepdims=True)
        std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
        return gamma * (x - x.mean(axis=ax, keepdims=True)) / std + beta
    return forward


def bn_backward_unbiased(x, gamma, dy, epsilon=0.001):
    axes = tuple(range(x.ndim - 1))
    std = np.sqrt(x.var(axis=axes, ddof=1) + epsilon)
    x_hat = (x - x.mean(axis=axes)) / std
    dx = gamma / std * (dy - dy.mean(axis=axes) - x_hat * (dy * x_hat).mean(axis=axes))
    return dx, (dy * x_hat).sum(axis=axes), dy.sum(axis=axes)


def bn_backward_dgamma_of_x(x, gamma, dy, epsilon=0.001):
    dx, _, dbeta = solutions.batchnorm_backward(x, gamma, dy, epsilon)
    return dx, (dy * x).sum(axis=tuple(range(x.ndim - 1))), dbeta


def bn_backward_dbeta_mean(x, gamma, dy, epsilon=0.001):
    dx, dgamma, _ = solutions.batchnorm_backward(x, gamma, dy, epsilon)
    return dx, dgamma, dy.mean(axis=tuple(range(x.ndim - 1)))


def bce_naive(logits, labels):
    p = 1 / (1 + np.exp(-logits))
    loss = -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    return float(loss), (p - labels) / len(labels)


def bce_clipped(logits, labels):
    p = np.clip(1 / (1 + np.exp(-logits)), 1e-7, 1 - 1e-7)
    loss = -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    return float(loss), (p - labels) / len(labels)


def bce_scaled(loss_factor, grad_factor):
    def bce(logits, labels):
        loss, grad = solutions.sigmoid_binary_cross_entropy(logits, labels)
        return loss * loss_factor(labels), grad * grad_factor(labels)
    return bce


def bce_dl_dp(logits, labels):
    loss, grad = solutions.sigmoid_binary_cross_entropy(logits, labels)
    p = 1 / (1 + np.exp(-logits))
    return loss, grad / (p * (1 - p))


MISTAKES = {   # name: (exercise, broken function, words in the English hint, in the Spanish)
    "gradient: forward differences": (
        "numerical_gradient", lambda f, x, h=1e-5: _gradient(f, x, h, _forward_difference),
        "one-sided", "un solo lado"),
    "gradient: divided by h": (
        "numerical_gradient", lambda f, x, h=1e-5: _gradient(
            f, x, h, lambda *a: _centred(*a, divide=lambda d, h: d / h)),
        "by 2h", "por 2h"),
    "gradient: not divided": (
        "numerical_gradient", lambda f, x, h=1e-5: _gradient(
            f, x, h, lambda *a: _centred(*a, divide=lambda d, h: d)),
        "by 2h", "por 2h"),
    "gradient: / 2 * h": (
        "numerical_gradient", lambda f, x, h=1e-5: _gradient(
            f, x, h, lambda *a: _centred(*a, divide=lambda d, h: d / 2 * h)),
        "MULTIPLIES by h", "MULTIPLICA por h"),
    "gradient: flattened": (
        "numerical_gradient", lambda f, x, h=1e-5: solutions.numerical_gradient(f, x, h).ravel(),
        "shaped like x", "con la forma de x"),
    "gradient: x - h never used": (
        "numerical_gradient", lambda f, x, h=1e-5: _gradient(
            f, x, h, lambda f, x, i, h: _forward_difference(f, x, i, h) / 2),
        "the second point must be x - h e_i", "el segundo punto debe ser x - h e_i"),
    "gradient: x not restored": (
        "numerical_gradient", lambda f, x, h=1e-5: _gradient(
            f, x, h, lambda *a: _centred(*a, restore=False)),
        "not put back", "no se restauró"),
    "gradient: caller's x changed": (
        "numerical_gradient", grad_arithmetic_restore, "x changed", "x cambió"),
    "batchnorm: unbiased variance": (
        "batchnorm_forward", bn_forward_statistics(ddof=1), "m - 1", "m - 1"),
    "batchnorm: statistics per position": (
        "batchnorm_forward", bn_forward_statistics(axes=(0,)), "wrong axes", "ejes equivocados"),
    "batchnorm: statistics per image": (
        "batchnorm_forward", lambda x, gamma, beta, epsilon=0.001: bn_forward_statistics(
            axes=tuple(range(1, x.ndim)))(x, gamma, beta, epsilon), "wrong axes",
        "ejes equivocados"),
    "batchnorm: epsilon outside the root": (
        "batchnorm_forward", bn_forward_statistics(eps_outside=True), "inside the square root",
        "dentro de la raíz"),
    "batchnorm: epsilon argument ignored": (
        "batchnorm_forward", bn_forward_statistics(fixed_eps=0.001), "epsilon argument",
        "argumento epsilon"),
    "batchnorm backward: mean and var as constants": (
        "batchnorm_backward", bn_backward_constant_statistics, "not constants",
        "no son constantes"),
    "batchnorm backward: unbiased variance": (
        "batchnorm_backward", bn_backward_unbiased, "dx: the variance divides by m - 1",
        "dx: la varianza divide por m - 1"),
    "batchnorm backward: dgamma from x": (
        "batchnorm_backward", bn_backward_dgamma_of_x, "dgamma: the sum of dy * x_hat",
        "dgamma: la suma de dy * x_hat"),
    "batchnorm backward: dbeta averaged": (
        "batchnorm_backward", bn_backward_dbeta_mean, "dbeta: sum", "dbeta: sume"),
    "dropout: not scaled": (
        "dropout_forward", lambda x, mask, rate: x * mask, "y: the kept values were not divided",
        "y: los valores que se quedan no se dividieron"),
    "dropout: scaled by rate": (
        "dropout_forward", lambda x, mask, rate: x * mask / rate, "probability of DROPPING",
        "probabilidad de DESCARTAR"),
    "dropout: multiplied by 1 - rate": (
        "dropout_forward", lambda x, mask, rate: x * mask * (1 - rate), "divide by it",
        "hay que dividir"),
    "dropout: mask the wrong way round": (
        "dropout_forward", lambda x, mask, rate: x * (1 - mask) / (1 - rate), "KEPT",
        "SE QUEDA"),
    "dropout backward: scaling forgotten": (
        "dropout_backward", lambda dy, mask, rate: dy * mask,
        "dx: not divided by 1 - rate", "dx: no se dividió por 1 - rate"),
    "dropout backward: scaled by rate": (
        "dropout_backward", lambda dy, mask, rate: dy * mask / rate, "dx: scaled with rate",
        "dx: se escaló con rate"),
    "dropout backward: no mask": (
        "dropout_backward", lambda dy, mask, rate: dy / (1 - rate), "mask too",
        "también por la máscara"),
    "bce: ln of the sigmoid": (
        "sigmoid_binary_cross_entropy", bce_naive, "logits of +-1000", "logits de +-1000"),
    "bce: clipped probabilities": (
        "sigmoid_binary_cross_entropy", bce_clipped, "logits of +-1000", "logits de +-1000"),
    "bce: forgotten batch mean": (
        "sigmoid_binary_cross_entropy", bce_scaled(len, len), "MEAN over the batch",
        "MEDIA sobre el lote"),
    "bce: loss sign": (
        "sigmoid_binary_cross_entropy", bce_scaled(lambda y: -1, lambda y: 1),
        "MINUS the log-likelihood", "MENOS la log-verosimilitud"),
    "bce: gradient sign": (
        "sigmoid_binary_cross_entropy", bce_scaled(lambda y: 1, lambda y: -1),
        "dlogits: the sign", "dlogits: el signo"),
    "bce: dL/dp": (
        "sigmoid_binary_cross_entropy", bce_dl_dp, "dp/dz", "dp/dz"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_usual_mistake_fails_with_its_hint_in_both_languages(mistake):
    name, broken, english, spanish = MISTAKES[mistake]
    result = grade(name, broken)
    assert result.status == "FAIL", exercises.format_result(result)
    assert english in result.hint["en"] and spanish in result.hint["es"], result.hint
    assert english in exercises.format_result(result)        # printed in English


def test_every_new_hint_exists_in_both_languages():
    hints = [v for v in vars(checks_more).values()
             if isinstance(v, dict) and set(v) == {"en", "es"}]
    assert len(hints) >= 20
    assert all(h["en"] and h["es"] and h["en"] != h["es"] for h in hints)


# ------------------------------------------------------------- through the child process
def test_numerical_gradient_is_graded_in_the_child_process(tmp_path):
    """f (np.linalg.norm) reaches the student's function in the child: the model answer
    passes there, and a numerical_gradient that never puts x back fails with its hint."""
    source = ("import numpy as np\n\n"
              "def numerical_gradient(f, x, h=1e-5):\n"
              "    grad = np.zeros(x.shape)\n"
              "    for i in np.ndindex(x.shape):\n"
              "        x[i] += h\n        up = f(x)\n        x[i] -= 2 * h\n"
              "        grad[i] = (up - f(x)) / (2 * h)\n"
              "    return grad\n")
    (tmp_path / "gradcheck.py").write_text(source)
    (result,) = exercises.check_folder(tmp_path, ["numerical_gradient"])
    assert result.status == "FAIL" and "not put back" in result.hint["en"]
    restored = "(2 * h)\n        x[i] += h\n"           # (x changed by rounding: unseen there)
    (tmp_path / "gradcheck.py").write_text(source.replace("(2 * h)\n", restored))
    (result,) = exercises.check_folder(tmp_path, ["numerical_gradient"])
    assert result.status == "PASS", exercises.format_result(result)
