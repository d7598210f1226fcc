# %% [markdown]
# # 12 - Logistic regression two ways: Fisher scoring and a one-neuron network
#
# A sigmoid neuron on fixed inputs is a logistic regression (example 01). Here we fit the same
# model twice on the same data:
#
# - the statistician's way: maximum likelihood by **IRLS** (iteratively reweighted least
#   squares, which for the logit link is Newton-Raphson and Fisher scoring at once), with
#   standard errors from the Fisher information;
# - the network's way: a minicnn model with one Dense unit and a sigmoid, trained by Adam on
#   the binary cross-entropy (thesis eq. (1)-(3)).
#
# The covariates are a few simple numbers measured on real chest X-rays (mean brightness,
# contrast, ...), standardised. Both fits reach the same coefficients (to far better than
# 1e-3); the network just takes a few thousand small steps where IRLS takes a handful of
# large ones. docs/bridge.md (in Spanish, docs/es/puente.md) tells the whole story.
#
# Like examples 06-08, this one needs the chest X-ray data set (found in $MINICNN_DATA or
# next to the repository); without it it says so and stops.

# %%
import math
import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure       # figures drawn off-screen (Agg), saved as PNG

from minicnn import layers
from minicnn.data import find_data_dir
from minicnn.data.subsets import load_patient_sample
from minicnn.model import Sequential
from minicnn.optimizers import Adam, ExponentialDecay

NAME = "12_logistic_regression_two_ways"
QUICK = os.environ.get("MINICNN_QUICK") == "1"   # quick: 64 images per class at 32 px
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()  # script or notebook
FIGURES = Path(os.environ.get("MINICNN_FIGURES") or HERE / "figures" / NAME)
FIGURES.mkdir(parents=True, exist_ok=True)
PER_CLASS, IMAGE_SIZE = (64, 32) if QUICK else (300, 64)

try:
    DATA = find_data_dir(None)
except FileNotFoundError as exc:        # looked for from here and from the checkout
    print(f"This example needs the chest X-ray data set, which was not found.\n{exc}")
    sys.exit(0)

# %% [markdown]
# ## The data: five numbers per X-ray
#
# A seeded sample of training images, one per patient (so the observations are
# independent, as the likelihood below assumes), the same number of each class. From each
# gray image (values 0..1) we measure five covariates:
#
# 1. `mean`: the mean brightness;
# 2. `contrast`: the standard deviation of the pixel values;
# 3. `centre`: how much brighter the central square (half the width) is than the whole image;
# 4. `top-bottom`: the upper half's mean minus the lower half's;
# 5. `dark`: the share of pixels darker than 0.2 (air in the lungs, black borders).
#
# Each is standardised (mean 0, standard deviation 1), so the coefficients are log odds
# ratios per standard deviation and can be compared with each other.

# %%
train = load_patient_sample(DATA / "train", PER_CLASS, IMAGE_SIZE, seed=0)
FEATURES = ["mean", "contrast", "centre", "top-bottom", "dark"]


def image_features(images):
    """Five covariates per gray image: images (N, H, W, 1) in [0, 1] -> (N, 5)."""
    x = images[..., 0].astype(np.float64)
    half, quarter = x.shape[1] // 2, x.shape[1] // 4
    mean = x.mean(axis=(1, 2))
    return np.column_stack([mean, x.std(axis=(1, 2)),
                            x[:, quarter:-quarter, quarter:-quarter].mean(axis=(1, 2)) - mean,
                            x[:, :half].mean(axis=(1, 2)) - x[:, half:].mean(axis=(1, 2)),
                            (x < 0.2).mean(axis=(1, 2))])


raw = image_features(train.x)
Z = (raw - raw.mean(axis=0)) / raw.std(axis=0)          # standardised covariates (N, 5)
y = train.y.astype(np.float64)                            # 1 = pneumonia, 0 = normal
X = np.column_stack([np.ones(len(Z)), Z])                 # the design matrix, intercept first
NAMES = ["intercept"] + FEATURES
print(f"{len(y)} X-rays at {IMAGE_SIZE} px ({int(y.sum())} pneumonia), "
      f"{Z.shape[1]} covariates; design matrix X {X.shape}")

