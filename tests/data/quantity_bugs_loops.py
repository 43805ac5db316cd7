"""Backward and transposed convolutions written as plain Python loops over every output position,
channel and tap (any rank), each function with one planted bug, for the tests of the quantity
families. Names say the bug and end in the operation (`<bug>_conv2d_backward`,
`<bug>_conv_transpose3d`, ...); `correct_*` ones have none.
"""

from __future__ import annotations

import itertools

import numpy as np


def _tuple(v, r):
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v),) * r


def _positions(shape):
    return itertools.product(*(range(s) for s in shape))


def _conv_backward(g, x, w, b, stride, padding, dilation, groups, bug=""):
    """torch's conv backward by loops, or with `bug` planted."""
    x, w, g = np.asarray(x), np.asarray(w), np.asarray(g)
    r = x.ndim - 2
    s, d, p = _tuple(stride, r), _tuple(dilation, r), _tuple(padding, r)
    last = r - 1  # the axis one-axis bugs touch
    xp = np.pad(x, [(0, 0), (0, 0), *((q, q) for q in p)])
    n, c_out = g.shape[:2]
    cg, kernel = w.shape[1], w.shape[2:]
    og = c_out // groups
    gi = np.zeros(xp.shape, dtype=np.result_type(x, w, g))
    gw = np.zeros(w.shape, dtype=gi.dtype)
    for ni, o, i in itertools.product(range(n), range(c_out), _positions(g.shape[2:])):
        if bug == "gi_drop_channel" and o % og == og - 1:
            skip_gi = True
        else:
            skip_gi = False
        group = o // og
        wgroup = o % groups if bug == "gw_groups" else group
        for c, t in itertools.product(range(cg), _positions(kernel)):
            pos = [i[a] * s[a] + t[a] * d[a] for a in range(r)]
            gi_pos = list(pos)
            if bug == "gi_dilation":
                gi_pos[last] = i[last] * s[last] + t[last]
            if bug == "gi_phase":
                gi_pos[last] += 1
            tap = list(t)
            if bug == "gi_no_flip":
                tap = [k - 1 - u for k, u in zip(kernel, t, strict=True)]
            kw = w[(o, c, *tap)]
            if bug != "gi_no_conj":
                kw = np.conj(kw)
            if not skip_gi and all(
                0 <= q < size for q, size in zip(gi_pos, xp.shape[2:], strict=True)
            ):
                gi[(ni, group * cg + c, *gi_pos)] += g[(ni, o, *i)] * kw
            w_pos = list(pos)
            if bug == "gw_dilation":
                w_pos[last] = i[last] * s[last] + t[last]
            if bug == "gw_batch0" and ni > 0:
                continue
            if all(0 <= q < size for q, size in zip(w_pos, xp.shape[2:], strict=True)):
                xv = xp[(ni, wgroup * cg + c, *w_pos)]
                gw_t = list(t)
                if bug == "gw_flip_one_axis":
                    gw_t[last] = kernel[last] - 1 - t[last]
                gw[(o, c, *gw_t)] += g[(ni, o, *i)] * (xv if bug == "gw_no_conj" else np.conj(xv))
    crop = tuple(slice(q, q + size) for q, size in zip(p, x.shape[2:], strict=True))
    if bug == "gi_padding_ignored":
        crop = tuple(slice(0, size) for size in x.shape[2:])
    grad_input = gi[(slice(None), slice(None), *crop)]
    axes = (0, *range(2, g.ndim))
    grad_bias = None
    if b is not None:
        grad_bias = g.mean(axis=axes) if bug == "gb_mean" else g.sum(axis=axes)
        if bug == "gb_first_image":
            grad_bias = g[:1].sum(axis=axes)
    dtype = x.dtype
    cast = None if grad_bias is None else grad_bias.astype(dtype)
    return grad_input.astype(dtype), gw.astype(dtype), cast


def _conv_transpose(x, w, b, stride, padding, output_padding, groups, dilation, bug=""):
    """F.conv_transposeNd by loops: out[n, g*og + o, i*s + t*d - p] += x[n, c, i] * w[c, o, t]."""
    x, w = np.asarray(x), np.asarray(w)
    r = x.ndim - 2
    s, p, op, d = (_tuple(v, r) for v in (stride, padding, output_padding, dilation))
    last = r - 1
    if bug == "dilation_ignored":
        d = (*d[:last], 1)
    if bug == "output_padding_ignored":
        op = (0,) * r
    n, c_in = x.shape[:2]
    og, kernel = w.shape[1], w.shape[2:]
    cgi = c_in // groups
    size = [
        (x.shape[2 + a] - 1) * s[a] - 2 * p[a] + d[a] * (kernel[a] - 1) + op[a] + 1
        for a in range(r)
    ]
    out = np.zeros((n, og * groups, *size), dtype=np.result_type(x, w))
    shift = [0] * r
    if bug == "output_padding_before":
        shift = list(op)
    for ni, c, i in itertools.product(range(n), range(c_in), _positions(x.shape[2:])):
        group = c // cgi
        if bug == "groups_interleaved":
            group = c % groups
        if bug == "drop_channel" and c % cgi == cgi - 1:
            continue
        for o, t in itertools.product(range(og), _positions(kernel)):
            q = [i[a] * s[a] + t[a] * d[a] - p[a] + shift[a] for a in range(r)]
            if bug == "phase":
                q[last] += 1
            tap = list(t)
            if bug == "flip_one_axis":
                tap[last] = kernel[last] - 1 - t[last]
            if all(0 <= q[a] < size[a] for a in range(r)):
                wv = w[(c, o, *tap)]
                if bug == "conj_weight":
                    wv = np.conj(wv)
                out[(ni, group * og + o, *q)] += x[(ni, c, *i)] * wv
    if bug == "output_padding_zeros":
        for a in range(r):
            if op[a]:
                index = [slice(None)] * out.ndim
                index[2 + a] = slice(size[a] - op[a], None)
                out[tuple(index)] = 0
    if b is not None and bug != "bias_missing":
        out += np.asarray(b).reshape(1, -1, *(1,) * r)
    return out.astype(x.dtype)


