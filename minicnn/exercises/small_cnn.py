"""The last exercise: a small CNN built only from the student's functions, trained on X-rays.

    conv 3x3, 8 filters -> ReLU -> max-pool 2x2 -> flatten -> dense 2 -> softmax cross-entropy

trained with the student's ``adam_step``. ``funcs`` is any object with the exercise
functions as attributes (a student's folder loaded by ``minicnn.exercises.load_solutions``,
or ``minicnn.exercises.solutions``). The data: a seeded sample of training X-rays at 32 px,
one image per patient (``minicnn.data.subsets``), split into training and validation patients;
the test folder is never read.

The verdict is a test, not a threshold on one noisy number: the network passes when its
training loss fell and the 95% DeLong interval of its validation AUC (200 images, other
patients) lies above 0.5, i.e. it ranks pneumonia above normal better than chance. The AUC,
not the accuracy: over 40 seeds the model answers' last-epoch accuracy ranged from 0.605 to
0.905 (it swings between epochs as the output's intercept moves), their AUC from 0.863 to
0.969, the interval's lower end from 0.812 up (docs/index.md: the false-failure probability).
"""
import numpy as np

from ..data import find_data_dir
from ..data.subsets import load_patient_sample
from ..initializers import glorot_uniform
from ..metrics import auc_ci, roc_auc

IMAGE_SIZE, TRAIN_PER_CLASS, VAL_PER_CLASS = 32, 60, 100
PER_CLASS = TRAIN_PER_CLASS + VAL_PER_CLASS
EPOCHS, BATCH, LEARNING_RATE, FILTERS = 6, 16, 0.003, 8
CHANCE, CONFIDENCE = 0.5, 0.95       # the AUC of a network that ranks at random
#: The exercise functions the small CNN calls: they must pass before it trains.
USES = ("relu_forward", "relu_backward", "conv2d_forward", "conv2d_backward",
        "maxpool2d_forward", "maxpool2d_backward", "dense_forward", "dense_backward",
        "softmax_cross_entropy", "adam_step")


def init_params(image_size=IMAGE_SIZE, filters=FILTERS, seed=0):
    """Glorot-uniform kernels, zero biases: {"k" (3, 3, 1, F), "b" (F,), "w" (D, 2), "c" (2,)}."""
    side = (image_size - 2) // 2
    rng = np.random.default_rng(seed)
    return {"k": glorot_uniform((3, 3, 1, filters), rng, "float64"), "b": np.zeros(filters),
            "w": glorot_uniform((side * side * filters, 2), rng, "float64"), "c": np.zeros(2)}


def forward(f, params, x):
    """Logits (N, 2) and what the backward pass needs (the activations)."""
    z1 = f.conv2d_forward(x, params["k"], params["b"])
    a1 = f.relu_forward(z1)
    p1 = f.maxpool2d_forward(a1)
    flat = p1.reshape(len(x), -1)
    return f.dense_forward(flat, params["w"], params["c"]), (x, z1, a1, p1, flat)


def gradients(f, params, x, y):
    """(loss, {name: gradient}) for one batch: the forward pass, then back through it."""
    logits, (x, z1, a1, p1, flat) = forward(f, params, x)
    loss, dlogits = f.softmax_cross_entropy(logits, y)
    dflat, dw, dc = f.dense_backward(flat, params["w"], dlogits)
    da1 = f.maxpool2d_backward(a1, dflat.reshape(p1.shape))
    dz1 = f.relu_backward(z1, da1)
    _, dk, db = f.conv2d_backward(x, params["k"], dz1)
    return loss, {"k": dk, "b": db, "w": dw, "c": dc}


def accuracy(f, params, x, y):
    return float(np.mean(forward(f, params, x)[0].argmax(axis=1) == y))


