"""conv2d_backward through jax.vjp of lax.conv_general_dilated: correct for real data, but for
complex data JAX's vjp is the plain transpose (no conjugation) where torch returns the conjugate.
Expected cause: conjugation."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from ._util import conv_padding, per_axis  # noqa: E402


def conv2d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    s, d = per_axis(stride, 2), per_axis(dilation, 2)
    pads = conv_padding(padding, weight.shape, dilation, 2)

    def f(x, w):
        return lax.conv_general_dilated(
            x,
            w,
            s,
            pads,
            rhs_dilation=d,
            feature_group_count=groups,
            precision=lax.Precision.HIGHEST,
        )

    _, vjp = jax.vjp(f, jnp.asarray(input), jnp.asarray(weight))
    gi, gw = vjp(jnp.asarray(grad_output))
    gb = None if bias is None else np.asarray(grad_output).sum(axis=(0, 2, 3))
    return np.asarray(gi), np.asarray(gw), gb