def _conv_transpose_backward(g, x, w, b, stride, padding, output_padding, groups, dilation, bug=""):
    """The gradients of F.conv_transposeNd by loops."""
    x, w, g = np.asarray(x), np.asarray(w), np.asarray(g)
    r = x.ndim - 2
    s, p, d = (_tuple(v, r) for v in (stride, padding, dilation))
    last = r - 1
    n, c_in = x.shape[:2]
    og, kernel = w.shape[1], w.shape[2:]
    cgi = c_in // groups
    gi = np.zeros(x.shape, dtype=np.result_type(x, w, g))
    gw = np.zeros(w.shape, dtype=gi.dtype)
    for ni, c, i in itertools.product(range(n), range(c_in), _positions(x.shape[2:])):
        group = c // cgi
        wgroup = c % groups if bug == "gw_groups" else group
        for o, t in itertools.product(range(og), _positions(kernel)):
            q = [i[a] * s[a] + t[a] * d[a] - p[a] for a in range(r)]
            qi = list(q)
            if bug == "gi_dilation":
                qi[last] = i[last] * s[last] + t[last] - p[last]
            if all(0 <= qi[a] < g.shape[2 + a] for a in range(r)):
                wv = w[(c, o, *t)] if bug == "gi_no_conj" else np.conj(w[(c, o, *t)])
                gi[(ni, c, *i)] += g[(ni, group * og + o, *qi)] * wv
            if all(0 <= q[a] < g.shape[2 + a] for a in range(r)):
                gw[(c, o, *t)] += np.conj(x[(ni, c, *i)]) * g[(ni, wgroup * og + o, *q)]
    grad_bias = None if b is None else g.sum(axis=(0, *range(2, g.ndim))).astype(x.dtype)
    return gi.astype(x.dtype), gw.astype(x.dtype), grad_bias


def _backward(bug):
    def f(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        return _conv_backward(
            grad_output, input, weight, bias, stride, padding, dilation, groups, bug
        )

    return f


def _transposed(bug):
    def f(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        return _conv_transpose(
            input, weight, bias, stride, padding, output_padding, groups, dilation, bug
        )

    return f


def _transposed_backward(bug):
    def f(
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
        return _conv_transpose_backward(
            grad_output, input, weight, bias, stride, padding, output_padding, groups, dilation, bug
        )

    return f


BACKWARD_BUGS = (
    "correct",
    "gi_drop_channel",
    "gi_dilation",
    "gi_phase",
    "gi_no_flip",
    "gi_no_conj",
    "gi_padding_ignored",
    "gw_groups",
    "gw_dilation",
    "gw_batch0",
    "gw_flip_one_axis",
    "gw_no_conj",
    "gb_mean",
    "gb_first_image",
)
TRANSPOSED_BUGS = (
    "correct",
    "dilation_ignored",
    "output_padding_ignored",
    "output_padding_before",
    "output_padding_zeros",
    "groups_interleaved",
    "drop_channel",
    "phase",
    "flip_one_axis",
    "conj_weight",
    "bias_missing",
)
TRANSPOSED_BACKWARD_BUGS = ("correct", "gi_dilation", "gi_no_conj", "gw_groups")

for _rank in (1, 2, 3):
    for _bug in BACKWARD_BUGS:
        globals()[f"{_bug}_conv{_rank}d_backward"] = _backward("" if _bug == "correct" else _bug)
    for _bug in TRANSPOSED_BUGS:
        globals()[f"{_bug}_conv_transpose{_rank}d"] = _transposed("" if _bug == "correct" else _bug)
    for _bug in TRANSPOSED_BACKWARD_BUGS:
        globals()[f"tb_{_bug}_conv_transpose{_rank}d_backward"] = _transposed_backward(
            "" if _bug == "correct" else _bug
        )


def _memory_transposed(w):
    """The kernel's last two axes swapped, then read with its own shape (an im2col flattening
    the transposed kernel)."""
    return np.swapaxes(np.asarray(w), -1, -2).reshape(np.shape(w))


def memory_transposed_conv2d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    """grad_input from the kernel transposed in memory; grad_weight and grad_bias right."""
    right = _conv_backward(grad_output, input, weight, bias, stride, padding, dilation, groups)
    misread = _conv_backward(
        grad_output, input, _memory_transposed(weight), bias, stride, padding, dilation, groups
    )
    return misread[0], right[1], right[2]


def memory_transposed_conv_transpose3d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """The kernel transposed in memory (H and W of a non-square kernel)."""
    return _conv_transpose(
        input, _memory_transposed(weight), bias, stride, padding, output_padding, groups, dilation
    )
