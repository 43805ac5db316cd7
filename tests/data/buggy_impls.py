"""Wrong conv2d implementations, each correct except for the one bug its name says.

Used by the tests as implementations the harness has never seen. All are built on one shared
correct core (_reference: im2col + matmul in float64, per group), so any difference from
F.conv2d comes from the named bug alone. Unless a function's bug says otherwise it validates its
arguments like F.conv2d and returns the input's dtype.
"""

import numpy as np

try:  # imported as part of a package
    from . import _conv_args as ca
except ImportError:  # loaded from its file path, as the harness does with "file.py:function"
    import importlib.util
    import pathlib

    _spec = importlib.util.spec_from_file_location(
        "_conv_args", pathlib.Path(__file__).with_name("_conv_args.py")
    )
    ca = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(ca)


def _reference(conv, bias_scale=1.0, skip_channel=None):
    """Correct conv in float64 (no cast back); optionally scale the bias or zero one channel."""
    n, g, (ho, wo) = conv.x.shape[0], conv.groups, conv.out_hw
    w = conv.w.astype(np.float64)
    if skip_channel is not None:
        w = w.copy()
        w[:, skip_channel] = 0.0  # that channel of every group contributes nothing
    f = ca.fields(conv).astype(np.float64)  # (N, C, Ho, Wo, kH, kW)
    f = f.reshape(n, g, -1, *f.shape[2:]).transpose(0, 1, 3, 4, 2, 5, 6)
    cols = f.reshape(n, g, ho * wo, -1)  # (N, G, L, K), K ordered (c, u, v)
    wg = w.reshape(g, -1, w[0].size)  # (G, Og, K)
    out = (cols @ wg.transpose(0, 2, 1)).transpose(0, 1, 3, 2).reshape(n, -1, ho, wo)
    if conv.b is not None:
        out = out + bias_scale * conv.b.astype(np.float64)[:, None, None]
    return out


def _correct(input, weight, bias, stride, padding, dilation, groups):
    """The correct output in float64 and the input dtype to return."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    return _reference(conv), conv.x.dtype


def bias_twice(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Correct conv, but the bias is added twice."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    return _reference(conv, bias_scale=2.0).astype(conv.x.dtype)


def bias_scaled_half(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Correct conv, but only 0.5 * bias is added."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    return _reference(conv, bias_scale=0.5).astype(conv.x.dtype)


def drop_last_channel(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Correct conv, but the last input channel of each group (C_in/groups - 1) is ignored."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    return _reference(conv, skip_channel=conv.w.shape[1] - 1).astype(conv.x.dtype)


def rounded_output(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The correct output rounded to integers with np.round."""
    out, dtype = _correct(input, weight, bias, stride, padding, dilation, groups)
    return np.round(out).astype(dtype)


def zeros_output(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """An all-zero array of the correct shape and dtype."""
    out, dtype = _correct(input, weight, bias, stride, padding, dilation, groups)
    return np.zeros(out.shape, dtype=dtype)


def halved_output(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The correct output times 0.5 (bias included)."""
    out, dtype = _correct(input, weight, bias, stride, padding, dilation, groups)
    return (0.5 * out).astype(dtype)


def returns_list(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The correct output as a nested Python list (ndarray.tolist()), not an array."""
    out, dtype = _correct(input, weight, bias, stride, padding, dilation, groups)
    return out.astype(dtype).tolist()


def float32_for_float64(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The correct values, always returned as float32 whatever the input dtype."""
    out, _ = _correct(input, weight, bias, stride, padding, dilation, groups)
    return out.astype(np.float32)


def no_validation(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Correct on valid arguments; invalid ones are forced to fit instead of raising.

    Input channels are truncated (or zero-filled) to groups * weight.shape[1], output channels
    truncated to a multiple of groups, the bias cut or zero-filled to C_out, and an input smaller
    than the dilated kernel zero-padded at the bottom/right until one output position fits.
    """
    x, w = np.asarray(input), np.asarray(weight)
    g = max(1, int(groups))
    cin = g * w.shape[1]
    x = np.pad(x[:, :cin], ((0, 0), (0, max(0, cin - x.shape[1])), (0, 0), (0, 0)))
    cout = max(g, w.shape[0] - w.shape[0] % g)
    w = np.pad(w[:cout], ((0, max(0, cout - w.shape[0])), (0, 0), (0, 0), (0, 0)))
    b = None
    if bias is not None:
        b = np.resize(np.asarray(bias, dtype=x.dtype).ravel(), cout)
        b[len(np.ravel(bias)) :] = 0
    stride, dilation = ca.to_pair(stride, "stride"), ca.to_pair(dilation, "dilation")
    top, bottom, left, right = ca.pad_sides(padding, w.shape[2:], dilation, (1, 1))
    grow = [
        max(0, d * (k - 1) + 1 - (size + lo + hi))
        for size, k, d, lo, hi in zip(
            x.shape[2:], w.shape[2:], dilation, (top, left), (bottom, right), strict=True
        )
    ]
    x = np.pad(x, ((0, 0), (0, 0), (0, grow[0]), (0, grow[1])))
    conv = ca.prepare(x, w, b, stride, padding, dilation, g, check=False)
    return _reference(conv).astype(x.dtype)
