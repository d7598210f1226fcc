"""Ready-made architectures."""
from .layers import (BatchNormalization, Conv2D, Dense, Flatten, GlobalAveragePooling2D, Input,
                     MaxPooling2D)
from .model import Sequential

def thesis_cnn(input_shape=(150, 150, 1), num_classes=2, seed=None, batch_norm=False,
               global_pool=False, bn_momentum=0.99):
    """The thesis CNN (uncompiled): four Conv2D(64, 3x3, relu), max-pooling 2x2 after the
    first three, Flatten, Dense(64, relu), Dense(num_classes, softmax).

    For (150, 150, 1): 150 -> 148 -> 74 -> 72 -> 36 -> 34 -> 17 -> 15, flatten 14,400,
    1,033,218 parameters (as Keras's summary prints for the thesis's model).

    Two variants to compare on validation data (not in the thesis): ``batch_norm`` adds a
    BatchNormalization after each pooling and after the last convolution (each block keeps
    its Conv2D + ReLU + pooling, which the Numba tier runs as one step); ``global_pool``
    replaces the 14,400-wide Flatten by GlobalAveragePooling2D (64 features, so the first
    Dense has 4,160 weights instead of 921,664). ``bn_momentum``: the BatchNormalization
    layers' momentum (Keras's default 0.99).
    """
    def block(pooled):
        layers = [Conv2D(64, 3, activation="relu")] + ([MaxPooling2D(2)] if pooled else [])
        return layers + ([BatchNormalization(momentum=bn_momentum)] if batch_norm else [])

    return Sequential([
        Input(input_shape),
        *block(True), *block(True), *block(True), *block(False),
        GlobalAveragePooling2D() if global_pool else Flatten(),
        Dense(64, activation="relu"),
        Dense(num_classes, activation="softmax"),
    ], name="thesis_cnn", seed=seed)
