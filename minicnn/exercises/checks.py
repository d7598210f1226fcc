"""The autograder: each exercise function against minicnn's own kernels, on random inputs.

A check returns ``(error, hint)``: the worst relative error (``minicnn.gradcheck``'s
max |a - b| / (|a| + |b|)) over its trials, and None or a hint aimed at the likely mistake.
Forward functions are compared with the kernels' values; backward ones with float64
numerical gradients (centred differences of the reference forward pass). A likely mistake
is recognised by computing it: the answer a flipped kernel, a forgotten batch mean, ... would
give, compared with the student's.
"""
import numpy as np

from .. import kernels, losses
from ..gradcheck import numerical_gradient, relative_error
from ..optimizers import Adam

TOL = 1e-6                 # float64 answers agree to ~1e-12; numerical gradients to ~1e-9
FLIPPED = ("the kernel looks flipped: a CNN layer is a cross-correlation, it slides the kernel "
           "as it is (kernel[a, e], not kernel[KH-1-a, KW-1-e]); thesis Figure 5 gives -5")
BATCH_MEAN = ("off by a factor of N (the batch size): the loss is the MEAN over the batch, so "
              "its gradient carries 1/N; layers then SUM over the batch")
EVERY_CELL = ("the gradient went to every cell of the window: only the cell that held the "
              "maximum changed the output, so only it gets dy (the others get 0)")
NO_CORRECTION = ("no bias correction: m and v start at 0, so divide by (1 - beta_1^t) and "
                 "(1 - beta_2^t), here folded into "
                 "alpha_t = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)")
STRIDE_PADDING = ("right for stride 1 and 'valid' but not for {case}: use the stride in the "
                  "window positions (i*stride) and Keras's 'same' zero padding")
CASES = [(1, "valid"), (2, "valid"), (1, "same"), (2, "same")]


def _err(got, want):
    """Relative error of an answer, inf when it is not an array of the expected shape."""
    try:
        got = np.asarray(got, np.float64)
    except (TypeError, ValueError):
        return np.inf
    if got.shape != np.shape(want) or not np.all(np.isfinite(got)):
        return np.inf
    return relative_error(got, want)


def _judge(got, want, mistakes, generic):
    """(error, hint): hint None when right, else the first mistake ``got`` matches."""
    err = _err(got, want)
    if err < TOL:
        return err, None
    shape = np.shape(got) if hasattr(got, "shape") else type(got).__name__
    for wrong, hint in mistakes:
        if _err(got, wrong) < TOL:
            return err, hint
    if np.shape(got) != np.shape(want):
        return err, f"shape {shape}, expected {np.shape(want)}; {generic}"
    return err, generic


def _worst(results):
    """Combine (error, hint) trials: the worst error, the first hint."""
    hints = [h for _, h in results if h]
    return max(e for e, _ in results), (hints[0] if hints else None)


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
    return _judge(fn(x.copy()), kernels.relu(x), [(np.abs(x), "abs(x) is not max(0, x)")],
                  "max(0, x): negatives become 0, positives stay")


def check_relu_backward(fn):
    """relu_backward(x, dy) against the numerical gradient of sum(dy * relu(x))."""
    x, dy = distinct((2, 4, 5, 3), 1), _rng(1).normal(size=(2, 4, 5, 3))
    (want,) = numeric_grads(kernels.relu, dy, x)
    mistakes = [(dy * (dy > 0), "the mask must come from x (the forward's input), not dy"),
                ((x > 0) * 1.0, "multiply the mask by dy (the chain rule)")]
    return _judge(fn(x.copy(), dy.copy()), want, mistakes, "dx = dy where x > 0, else 0")


# --------------------------------------------------------------------------------- conv
def _conv_data(seed):
    """x (2, 6, 7, 2), kernel (3, 3, 2, 3), bias (3,): an odd width tests the padding."""
    rng = _rng(seed)
    return (rng.normal(size=(2, 6, 7, 2)), rng.normal(size=(3, 3, 2, 3)),
            rng.normal(size=3))


def _conv_case(fn, stride, padding, seed):
    x, k, b = _conv_data(seed)
    want = kernels.conv2d_forward(x, k, b, stride, padding)
    got = fn(x.copy(), k.copy(), b.copy(), stride=stride, padding=padding)
    mistakes = [(kernels.conv2d_forward(x, k[::-1, ::-1], b, stride, padding), FLIPPED),
                (want - b, "the bias is missing: add bias[f] to every output of filter f")]
    if (stride, padding) != (1, "valid"):
        case = f"stride={stride}, padding={padding!r}"
        mistakes += [(kernels.conv2d_forward(x, k, b, 1, padding), STRIDE_PADDING.format(
                      case=case)), (kernels.conv2d_forward(x, k, b, stride, "valid"),
                                    STRIDE_PADDING.format(case=case))]
        return _judge(got, want, mistakes, STRIDE_PADDING.format(case=case))
    return _judge(got, want, mistakes, "eq. (1) at every window: sum(window * kernel) + bias")


