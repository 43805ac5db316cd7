"""The reference as seven literal loops, for small cases: it pins the vectorised
harness.reference.conv2d (tests compare the two), sharing only its padding and argument rules."""

from __future__ import annotations

import numpy as np

from harness.reference import as_pair, check_arguments, output_size, padding_amounts, source_index


def conv2d_loop(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"
):
    """The formula as seven literal loops, in float64. Only for small cases."""
    x = np.asarray(input, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    b = None if bias is None else np.asarray(bias, dtype=np.float64)
    check_arguments(x, w, b, groups)
    (sh, sw), (dh, dw) = as_pair(stride, "stride"), as_pair(dilation, "dilation")
    n_batch, _c_in, h, wd = x.shape
    c_out, _cg, kh, kw = w.shape
    top, bottom, left, right = padding_amounts(padding, (kh, kw), (dh, dw))
    ho = output_size(h, top, bottom, kh, sh, dh)
    wo = output_size(wd, left, right, kw, sw, dw)
    og = c_out // groups
    out = np.zeros((n_batch, c_out, ho, wo))
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf inputs are legitimate
        _loop(x, w, b, out, (sh, sw), (dh, dw), (top, left), og, padding_mode)
    return out


def _loop(x, w, b, out, stride, dilation, pads, og, padding_mode):
    (sh, sw), (dh, dw), (top, left) = stride, dilation, pads
    n_batch, c_out, ho, wo = out.shape
    _, cg, kh, kw = w.shape
    h, wd = x.shape[2], x.shape[3]
    for n in range(n_batch):
        for o in range(c_out):
            g = o // og
            for i in range(ho):
                for j in range(wo):
                    total = 0.0 if b is None else float(b[o])
                    for c in range(cg):
                        for u in range(kh):
                            for v in range(kw):
                                r = int(source_index(i * sh + u * dh - top, h, padding_mode))
                                q = int(source_index(j * sw + v * dw - left, wd, padding_mode))
                                if r >= 0 and q >= 0:
                                    total += x[n, g * cg + c, r, q] * w[o, c, u, v]
                    out[n, o, i, j] = total
