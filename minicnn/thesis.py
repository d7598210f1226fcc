"""The thesis's equations and worked numbers, as code you can run and test.

Each function names the equation or passage of the thesis it reproduces (see
docs/equations.md). The thesis: the final project of a specialization in applied statistics,
written in Spanish, that trained a Keras CNN on the Kermany et al. (2018) pediatric chest
X-rays; its text names no author, university or title page.
"""
import numpy as np

from . import kernels

#: The 6x6 image of the thesis's Figure 5 ("Filtrado imagen 6 x 6"). The text spells out only
#: the top-left 3x3 window (3 0 1 / 1 5 8 / 2 7 2); the other cells are the figure's.
EXAMPLE_IMAGE_6X6 = np.array([[3, 0, 1, 2, 7, 4],
                              [1, 5, 8, 9, 3, 1],
                              [2, 7, 2, 5, 1, 3],
                              [0, 1, 3, 1, 7, 8],
                              [4, 2, 1, 6, 2, 8],
                              [2, 4, 5, 2, 3, 9]], dtype=np.float64)

#: The 3x3 vertical-edge kernel of the same figure.
VERTICAL_EDGE_KERNEL = np.array([[1, 0, -1],
                                 [1, 0, -1],
                                 [1, 0, -1]], dtype=np.float64)

#: Trainable parameters of the thesis CNN, as Keras's summary prints them.
THESIS_CNN_PARAMS = 1_033_218


def activation_value(x, w, b):
    """Thesis eq. (1): z = sum_i w_i x_i + b. x, w (m,), b scalar -> z scalar."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    if x.shape != w.shape or x.ndim != 1:
        raise ValueError(f"x and w must be vectors of one length, got {x.shape} and {w.shape}")
    return float(np.dot(w, x) + b)


def sigmoid(z):
    """Thesis eq. (3): y = 1 / (1 + e^-z) (any shape; floats in, floats out)."""
    return kernels.sigmoid(np.asarray(z, np.float64), backend="numpy")


def neuron(x, w, b, phi=sigmoid):
    """Thesis eq. (2): y = phi(w . x + b), the sigmoid neuron by default."""
    return float(phi(np.float64(activation_value(x, w, b))))


def perceptron(x, w, b):
    """The step neuron the thesis starts from: 1 if w . x + b > 0 else 0."""
    return int(activation_value(x, w, b) > 0)


def edge_example(backend=None):
    """The 6x6 image cross-correlated with the vertical-edge kernel: a (4, 4) array whose
    top-left value is 3*1 + 0*0 + 1*(-1) + 1*1 + 5*0 + 8*(-1) + 2*1 + 7*0 + 2*(-1) = -5.

    CNN "convolution" is cross-correlation: the kernel slides without being flipped.
    """
    x = EXAMPLE_IMAGE_6X6[None, :, :, None]                  # (N=1, 6, 6, C=1)
    k = VERTICAL_EDGE_KERNEL[:, :, None, None]               # (3, 3, C_in=1, C_out=1)
    return kernels.conv2d_forward(x, k, np.zeros(1), backend=backend)[0, :, :, 0]


def pooling_sizes(maps=32, size=28, pools=2, pool=2):
    """The thesis's pooling arithmetic: ``maps`` feature maps of size x size, halved by a
    2x2 max-pool ``pools`` times. Returns [(side, maps * side^2), ...], first entry unpooled.

    With the defaults: [(28, 25088), (14, 6272), (7, 1568)]. The text gives 3,136 for the
    last step, which would be 64 maps of 7x7; 32 maps of 7x7 hold 1,568 values.
    """
    sides = [size]
    for _ in range(pools):
        sides.append(kernels.output_length(sides[-1], pool, pool, "valid"))
    return [(s, maps * s * s) for s in sides]


def input_neurons(height, width, channels=1):
    """Input values of an image: 64x64 gray -> 4,096; 64x64x3 colour -> 12,288."""
    return height * width * channels