def check_conv2d_forward(fn):
    """Eq. (1) at every window, for stride 1 and 2, padding "valid" and "same"."""
    return _worst([_conv_case(fn, s, p, seed) for seed, (s, p) in enumerate(CASES)])


def _conv_backward_case(fn, stride, padding, seed):
    x, k, b = _conv_data(seed)
    dy = _rng(seed + 10).normal(size=kernels.conv2d_forward(x, k, b, stride, padding).shape)
    def forward(x_, k_, b_):
        return kernels.conv2d_forward(x_, k_, b_, stride, padding)
    want = numeric_grads(forward, dy, x, k, b)
    got = fn(x.copy(), k.copy(), dy.copy(), stride=stride, padding=padding)
    if not isinstance(got, tuple) or len(got) != 3:
        return np.inf, "return a tuple (dx, dkernel, dbias)"
    flipped = kernels.conv2d_backward(x, k[::-1, ::-1], dy, stride, padding)[0]
    generic = ("right for stride 1 and 'valid' only: " + STRIDE_PADDING.format(
        case=f"stride={stride}, padding={padding!r}")) if (stride, padding) != (1, "valid") \
        else "every window gets kernel * dy; the kernel gets window * dy, summed"
    return _worst([
        _judge(got[0], want[0], [(flipped, FLIPPED)], "dx: " + generic),
        _judge(got[1], want[1], [(want[1][::-1, ::-1], FLIPPED)], "dkernel: " + generic),
        _judge(got[2], want[2], [(want[2] / np.prod(dy.shape[:3]), BATCH_MEAN),
                                 (want[2] / len(x), BATCH_MEAN)],
               "dbias[f] = the sum of dy[..., f] over the batch and positions")])


def check_conv2d_backward(fn):
    """(dx, dkernel, dbias) against numerical gradients, for the four stride/padding cases."""
    return _worst([_conv_backward_case(fn, s, p, seed) for seed, (s, p) in enumerate(CASES)])


# --------------------------------------------------------------------------------- pool
def check_maxpool2d_forward(fn):
    """Pools of 2 (6x6 input) and 3 (7x8 input: leftover rows and columns dropped)."""
    trials = []
    for seed, (shape, p) in enumerate([((2, 6, 6, 3), 2), ((2, 7, 8, 2), 3)]):
        x = distinct(shape, seed)
        want = kernels.maxpool2d_forward(x, p)
        trials.append(_judge(fn(x.copy(), pool_size=p), want,
                             [(kernels.avgpool2d_forward(x, p), "that is the mean of each "
                               "window (average pooling); take the maximum")],
                             f"the maximum of each {p}x{p} window, stride {p}, per channel"))
    return _worst(trials)


def check_maxpool2d_backward(fn):
    """dx against the numerical gradient of sum(dy * maxpool(x)), inputs without ties."""
    trials = []
    for seed, (shape, p) in enumerate([((2, 6, 6, 3), 2), ((2, 7, 8, 2), 3)]):
        x = distinct(shape, seed)
        dy = _rng(seed).normal(size=kernels.maxpool2d_forward(x, p).shape)
        (want,) = numeric_grads(lambda v: kernels.maxpool2d_forward(v, p), dy, x)
        spread = kernels.avgpool2d_backward(x, dy, p)
        mistakes = [(spread * p * p, EVERY_CELL),
                    (spread, "dy / (window size) to every cell is average pooling's "
                             "gradient; max-pooling sends dy to the maximum's cell only")]
        trials.append(_judge(fn(x.copy(), dy.copy(), pool_size=p), want, mistakes,
                             "dy goes to the cell holding its window's maximum, 0 elsewhere"))
    return _worst(trials)


# -------------------------------------------------------------------------------- dense
def _dense_data():
    rng = _rng(3)
    return rng.normal(size=(4, 5)), rng.normal(size=(5, 3)), rng.normal(size=3)


def check_dense_forward(fn):
    """z = x @ kernel + bias on x (4, 5), kernel (5, 3)."""
    x, k, b = _dense_data()
    want = kernels.dense_forward(x, k, b)
    return _judge(fn(x.copy(), k.copy(), b.copy()), want,
                  [(want - b, "the bias is missing")], "z = x @ kernel + bias, eq. (1)")


