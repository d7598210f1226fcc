"""Layers: thin classes over the kernels in ``minicnn.kernels`` (the contract is in
:mod:`minicnn.layers.base`; ``LAYERS`` lists every kind)."""
from .activations import ACTIVATIONS, Activation
from .base import LAYERS, Layer, Step, Weight, Window, register
from .core import Conv2D, Dense, Dropout, Flatten, Input, ReLU, Sigmoid, Softmax
from .normalization import BatchNormalization
from .pooling import AveragePooling2D, GlobalAveragePooling2D, MaxPooling2D

__all__ = ["ACTIVATIONS", "Activation", "LAYERS", "Layer", "Step", "Weight", "Window", "register",
           "Input", "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
           "Flatten", "Dense", "Dropout", "BatchNormalization", "ReLU", "Sigmoid", "Softmax"]
