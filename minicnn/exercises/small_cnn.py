"""The last exercise: a small CNN built only from the student's functions, trained on X-rays.

    conv 3x3, 8 filters -> ReLU -> max-pool 2x2 -> flatten -> dense 2 -> softmax cross-entropy

trained with the student's ``adam_step``. ``funcs`` is any object with the exercise
functions as attributes (a student's folder loaded by ``minicnn.exercises.load_solutions``,
or ``minicnn.exercises.solutions``). The data: a seeded sample of training X-rays at 32 px,
one image per patient (``minicnn.data.subsets``), split into training and validation patients;
the test folder is never read.
"""
import numpy as np

from ..data import find_data_dir
from ..initializers import glorot_uniform
from ..data.subsets import load_patient_sample

IMAGE_SIZE, PER_CLASS, VAL_PER_CLASS = 32, 80, 20
EPOCHS, BATCH, LEARNING_RATE, FILTERS = 6, 16, 0.003, 8
PASS_ACCURACY = 0.70        # validation accuracy to reach (always guessing one class: 0.50)


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
    """Mini-batch training with the student's adam_step; returns per-epoch history."""
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
    return history


def xray_sample(data=None, seed=0):
    """(x, y, x_val, y_val) float64: training X-rays at 32 px, one per patient, the last
    VAL_PER_CLASS of each class held out for validation (other patients)."""
    ds = load_patient_sample(find_data_dir(data) / "train", PER_CLASS, IMAGE_SIZE, seed)
    x, y = ds.x.astype(np.float64), ds.y
    val = np.zeros(len(y), bool)
    for c in (0, 1):
        val[np.flatnonzero(y == c)[-VAL_PER_CLASS:]] = True
    return x[~val], y[~val], x[val], y[val]


def train_on_xrays(f, data=None, seed=0):
    """Train on the sample; {"history", "passed", "n_train", "n_val"}. ``passed``: the
    training loss fell and the last validation accuracy reached PASS_ACCURACY."""
    x, y, x_val, y_val = xray_sample(data, seed)
    history = train(f, x, y, x_val, y_val, seed=seed)
    fell = history[-1][0] < history[0][0]
    return {"history": history, "n_train": len(y), "n_val": len(y_val),
            "passed": bool(fell and history[-1][1] >= PASS_ACCURACY)}


def report(result):
    """The training lines a student reads: loss and validation accuracy per epoch."""
    lines = [f"small CNN on {result['n_train']} training X-rays ({IMAGE_SIZE} px, one per "
             f"patient), validation {result['n_val']} (other patients):"]
    lines += [f"  epoch {e}: training loss {loss:.4f}, validation accuracy {acc:.3f}"
              for e, (loss, acc) in enumerate(result["history"], start=1)]
    verdict = "reached" if result["passed"] else "did not reach"
    lines.append(f"  {verdict} validation accuracy {PASS_ACCURACY:.2f} with a falling loss")
    return "\n".join(lines)
