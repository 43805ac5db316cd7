"""The reference as literal loops, for small cases of any spatial rank: it pins the vectorised
harness.computations.reference.conv (tests compare the two), sharing only its padding and argument
rules."""

from __future__ import annotations

import itertools

import numpy as np

from harness.computations.reference import (
    as_tuple,
    check_arguments,
    output_size,
    padding_amounts,
    source_index,
)


def conv_loop(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"
):
    """The formula as literal loops (images, output channels, output positions, input channels,
    kernel taps; a position or a tap is one index per spatial axis), in float64 (complex128 for
    complex inputs, no conjugation), for input (N, C_in, *S) of 1 to 3 spatial axes. Only for
    small cases."""
    work = np.complex128 if np.iscomplexobj(input) or np.iscomplexobj(weight) else np.float64
    x = np.asarray(input, dtype=work)
    w = np.asarray(weight, dtype=work)
    b = None if bias is None else np.asarray(bias, dtype=work)
    check_arguments(x, w, b, groups)
    rank = x.ndim - 2
    strides = as_tuple(stride, rank, "stride")
    dilations = as_tuple(dilation, rank, "dilation")
    kernel = w.shape[2:]
    pads = padding_amounts(padding, kernel, dilations)
    outs = tuple(
        output_size(size, pads[2 * a], pads[2 * a + 1], k, s, d)
        for a, (size, k, s, d) in enumerate(
            zip(x.shape[2:], kernel, strides, dilations, strict=True)
        )
    )
    out = np.zeros((x.shape[0], w.shape[0], *outs), dtype=work)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf inputs are legitimate
        _loop(x, w, b, out, strides, dilations, pads[0::2], w.shape[0] // groups, padding_mode)
    return out


conv2d_loop = conv_loop


def _loop(x, w, b, out, strides, dilations, befores, og, padding_mode):
    n_batch, c_out, *outs = out.shape
    _, cg, *kernel = w.shape
    sizes = x.shape[2:]
    for n in range(n_batch):
        for o in range(c_out):
            g = o // og
            for position in itertools.product(*(range(m) for m in outs)):
                total = 0.0 if b is None else b[o]
                for c in range(cg):
                    for tap in itertools.product(*(range(k) for k in kernel)):
                        index = []
                        for i, t, s, d, before, size in zip(
                            position, tap, strides, dilations, befores, sizes, strict=True
                        ):
                            index.append(
                                int(source_index(i * s + t * d - before, size, padding_mode))
                            )
                        if min(index) >= 0:
                            read, tap_index = (n, g * cg + c, *index), (o, c, *tap)
                            total += x[read] * w[tap_index]
                written = (n, o, *position)
                out[written] = total
