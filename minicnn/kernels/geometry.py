"""Window geometry shared by convolution and pooling: output sizes and padding.

Output length along one axis (the usual convention, Keras's), all integers:
    H_out = (H + pad_total - K) // stride + 1
'valid' adds no padding. 'same' gives H_out = ceil(H / stride) and, as Keras/TensorFlow,
puts the odd extra padding row (column) at the bottom (right).
"""
import numpy as np


def pad_amounts(size, window, stride, padding):
    """Padding ``(before, after)`` along one axis of length ``size``.

    'same' pads ``max((ceil(size/stride) - 1) * stride + window - size, 0)`` in total, the
    smaller half before, the larger after (Keras's placement).
    """
    if padding == "valid":
        return 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def output_length(size, window, stride, padding):
    """Output length along one axis: ``(size + pad_total - window) // stride + 1``.

    Raises ValueError when the window is larger than the (padded) input.
    """
    before, after = pad_amounts(size, window, stride, padding)
    padded = size + before + after
    if window > padded:
        raise ValueError(
            f"window of size {window} is larger than the {padding!r}-padded input of "
            f"size {padded} (input {size})")
    return (padded - window) // stride + 1


def window_plan(shape, window, strides, padding):
    """Padding and output size for a (N, H, W, C) input under a (KH, KW) window.

    Returns ``(pads, out_hw)`` with ``pads = ((top, bottom), (left, right))`` and
    ``out_hw = (H_out, W_out)``.
    """
    (_, h, w, _), (kh, kw), (sh, sw) = shape, window, strides
    pads = (pad_amounts(h, kh, sh, padding), pad_amounts(w, kw, sw, padding))
    out = (output_length(h, kh, sh, padding), output_length(w, kw, sw, padding))
    return pads, out


def pad_hw(x, pads, value=0.0):
    """Pad the H and W axes of a (N, H, W, C) array; returns ``x`` itself when no padding."""
    if pads == ((0, 0), (0, 0)):
        return x
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)


def crop_hw(xp, pads):
    """Undo :func:`pad_hw`: the (N, H, W, C) interior of a padded array."""
    (top, bottom), (left, right) = pads
    return xp[:, top:xp.shape[1] - bottom, left:xp.shape[2] - right, :]


def shifted_view(xp, a, e, sh, sw, ho, wo):
    """The (N, H_out, W_out, C) view of padded ``xp`` that window offset (a, e) covers."""
    return xp[:, a:a + sh * (ho - 1) + 1:sh, e:e + sw * (wo - 1) + 1:sw, :]
