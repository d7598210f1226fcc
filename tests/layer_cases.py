"""One entry per layer kind in ``minicnn.layers.LAYERS``: the cases every layer is checked on.

A new layer that registers itself must add its cases here (test_layer_contract fails until
it does); it then gets the tier agreement, float64 gradient check, save/load, config and
Keras checks for free. Each case: (constructor arguments, input shape per sample, gradient
check threshold). 1e-7 for smooth ops; 1e-5 where ReLU / max-pooling have kinks, and for
BatchNormalization, whose dx sums to zero over each channel, so some entries are tiny and
the centred difference's rounding (about 1e-10 absolute) dominates their relative error.
"""
SMOOTH, KINKED = 1e-7, 1e-5

CASES = {
    "Conv2D": [
        ({"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same",
          "activation": "relu"}, (7, 6, 2), KINKED),
        ({"filters": 2, "kernel_size": (2, 3), "use_bias": False}, (5, 6, 3), SMOOTH),
        ({"filters": 2, "kernel_size": 3, "activation": "sigmoid"}, (5, 5, 1), SMOOTH),
    ],
    "Dense": [
        ({"units": 4, "activation": "relu"}, (6,), KINKED),
        ({"units": 3, "use_bias": False, "activation": "softmax"}, (5,), SMOOTH),
    ],
    "MaxPooling2D": [
        ({"pool_size": 2, "strides": 1, "padding": "same"}, (5, 6, 2), KINKED),
        ({"pool_size": 3, "strides": 2}, (7, 7, 2), KINKED),
    ],
    "AveragePooling2D": [
        ({"pool_size": 2}, (6, 5, 2), SMOOTH),
        ({"pool_size": 3, "strides": 2, "padding": "same"}, (7, 6, 2), SMOOTH),
        ({"pool_size": (2, 3), "strides": 1, "padding": "same"}, (4, 5, 1), SMOOTH),
    ],
    "GlobalAveragePooling2D": [({}, (4, 5, 3), SMOOTH)],
    "BatchNormalization": [
        ({}, (4, 5, 3), KINKED),
        ({"momentum": 0.9, "epsilon": 0.01, "center": False}, (6,), KINKED),
        ({"scale": False}, (3, 3, 2), KINKED),
    ],
    "Flatten": [({}, (3, 4, 2), SMOOTH)],
    "Dropout": [({"rate": 0.4, "seed": 3}, (5, 4), SMOOTH)],
    "ReLU": [({}, (4, 3), KINKED)],
    "Sigmoid": [({}, (4, 3), SMOOTH)],
    "Softmax": [({}, (5,), SMOOTH)],
}


def all_cases():
    """``[(pytest id, class name, kwargs, shape, threshold), ...]`` over every kind."""
    return [(f"{kind}-{i}", kind, kwargs, shape, tol)
            for kind, cases in CASES.items() for i, (kwargs, shape, tol) in enumerate(cases)]
