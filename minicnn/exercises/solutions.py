"""Model answers to the exercises, in plain NumPy, written as a student would.

They are not the package's kernels (minicnn.kernels, which the checker uses as the
reference): they are short and slow, for reading. ``minicnn exercises check`` passes them
(``tests/test_exercises.py`` holds it to that).
"""
import numpy as np


def numerical_gradient(f, x, h=1e-5):
    """Centred differences, one entry at a time, on a float64 copy of x."""
    x = np.array(x, dtype=np.float64)                    # the copy: the caller's x stays
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        keep = x[i]
        x[i] = keep + h
        up = f(x)
        x[i] = keep - h
        down = f(x)
        x[i] = keep                                      # put back: the next entry's x
        grad[i] = (up - down) / (2 * h)
    return grad


def relu_forward(x):
    """max(0, x), any shape."""
    return np.maximum(x, 0)


def relu_backward(x, dy):
    """dy where the forward's input was positive, 0 elsewhere."""
    return dy * (x > 0)


def _same_pads(size, k, stride):
    """(before, after) zero padding of Keras's "same" along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def _pad(x, kh, kw, stride, padding):
    """x padded for the window geometry, and the (top, left) padding used."""
    if padding == "valid":
        return x, (0, 0)
    rows, cols = _same_pads(x.shape[1], kh, stride), _same_pads(x.shape[2], kw, stride)
    return np.pad(x, ((0, 0), rows, cols, (0, 0))), (rows[0], cols[0])


def conv2d_forward(x, kernel, bias, stride=1, padding="valid"):
    """Eq. (1) at every window: x (N, H, W, C_in) -> (N, H_out, W_out, C_out)."""
    kh, kw = kernel.shape[:2]
    xp, _ = _pad(x, kh, kw, stride, padding)
    ho, wo = (xp.shape[1] - kh) // stride + 1, (xp.shape[2] - kw) // stride + 1
    y = np.empty((x.shape[0], ho, wo, kernel.shape[3]))
    for i in range(ho):
        for j in range(wo):
            window = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            y[:, i, j, :] = np.tensordot(window, kernel, axes=3) + bias
    return y


def conv2d_backward(x, kernel, dy, stride=1, padding="valid"):
    """(dx, dkernel, dbias): every window gets kernel * dy, the kernel gets window * dy."""
    kh, kw = kernel.shape[:2]
    xp, (top, left) = _pad(x, kh, kw, stride, padding)
    dxp, dkernel = np.zeros(xp.shape), np.zeros(kernel.shape)
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            rows, cols = slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw)
            g = dy[:, i, j, :]                                         # (N, C_out)
            dkernel += np.tensordot(xp[:, rows, cols, :], g, axes=(0, 0))
            dxp[:, rows, cols, :] += np.tensordot(g, kernel, axes=(1, 3))
    dx = dxp[:, top:top + x.shape[1], left:left + x.shape[2], :]
    return dx, dkernel, dy.sum(axis=(0, 1, 2))


def _windows(x, p):
    """x (N, H, W, C) cut to whole windows and reshaped (N, H/p, p, W/p, p, C)."""
    n, h, w, c = x.shape
    x = x[:, :h // p * p, :w // p * p, :]
    return x.reshape(n, h // p, p, w // p, p, c)


def maxpool2d_forward(x, pool_size=2):
    """The maximum of each pool_size x pool_size window."""
    return _windows(x, pool_size).max(axis=(2, 4))


def maxpool2d_backward(x, dy, pool_size=2):
    """dy goes to the first maximum of its window (row-major order), 0 elsewhere."""
    n, h, w, c = x.shape
    p = pool_size
    win = _windows(x, p).transpose(0, 1, 3, 5, 2, 4).reshape(n, h // p, w // p, c, p * p)
    first = win.argmax(axis=-1)                          # index of the first maximum
    routed = (np.arange(p * p) == first[..., None]) * dy[..., None]
    blocks = routed.reshape(n, h // p, w // p, c, p, p).transpose(0, 1, 4, 2, 5, 3)
    dx = np.zeros(x.shape)
    dx[:, :h // p * p, :w // p * p, :] = blocks.reshape(n, h // p * p, w // p * p, c)
    return dx


def dense_forward(x, kernel, bias):
    """z = x . kernel + bias, eq. (1) for every neuron."""
    return x @ kernel + bias


def dense_backward(x, kernel, dy):
    """(dx, dkernel, dbias) = (dy . kernel^T, x^T . dy, sum of dy over the batch)."""
    return dy @ kernel.T, x.T @ dy, dy.sum(axis=0)


def _normalised(x, epsilon):
    """(x_hat, sqrt(var + epsilon), axes): statistics over every axis but the last."""
    axes = tuple(range(x.ndim - 1))
    std = np.sqrt(x.var(axis=axes) + epsilon)            # biased variance: divides by m
    return (x - x.mean(axis=axes)) / std, std, axes


def batchnorm_forward(x, gamma, beta, epsilon=0.001):
    """gamma * x_hat + beta, x_hat normalised with the batch's own mean and variance."""
    x_hat, _, _ = _normalised(x, epsilon)
    return gamma * x_hat + beta


def batchnorm_backward(x, gamma, dy, epsilon=0.001):
    """(dx, dgamma, dbeta); dx goes through the batch's mean and variance too."""
    x_hat, std, axes = _normalised(x, epsilon)
    dgamma, dbeta = (dy * x_hat).sum(axis=axes), dy.sum(axis=axes)
    dx = gamma / std * (dy - dy.mean(axis=axes) - x_hat * (dy * x_hat).mean(axis=axes))
    return dx, dgamma, dbeta


def dropout_forward(x, mask, rate):
    """Inverted dropout: the kept values divided by the keep probability 1 - rate."""
    return x * mask / (1 - rate)


def dropout_backward(dy, mask, rate):
    """The same constant factor per value as the forward: mask / (1 - rate)."""
    return dy * mask / (1 - rate)


def sigmoid_binary_cross_entropy(logits, labels):
    """(mean of softplus(z) - y z, (sigmoid(z) - y) / N), finite for any logits."""
    softplus = np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits)))    # ln(1 + e^z)
    loss = np.mean(softplus - labels * logits)
    p = np.exp(logits - softplus)                        # sigmoid(z) = e^z / (1 + e^z)
    return float(loss), (p - labels) / len(labels)


def softmax_cross_entropy(logits, labels):
    """(mean cross-entropy, (p - onehot) / N)."""
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = len(labels)
    loss = -log_p[np.arange(n), labels].mean()
    dlogits = np.exp(log_p)
    dlogits[np.arange(n), labels] -= 1
    return float(loss), dlogits / n


def adam_step(param, grad, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Keras's Adam: the bias correction folded into the step size alpha_t."""
    m = beta_1 * m + (1 - beta_1) * grad
    v = beta_2 * v + (1 - beta_2) * grad ** 2
    alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    return param - alpha * m / (np.sqrt(v) + epsilon), m, v
