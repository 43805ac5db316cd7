"""conv2d_backward computed by JAX (jax.vjp of jax.lax.conv_general_dilated), for the diagnose
tests: a real backward written in JAX's complex convention. JAX's vector-Jacobian product of a
holomorphic function multiplies plainly (grad_input sums g*w), where torch's conjugates
(g*conj(w)); on real data the two agree.
"""

from __future__ import annotations

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platforms", "cpu")


def _pairs(value, rank, name):
    if isinstance(value, str):
        return value.upper()
    values = (value,) * rank if np.isscalar(value) else tuple(value)
    return [(int(v), int(v)) for v in values] if name == "padding" else tuple(map(int, values))


def conv2d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    x, w, g = (np.asarray(a) for a in (input, weight, grad_output))
    dtype = x.dtype
    work = np.complex128 if np.iscomplexobj(x) else np.float64
    x, w, g = (a.astype(work) for a in (x, w, g))

    def forward(x, w):
        return jax.lax.conv_general_dilated(
            x, w, _pairs(stride, 2, "stride"), _pairs(padding, 2, "padding"),
            rhs_dilation=_pairs(dilation, 2, "dilation"), feature_group_count=groups,
        )  # fmt: skip

    _, pullback = jax.vjp(forward, x, w)
    grad_input, grad_weight = (np.asarray(a).astype(dtype) for a in pullback(g))
    grad_bias = None if bias is None else g.sum(axis=(0, 2, 3)).astype(dtype)
    return grad_input, grad_weight, grad_bias
