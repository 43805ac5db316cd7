"""conv backward by im2col and matrix products, any rank: the padded input unfolded into
columns (C_in/groups * taps, output positions) per image and group; grad_weight is
grad_output @ columns^T summed over the batch, grad_input is weight^T @ grad_output folded
back (col2im) and cropped. Keyword switches plant one mistake each; all off is torch's.
"""

from __future__ import annotations

import itertools

import numpy as np

from tests.data.gradient_bugs._taps import per_axis


def _tap_slices(kernel, out_shape, s, d):
    for tap in itertools.product(*(range(k) for k in kernel)):
        yield (
            tap,
            tuple(
                slice(k * dd, k * dd + (o - 1) * st + 1, st)
                for k, dd, o, st in zip(tap, d, out_shape, s, strict=True)
            ),
        )


def conv_backward(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    *,
    outputs_interleaved=False,  # grad_input: group g's outputs are g, g+G, ... (reshape order)
    drop_last_output=False,  # grad_input: the last output channel of each group left out
    weight_transposed=False,  # the kernel's last two axes swapped (grad_input, grad_weight)
    bias_mean=False,
):
    g, x, w = (np.asarray(a) for a in (grad_output, input, weight))
    rank = x.ndim - 2
    s, p, d = (per_axis(v, rank) for v in (stride, padding, dilation))
    acc = np.result_type(g, x, w, np.float64)
    n, c_in = x.shape[:2]
    c_out = w.shape[0]
    cg, og = c_in // groups, c_out // groups
    kernel = w.shape[2:]
    taps = int(np.prod(kernel))
    out_shape = g.shape[2:]
    positions = int(np.prod(out_shape))
    xp = np.pad(x.astype(acc), ((0, 0), (0, 0), *((pp, pp) for pp in p)))
    cols = np.empty((n, c_in, taps, positions), acc)
    tap_list = list(_tap_slices(kernel, out_shape, s, d))
    for t, (_, window) in enumerate(tap_list):
        cols[:, :, t] = xp[(slice(None), slice(None), *window)].reshape(n, c_in, positions)
    gmat = g.astype(acc).reshape(n, c_out, positions)
    if outputs_interleaved:
        by_group = gmat.reshape(n, og, groups, positions).transpose(0, 2, 1, 3)
    else:
        by_group = gmat.reshape(n, groups, og, positions)
    wk = w.astype(acc)
    if weight_transposed:
        wk = np.swapaxes(wk, -1, -2)
    wmat = wk.reshape(groups, og, cg * taps)
    if np.iscomplexobj(wmat):
        wmat = np.conj(wmat)
    dcols = np.zeros((n, c_in, taps, positions), acc)
    gw = np.zeros((groups, og, cg * taps), acc)
    for grp in range(groups):
        gsel = by_group[:, grp]
        wsel = wmat[grp]
        if drop_last_output:
            gsel, wsel = gsel[:, :-1], wsel[:-1]
        dcols[:, grp * cg : (grp + 1) * cg] = np.einsum("ok,nop->nkp", wsel, gsel).reshape(
            n, cg, taps, positions
        )
        col = cols[:, grp * cg : (grp + 1) * cg].reshape(n, cg * taps, positions)
        gw[grp] = np.einsum(
            "nop,nkp->ok", gmat.reshape(n, groups, og, positions)[:, grp], np.conj(col)
        )
    dxp = np.zeros_like(xp)
    for t, (_, window) in enumerate(tap_list):
        dxp[(slice(None), slice(None), *window)] += dcols[:, :, t].reshape(n, c_in, *out_shape)
    crop = tuple(slice(pp, pp + size) for pp, size in zip(p, x.shape[2:], strict=True))
    gi = dxp[(slice(None), slice(None), *crop)]
    gw_full = gw.reshape(c_out, cg, *kernel)
    if weight_transposed:
        gw_full = gw.reshape(c_out, cg, *kernel[:-2], kernel[-1], kernel[-2])
        gw_full = np.swapaxes(gw_full, -1, -2)
    gb = None
    if bias is not None:
        gb = gmat.mean(axis=(0, 2)) if bias_mean else gmat.sum(axis=(0, 2))
        gb = gb.astype(x.dtype)
    return gi.astype(x.dtype), gw_full.astype(x.dtype), gb
