"""Layers of the thesis CNN: thin classes over the kernels in ``minicnn.kernels``."""
from .activations import ACTIVATIONS, Activation
from .base import Layer
from .core import (Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D, ReLU, Sigmoid,
                   Softmax)

__all__ = ["ACTIVATIONS", "Activation", "Layer", "Input", "Conv2D", "MaxPooling2D", "Flatten",
           "Dense", "Dropout", "ReLU", "Sigmoid", "Softmax"]
