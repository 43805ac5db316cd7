"""conv_transpose1d_backward via jax.vjp of jax.lax.conv_transpose-style dilated conv: correct
for real data, but JAX's vjp is the plain transpose (no conjugation) where torch conjugates.
Expected cause: conjugation."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from ._u import per_axis  # noqa: E402


def _convt1d(x, w, s, p, op, groups, d):
    # torch conv_transpose1d as a dilated-input conv1d with the flipped, swapped weight
    cin, cog, K = w.shape
    wg = w.reshape(groups, cin // groups, cog, K).transpose(0, 2, 1, 3)
    wg = wg.reshape(groups * cog, cin // groups, K)[:, :, ::-1]
    lo = d * (K - 1) - p
    return lax.conv_general_dilated(
        x,
        wg,
        (1,),
        [(lo, lo + op)],
        lhs_dilation=(s,),
        rhs_dilation=(d,),
        feature_group_count=groups,
        precision=lax.Precision.HIGHEST,
    )


def conv_transpose1d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    (s,), (p,), (op,), (d,) = (per_axis(v, 1) for v in (stride, padding, output_padding, dilation))
    y = np.asarray(_convt1d(jnp.asarray(input), jnp.asarray(weight), s, p, op, groups, d))
    if bias is not None:
        y = y + np.asarray(bias)[None, :, None]
    return y


def conv_transpose1d_backward(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
):
    (s,), (p,), (op,), (d,) = (per_axis(v, 1) for v in (stride, padding, output_padding, dilation))
    _, vjp = jax.vjp(
        lambda x, w: _convt1d(x, w, s, p, op, groups, d), jnp.asarray(input), jnp.asarray(weight)
    )
    gi, gw = vjp(jnp.asarray(grad_output))
    gb = None if bias is None else np.asarray(grad_output).sum(axis=(0, 2))
    return np.asarray(gi), np.asarray(gw), gb
