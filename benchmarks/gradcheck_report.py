"""Worst gradient-check error per layer and kernel tier (float64, the recipe in minicnn.gradcheck),
over a fixed set of geometries: strides 1-2, 'valid'/'same', odd sizes, kernel = input.

    python benchmarks/gradcheck_report.py
"""
import itertools

import numpy as np

from minicnn import backend, layers
from minicnn.gradcheck import check_layer


def distinct(shape, rng):
    """Distinct magnitudes >= 0.01 with random signs: no pooling ties, no ReLU kinks."""
    size = int(np.prod(shape))
    return ((rng.permutation(size) + 1) * 0.01 * rng.choice([-1, 1], size)).reshape(shape)


def cases():
    rng = np.random.default_rng(0)
    for (h, w), k, s, pad in itertools.product([(5, 5), (6, 7)], [1, 2, 3], [1, 2],
                                               ["valid", "same"]):
        x = rng.normal(size=(2, h, w, 2))
        yield "Conv2D", layers.Conv2D(3, k, s, pad), x
        yield "MaxPooling2D", layers.MaxPooling2D(k, s, pad), distinct(x.shape, rng)
    yield "Conv2D", layers.Conv2D(2, (5, 5)), rng.normal(size=(1, 5, 5, 3))   # kernel = input
    for units in (1, 4):
        yield "Dense", layers.Dense(units), rng.normal(size=(3, 7))
    for name, make in (("ReLU", layers.ReLU), ("Sigmoid", layers.Sigmoid),
                       ("Softmax", layers.Softmax), ("Flatten", layers.Flatten)):
        yield name, make(), distinct((2, 3, 4, 3), rng)


def main():
    worst = {}
    for tier in backend.BACKENDS:
        with backend.using(tier):
            for name, layer, x in cases():
                err = max(check_layer(layer, x, seed=1).values())
                worst[name, tier] = max(worst.get((name, tier), 0.0), err)
    names = sorted({n for n, _ in worst})
    print("| layer | " + " | ".join(backend.BACKENDS) + " |")
    print("|---|" + "---|" * len(backend.BACKENDS))
    for n in names:
        print(f"| {n} | " + " | ".join(f"{worst[n, t]:.1e}" for t in backend.BACKENDS) + " |")


if __name__ == "__main__":
    main()
