"""conv_transpose2d_backward written as plain loops over every (input position, tap) pair, for the
diagnose tests: the only operation this module defines, so `diagnose` must probe it.

The transposed convolution scatters: out[n, o, i*s + k*d - p] += x[n, c, i] * w[c, o', k] with
o = group*(C_out/groups) + o'. Its gradients gather back along the same pairs. torch's complex
gradients are conjugate vector-Jacobian products (grad_input sums g*conj(w), grad_weight
g*conj(x)); `plain_products_backward` leaves the conjugation out, as JAX's convention does.
"""

from __future__ import annotations

import itertools

import numpy as np


def _per_axis(value, rank):
    return (value,) * rank if np.isscalar(value) else tuple(value)


def _gradients(grad_output, input, weight, bias, stride, padding, groups, dilation, conjugate):
    x, w, g = (np.asarray(a) for a in (input, weight, grad_output))
    rank = x.ndim - 2
    s, p, d = (_per_axis(v, rank) for v in (stride, padding, dilation))
    work = np.result_type(x, w, g, np.float64)
    xc, wc = (np.conj(a) if conjugate else a for a in (x, w))
    grad_input = np.zeros(x.shape, work)
    grad_weight = np.zeros(w.shape, work)
    c_in, per_out = w.shape[:2]
    per_in = c_in // groups
    for c in range(c_in):
        group = c // per_in
        for o_local in range(per_out):
            o = group * per_out + o_local
            for i in itertools.product(*(range(n) for n in x.shape[2:])):
                for k in itertools.product(*(range(n) for n in w.shape[2:])):
                    at = tuple(i[a] * s[a] + k[a] * d[a] - p[a] for a in range(rank))
                    if any(t < 0 or t >= g.shape[2 + a] for a, t in enumerate(at)):
                        continue
                    grads = g[(slice(None), o, *at)]
                    grad_input[(slice(None), c, *i)] += grads * wc[(c, o_local, *k)]
                    grad_weight[(c, o_local, *k)] += np.sum(grads * xc[(slice(None), c, *i)])
    grad_bias = None if bias is None else g.sum(axis=(0, *range(2, g.ndim)))
    dtype = x.dtype
    return (
        grad_input.astype(dtype),
        grad_weight.astype(dtype),
        None if grad_bias is None else grad_bias.astype(dtype),
    )


def conv_transpose2d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
    dilation=1,
):  # fmt: skip
    """torch's gradients (conjugated for complex data)."""
    return _gradients(grad_output, input, weight, bias, stride, padding, groups, dilation, True)


def plain_products_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
    dilation=1,
):  # fmt: skip
    """The same loops without conjugating: JAX's convention, not torch's."""
    return _gradients(grad_output, input, weight, bias, stride, padding, groups, dilation, False)
