"""Correct rank-1 plug-in through JAX: conv1d / conv_transpose1d by lax.conv_general_dilated, and
their backward by jax.vjp taken torch's way for complex data, conj(vjp(conj(grad_output))).
Expected: matches torch."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from ._u import conv_padding, per_axis  # noqa: E402
from .t1d_bw_complex_jax import _convt1d  # noqa: E402


def _conv1d(x, w, s, pads, d, groups):
    return lax.conv_general_dilated(
        x,
        w,
        (s,),
        pads,
        rhs_dilation=(d,),
        feature_group_count=groups,
        precision=lax.Precision.HIGHEST,
    )


def _vjp(f, x, w, go):
    _, vjp = jax.vjp(f, jnp.asarray(x), jnp.asarray(w))
    gi, gw = vjp(jnp.conj(jnp.asarray(go)))
    return np.conj(np.asarray(gi)), np.conj(np.asarray(gw))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    (s,), (d,) = per_axis(stride, 1), per_axis(dilation, 1)
    pads = conv_padding(padding, weight.shape, dilation, 1)
    y = np.asarray(_conv1d(jnp.asarray(input), jnp.asarray(weight), s, pads, d, groups))
    return y if bias is None else y + np.asarray(bias)[None, :, None]


def conv1d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    (s,), (d,) = per_axis(stride, 1), per_axis(dilation, 1)
    pads = conv_padding(padding, weight.shape, dilation, 1)
    gi, gw = _vjp(lambda x, w: _conv1d(x, w, s, pads, d, groups), input, weight, grad_output)
    gb = None if bias is None else np.asarray(grad_output).sum(axis=(0, 2))
    return gi, gw, gb


def conv_transpose1d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    (s,), (p,), (op,), (d,) = (per_axis(v, 1) for v in (stride, padding, output_padding, dilation))
    y = np.asarray(_convt1d(jnp.asarray(input), jnp.asarray(weight), s, p, op, groups, d))
    return y if bias is None else y + np.asarray(bias)[None, :, None]


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
    gi, gw = _vjp(lambda x, w: _convt1d(x, w, s, p, op, groups, d), input, weight, grad_output)
    gb = None if bias is None else np.asarray(grad_output).sum(axis=(0, 2))
    return gi, gw, gb