def train(f, x, y, x_val, y_val, epochs=EPOCHS, seed=0):
    """Mini-batch training with the student's adam_step: (per-epoch history of (training
    loss, validation accuracy), the trained parameters)."""
    params = init_params(x.shape[1], seed=seed)
    moments = {k: (np.zeros_like(p), np.zeros_like(p)) for k, p in params.items()}
    rng, t, history = np.random.default_rng(seed), 0, []
    for _ in range(epochs):
        losses = []
        for batch in np.array_split(rng.permutation(len(x)), max(1, len(x) // BATCH)):
            loss, grads = gradients(f, params, x[batch], y[batch])
            t += 1
            for k in params:
                params[k], *moments[k] = f.adam_step(params[k], grads[k], *moments[k], t,
                                                     lr=LEARNING_RATE)
            losses.append(loss)
        history.append((float(np.mean(losses)), accuracy(f, params, x_val, y_val)))
    return history, params


def validation_auc(f, params, x_val, y_val):
    """(AUC, its CONFIDENCE DeLong interval) of the score logit_1 - logit_0 (the ranking of
    the softmax's pneumonia probability)."""
    logits = forward(f, params, x_val)[0]
    score = logits[:, 1] - logits[:, 0]
    return roc_auc(y_val, score), auc_ci(y_val, score, CONFIDENCE)


def xray_sample(data=None, seed=0):
    """(x, y, x_val, y_val) float64: training X-rays at 32 px, one per patient, the last
    VAL_PER_CLASS of each class held out for validation (other patients)."""
    ds = load_patient_sample(find_data_dir(data) / "train", PER_CLASS, IMAGE_SIZE, seed)
    x, y = ds.x.astype(np.float64), ds.y
    val = np.zeros(len(y), bool)
    for c in (0, 1):
        val[np.flatnonzero(y == c)[-VAL_PER_CLASS:]] = True
    return x[~val], y[~val], x[val], y[val]


def judge(history, interval):
    """Passed: the training loss fell and the AUC's interval lies above CHANCE."""
    return bool(history[-1][0] < history[0][0] and interval[0] > CHANCE)


def train_on_xrays(f, data=None, seed=0):
    """Train on the sample; {"history", "auc", "interval", "passed", "n_train", "n_val"}
    (see :func:`judge`)."""
    x, y, x_val, y_val = xray_sample(data, seed)
    history, params = train(f, x, y, x_val, y_val, seed=seed)
    auc, interval = validation_auc(f, params, x_val, y_val)
    return {"history": history, "n_train": len(y), "n_val": len(y_val), "auc": auc,
            "interval": interval, "passed": judge(history, interval)}


_REPORT = {
    "en": ("small CNN on {n_train} training X-rays ({size} px, one per patient), validation "
           "{n_val} (other patients):", "  epoch {e}: training loss {loss:.4f}, validation "
           "accuracy {acc:.3f}", "  {verdict}: validation AUC {auc:.3f}, {pct:.0%} DeLong "
           "interval {lo:.3f} to {hi:.3f} ({side} {chance:.2f}, chance); the training loss "
           "{fell}", ("passed", "failed", "above", "not above", "fell", "did not fall")),
    "es": ("CNN pequeña con {n_train} radiografías de entrenamiento ({size} px, una por "
           "paciente), validación {n_val} (otros pacientes):", "  época {e}: pérdida de "
           "entrenamiento {loss:.4f}, exactitud de validación {acc:.3f}", "  {verdict}: AUC "
           "de validación {auc:.3f}, intervalo de DeLong del {pct:.0%} de {lo:.3f} a {hi:.3f} "
           "({side} {chance:.2f}, el azar); la pérdida de entrenamiento {fell}",
           ("bien", "mal", "por encima de", "no por encima de", "bajó", "no bajó")),
}


def report(result, lang="en"):
    """The training lines a student reads: loss and validation accuracy per epoch, and the
    verdict with its interval, in ``lang``."""
    head, epoch, tail, words = _REPORT[lang]
    history, (lo, hi) = result["history"], result["interval"]
    lines = [head.format(size=IMAGE_SIZE, **result)]
    lines += [epoch.format(e=e, loss=loss, acc=acc)
              for e, (loss, acc) in enumerate(history, start=1)]
    lines.append(tail.format(
        verdict=words[0] if result["passed"] else words[1], auc=result["auc"],
        pct=CONFIDENCE, lo=lo, hi=hi, side=words[2] if lo > CHANCE else words[3],
        chance=CHANCE, fell=words[4] if history[-1][0] < history[0][0] else words[5]))
    return "\n".join(lines)
