"""Pure kernel functions, one module per op family, three tiers each (see ``minicnn.backend``).

Every front function checks its arguments, pads if asked, and dispatches to the tier given by
``backend=`` (default: the current one). Kernels never change their inputs. Inside a model's
``fit``, ``predict``, ... the Numba tier's outputs come from the model's reused arrays
(:mod:`.buffers`), handed out only when nothing else refers to them.
"""
from .activations import (relu, relu_backward, sigmoid, sigmoid_backward, softmax,
                          softmax_backward)
from .conv import conv2d_backward, conv2d_forward
from .dense import dense_backward, dense_forward
from .geometry import output_length, pad_amounts
from .normalization import batch_moments, batchnorm_backward, batchnorm_forward
from .pool import (avgpool2d_backward, avgpool2d_forward, global_avgpool2d_backward,
                   global_avgpool2d_forward, maxpool2d_backward, maxpool2d_forward)

__all__ = [
    "conv2d_forward", "conv2d_backward", "maxpool2d_forward", "maxpool2d_backward",
    "avgpool2d_forward", "avgpool2d_backward", "global_avgpool2d_forward",
    "global_avgpool2d_backward", "dense_forward", "dense_backward", "batch_moments",
    "batchnorm_forward", "batchnorm_backward", "relu", "relu_backward", "sigmoid",
    "sigmoid_backward", "softmax", "softmax_backward", "output_length", "pad_amounts",
]