def check_dense_backward(fn):
    """(dx, dkernel, dbias) against numerical gradients."""
    x, k, b = _dense_data()
    dy = _rng(4).normal(size=(4, 3))
    want = numeric_grads(kernels.dense_forward, dy, x, k, b)
    got = fn(x.copy(), k.copy(), dy.copy())
    if not isinstance(got, tuple) or len(got) != 3:
        return np.inf, "return a tuple (dx, dkernel, dbias)"
    return _worst([
        _judge(got[0], want[0], [], "dx = dy @ kernel.T, shape (N, in)"),
        _judge(got[1], want[1], [(want[1] / len(x), BATCH_MEAN)],
               "dkernel = x.T @ dy, shape (in, out)"),
        _judge(got[2], want[2], [(want[2] / len(x), BATCH_MEAN)],
               "dbias = dy summed over the batch")])


# --------------------------------------------------------------------------------- loss
def check_softmax_cross_entropy(fn):
    """(loss, dlogits) against minicnn's loss from logits, also for logits near 1000."""
    rng = _rng(5)
    trials = []
    for shift in (0.0, 1000.0):                   # large logits: exp overflows unless shifted
        logits, labels = rng.normal(size=(6, 3)) * 3 + shift, rng.integers(0, 3, 6)
        ce = losses.SparseCategoricalCrossentropy(from_logits=True)
        want_loss = ce(labels, logits)
        want_grad = (numerical_gradient(lambda z: ce(labels, z), logits) if shift == 0
                     else ce.gradient(labels, logits))    # (differences lose digits at 1000)
        try:
            loss, grad = fn(logits.copy(), labels.copy())
        except (TypeError, ValueError):
            return np.inf, "return a tuple (loss, dlogits)"
        overflow = "" if shift == 0 else ("; with logits near 1000 exp overflows: subtract "
                                          "each row's maximum first")
        trials += [_judge(loss, want_loss, [(want_loss * len(labels), BATCH_MEAN)],
                          "loss = mean of -ln p[n, label[n]]" + overflow),
                   _judge(grad, want_grad, [(want_grad * len(labels), BATCH_MEAN)],
                          "dlogits = (softmax(logits) - onehot(labels)) / N" + overflow)]
    return _worst(trials)


# --------------------------------------------------------------------------------- adam
def reference_adam(param, grad, m, v, t, lr, beta_1, beta_2, epsilon):
    """One step of minicnn.optimizers.Adam from state (m, v) at step t: (param, m, v)."""
    opt = Adam(lr, beta_1, beta_2, epsilon)
    w, slots = param.copy(), (m.copy(), v.copy())
    opt.iterations, opt._slots = t - 1, [slots]
    opt.apply_gradients([(grad, w)])
    return w, slots[0], slots[1]


def _no_correction(param, grad, m, v, lr, beta_1, beta_2, epsilon):
    m = beta_1 * m + (1 - beta_1) * grad
    v = beta_2 * v + (1 - beta_2) * grad ** 2
    return param - lr * m / (np.sqrt(v) + epsilon)


def check_adam_step(fn):
    """One step from zero moments at t = 1, and from given moments at t = 7."""
    rng, trials = _rng(6), []
    for t, hp in ((1, (0.001, 0.9, 0.999, 1e-7)), (7, (0.01, 0.8, 0.99, 1e-7))):
        param, grad = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
        m, v = (np.zeros((3, 4)), np.zeros((3, 4))) if t == 1 else \
            (rng.normal(size=(3, 4)) * 0.1, rng.random((3, 4)) * 0.1)
        want = reference_adam(param, grad, m, v, t, *hp)
        got = fn(param.copy(), grad.copy(), m.copy(), v.copy(), t, *hp)
        if not isinstance(got, tuple) or len(got) != 3:
            return np.inf, "return a tuple (param, m, v)"
        wrong = [(_no_correction(param, grad, m, v, *hp), NO_CORRECTION),
                 (reference_adam(param, grad, m, v, t + 1, *hp)[0],
                  "t is the step number counted from 1: use it as given")]
        trials += [_judge(got[0], want[0], wrong, "param -= alpha_t * m / (sqrt(v) + epsilon)"),
                   _judge(got[1], want[1], [], "m = beta_1 m + (1 - beta_1) grad"),
                   _judge(got[2], want[2], [], "v = beta_2 v + (1 - beta_2) grad^2")]
    return _worst(trials)


CHECKS = {name[len("check_"):]: fn for name, fn in globals().items()
          if name.startswith("check_")}


from .checks_more import MORE_CHECKS  # noqa: E402  (numerical_gradient, batchnorm, dropout, BCE)

CHECKS.update(MORE_CHECKS)