# %% [markdown]
# ## The statistician's way: IRLS (Fisher scoring)
#
# The log-likelihood of a logistic regression with p_i = sigmoid(x_i . beta) is
# l(beta) = sum_i [y_i log p_i + (1 - y_i) log(1 - p_i)]. Its gradient (the score) and its
# Fisher information are
#
#     U(beta) = X^T (y - p),        I(beta) = X^T W X,   W = diag(p_i (1 - p_i)).
#
# Fisher scoring steps beta <- beta + I^-1 U. For the logit (canonical) link the observed
# and expected information are the same matrix, so this is also Newton-Raphson; and since
# the step solves a weighted least-squares problem it is also called IRLS. At the maximum,
# I(beta)^-1 estimates the covariance of beta-hat: the standard errors are the square roots
# of its diagonal.
#
# `weights` (one per observation, default 1) multiplies each observation's log-likelihood:
# the last part of this example uses it.

# %%
def irls(X, y, weights=None, tol=1e-12, max_steps=100):
    """Maximum likelihood logistic regression by Fisher scoring.

    X (N, P) design matrix, y (N,) of 0/1, weights (N,) or None. Returns (beta (P,),
    information (P, P) at beta, steps taken)."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    beta = np.zeros(X.shape[1])
    for step in range(1, max_steps + 1):
        p = 1 / (1 + np.exp(-X @ beta))
        information = X.T @ ((w * p * (1 - p))[:, None] * X)
        change = np.linalg.solve(information, X.T @ (w * (y - p)))
        beta = beta + change
        if np.abs(change).max() < tol:
            return beta, information, step
    raise RuntimeError(f"IRLS did not converge in {max_steps} steps (separated data?)")


beta_irls, information, steps = irls(X, y)
se_irls = np.sqrt(np.diag(np.linalg.inv(information)))
print(f"IRLS converged in {steps} steps")
print(f"{'':>11} {'coef':>8} {'std err':>8} {'z':>7} {'p-value':>8}   95% Wald interval")
for name, b, se in zip(NAMES, beta_irls, se_irls):
    z = b / se
    print(f"{name:>11} {b:8.4f} {se:8.4f} {z:7.2f} {math.erfc(abs(z) / math.sqrt(2)):8.4f}"
          f"   [{b - 1.96 * se:7.3f}, {b + 1.96 * se:7.3f}]")

# %% [markdown]
# ## The network's way: one Dense unit, a sigmoid, Adam
#
# `Dense(1, activation="sigmoid")` computes sigmoid(x . kernel + bias): the kernel plays the
# coefficients, the bias the intercept. Its loss, the binary cross-entropy, is minus the
# log-likelihood above divided by N, so its minimum is the same beta-hat. We train in float64
# on the whole sample at once (one batch, so every step uses the exact gradient) with Adam,
# its step size decaying from 0.1 to 0.001 over 2,000 steps, and record how far the weights
# are from IRLS's every 100 steps.

# %%
STEPS, CHUNK = 2000, 100
model = Sequential([layers.Input((Z.shape[1],)),
                    layers.Dense(1, activation="sigmoid", dtype="float64")], seed=0)
model.compile(Adam(ExponentialDecay(0.1, decay_steps=STEPS, decay_rate=0.01)),
              "binary_crossentropy")


def neuron_coefficients(model):
    """(bias, kernel...) of the one Dense unit, in the order of NAMES."""
    dense = model.layers[0]
    return np.concatenate([dense.params["bias"], dense.params["kernel"][:, 0]])


distance = []                                      # max |beta_adam - beta_irls| per chunk
for chunk in range(STEPS // CHUNK):
    model.fit(Z, y, batch_size=len(y), epochs=CHUNK, shuffle=False, verbose=0)
    distance.append(np.abs(neuron_coefficients(model) - beta_irls).max())
beta_adam = neuron_coefficients(model)
print(f"{'':>11} {'IRLS':>9} {'Adam':>9}")
for name, a, b in zip(NAMES, beta_irls, beta_adam):
    print(f"{name:>11} {a:9.5f} {b:9.5f}")
print(f"after {STEPS} Adam steps: largest difference from IRLS {distance[-1]:.1e} "
      f"(agree to 1e-3: {distance[-1] < 1e-3})")
close = [CHUNK * (i + 1) for i, d in enumerate(distance) if d < 1e-3]
print(f"IRLS took {steps} steps; Adam was within 1e-3 of it after "
      f"{close[0] if close else 'more than ' + str(STEPS)} steps (looked at every {CHUNK})")
mean_nll = -np.mean(y * np.log(1 / (1 + np.exp(-X @ beta_irls)))
                    + (1 - y) * np.log(1 / (1 + np.exp(X @ beta_irls))))
print(f"minicnn's loss {model.evaluate(Z, y)[0]:.6f} = -log-likelihood / N at IRLS's "
      f"beta {mean_nll:.6f}")

# %% [markdown]
# ## Figure: the same estimates, and how Adam gets there
#
# Left: each coefficient with its 95% Wald interval (IRLS) and Adam's estimate on top of it.
# Right: the largest distance between Adam's weights and IRLS's, every 100 steps (log scale).

# %%
fig = Figure(figsize=(10, 3.6))
ax_coef, ax_path = fig.subplots(1, 2)
rows = np.arange(len(NAMES))[::-1]
ax_coef.errorbar(beta_irls, rows, xerr=1.96 * se_irls, fmt="o", capsize=3,
                 label="IRLS, 95% Wald interval")
ax_coef.plot(beta_adam, rows, "x", color="crimson", markersize=9, label="one neuron, Adam")
ax_coef.axvline(0, color="gray", linewidth=0.8)
ax_coef.set_yticks(rows, NAMES)
ax_coef.set_xlabel("coefficient (log odds ratio per standard deviation)")
ax_coef.legend(fontsize=8)
ax_path.semilogy(CHUNK * np.arange(1, len(distance) + 1), distance, "-o", markersize=3)
ax_path.axhline(1e-3, color="gray", linestyle=":", label="1e-3")
ax_path.set_xlabel("Adam step")
ax_path.set_ylabel("max |Adam - IRLS|")
ax_path.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "irls_and_adam.png")
fig

# %% [markdown]
# ## Class weights shift the prior
#
# The `quick`, `full` and `improved` presets weigh each class's loss by N / (2 N_class)
# ("balanced"). On this balanced sample every weight is 1. On the full training folder,
# with about three pneumonia images for each normal one, pneumonia images weigh about a
# third of normal ones, which is like fitting the model to data with other class
# frequencies: the intercept (the prior log odds) moves most. This is the case-control
# result for logistic regression: sampling cases and controls at different rates changes
# only the intercept, by the log of the ratio of the rates, when the model is right. Below,
# each pneumonia image weighs 3 (as if pneumonia were three times as common in this
# sample): the intercept moves by about log 3 = 1.10; the slopes move too, by less, because
# five brightness summaries do not make an exactly right model.

# %%
weights = np.where(y == 1, 3.0, 1.0)
beta_weighted, _, _ = irls(X, y, weights)
print(f"intercept: unweighted {beta_irls[0]:.3f}, pneumonia weighted 3x {beta_weighted[0]:.3f}"
      f" (moved {beta_weighted[0] - beta_irls[0]:.3f}; log 3 = {math.log(3):.3f})")
print(f"slopes moved at most {np.abs(beta_weighted[1:] - beta_irls[1:]).max():.3f}")
print(f"figures saved in {FIGURES}")

# %% [markdown]
# ## Exercises (answers in docs/answers.md)
#
# 1. Replace the one-batch training by minibatches of 32 (`batch_size=32`, `shuffle=True`,
#    with as many epochs as needed for about 2,000 steps). Do the coefficients still agree to
#    1e-3? Why not exactly, and what would make them agree again?
# 2. Add the mean brightness a second time as a sixth covariate. What happens to IRLS, and
#    what happens to the network?
# 3. The standard errors above come from I(beta)^-1. What would change if the sample took
#    several X-rays from the same patient?
