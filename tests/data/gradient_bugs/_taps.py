"""Explicit tap loops for conv and conv_transpose gradients, any rank, with one planted change.

Every quantity is a sum over pairs (small position i, kernel tap k) whose large position is
q = i*stride + k*dilation - padding: the small grid is a conv's output or a transposed conv's
input, the large grid a conv's input or a transposed conv's output. For each tap the code works
out, axis by axis, which i land inside the large grid and adds one strided slice product per
(channel pair, tap): no gather, no matrix product. `Planted` says what to get wrong (nothing by
default), so one loop body serves every correct and every buggy plug-in of this style.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np


def per_axis(value, rank: int) -> tuple[int, ...]:
    """One int per spatial axis; 'valid' is no padding, 'same' is not supported here."""
    if value == "valid":
        return (0,) * rank
    if isinstance(value, str):
        raise NotImplementedError(f"padding {value!r}: give the pads as numbers")
    if isinstance(value, (int, np.integer)):
        return (int(value),) * rank
    values = tuple(int(v) for v in value)
    if len(values) != rank:
        raise NotImplementedError(f"expected {rank} values per axis, got {values}")
    return values


@dataclass(frozen=True)
class Planted:
    """One deliberate mistake (every field at its default: none)."""

    group_of_big: str = "block"  # "interleaved": the large-side channel c belongs to group c % G
    interleave_small: bool = False  # small-side channels of group g are g, g+G, ... (not blocks)
    dilation_delta: dict = field(default_factory=dict)  # axis -> added to that axis's dilation
    dilation_ignored: bool = False
    stride_delta: dict = field(default_factory=dict)  # axis -> added to that axis's step
    offset: dict = field(default_factory=dict)  # axis -> added to q (a stride phase)
    padding_after: tuple = ()  # on these axes all the padding is taken after, none before
    output_padding_first: tuple = ()  # transposed: these axes' extra output_padding put first
    drop_last_channel: bool = False  # the summed channel axis misses its last member
    channel_mean: bool = False  # the summed channels averaged
    batch_mean: bool = False  # grad_weight averaged over the batch
    drop_last_image: bool = False  # grad_weight misses the batch's last image
    kernel_flip_axes: tuple = ()  # taps read mirrored along these spatial axes
    kernel_transposed: bool = False  # the last two kernel axes swapped (square kernels)
    no_conj: bool = False  # complex: the factor torch conjugates is read as given
    conj_kernel: bool = False  # complex forward: the kernel conjugated


def _geometry(rank, stride, padding, dilation, planted: Planted, output_padding=0):
    s = list(per_axis(stride, rank))
    p = per_axis(padding, rank)
    d = list(per_axis(dilation, rank))
    for axis, delta in planted.stride_delta.items():
        s[axis] += delta
    for axis, delta in planted.dilation_delta.items():
        d[axis] += delta
    if planted.dilation_ignored:
        d = [1] * rank
    op = per_axis(output_padding, rank)
    off = [planted.offset.get(axis, 0) - p[axis] for axis in range(rank)]
    for axis in planted.padding_after:
        off[axis] += p[axis]
    for axis in planted.output_padding_first:
        off[axis] += op[axis]
    return s, d, off


def _window(small: int, big: int, s: int, start: int):
    """The i in [0, small) with 0 <= i*s + start < big, as (i slice, q slice)."""
    lo = -(start // s) if start < 0 else 0  # ceil(-start / s)
    hi = min(small, (big - 1 - start) // s + 1) if big - 1 - start >= 0 else 0
    if hi <= lo:
        return None
    return slice(lo, hi), slice(lo * s + start, (hi - 1) * s + start + 1, s)


def _tap_windows(kernel, small_shape, big_shape, s, d, off):
    for tap in itertools.product(*(range(k) for k in kernel)):
        windows = []
        for axis, k in enumerate(tap):
            w = _window(small_shape[axis], big_shape[axis], s[axis], k * d[axis] + off[axis])
            if w is None:
                break
            windows.append(w)
        else:
            yield tap, tuple(w[0] for w in windows), tuple(w[1] for w in windows)


def _read_tap(tap, kernel, planted: Planted):
    read = list(tap)
    for axis in planted.kernel_flip_axes:
        read[axis] = kernel[axis] - 1 - read[axis]
    if planted.kernel_transposed:
        read[-2], read[-1] = read[-1], read[-2]
    return tuple(read)


def _connections(big_channels, small_channels, groups, planted: Planted):
    """(big channel, small channel, index of the big one in its group, of the small one)."""
    per_big, per_small = big_channels // groups, small_channels // groups
    pairs = []
    for b in range(big_channels):
        g = b % groups if planted.group_of_big == "interleaved" else b // per_big
        members = list(range(per_small))
        if planted.drop_last_channel:
            members = members[:-1]
        for j in members:
            small = j * groups + g if planted.interleave_small else g * per_small + j
            pairs.append((b, small, b % per_big, j))
    return pairs


def _conj(a, yes: bool):
    return np.conj(a) if yes and np.iscomplexobj(a) else a


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
    planted_gi: Planted | None = None,
    planted_gw: Planted | None = None,
    bias_mean: bool = False,
):
    """(grad_input, grad_weight, grad_bias) of F.convNd, each by its own tap loop."""
    g, x, w = (np.asarray(a) for a in (grad_output, input, weight))
    rank = x.ndim - 2
    acc = np.result_type(g, x, w, np.float64)
    g64, x64, w64 = g.astype(acc), x.astype(acc), w.astype(acc)
    kernel = w.shape[2:]

    pl = planted_gi or Planted()
    s, d, off = _geometry(rank, stride, padding, dilation, pl)
    gi = np.zeros(x.shape, acc)
    pairs = _connections(x.shape[1], w.shape[0], groups, pl)
    for tap, small, big in _tap_windows(kernel, g.shape[2:], x.shape[2:], s, d, off):
        read = _read_tap(tap, kernel, pl)
        for c, o, ci, _ in pairs:
            factor = _conj(w64[(o, ci, *read)], not pl.no_conj)
            gi[(slice(None), c, *big)] += g64[(slice(None), o, *small)] * factor
    if pl.channel_mean:
        gi /= w.shape[0] // groups

    pl = planted_gw or Planted()
    s, d, off = _geometry(rank, stride, padding, dilation, pl)
    gw = np.zeros(w.shape, acc)
    pairs = _connections(w.shape[0], x.shape[1], groups, pl)
    images = x.shape[0] - 1 if pl.drop_last_image else x.shape[0]
    for tap, small, big in _tap_windows(kernel, g.shape[2:], x.shape[2:], s, d, off):
        write = _read_tap(tap, kernel, pl)
        for o, c, _, ci in pairs:
            xs = _conj(x64[(slice(0, images), c, *big)], not pl.no_conj)
            gw[(o, ci, *write)] += np.sum(g64[(slice(0, images), o, *small)] * xs)
    if pl.batch_mean:
        gw /= x.shape[0]

    gb = None
    if bias is not None:
        gb = g64.sum(axis=(0, *range(2, g.ndim)))
        if bias_mean:
            gb = g64.mean(axis=(0, *range(2, g.ndim)))
        gb = gb.astype(x.dtype)
    return gi.astype(x.dtype), gw.astype(x.dtype), gb


def transposed_size(size, k, s, p, d, op):
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def conv_transpose(
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    *,
    planted: Planted | None = None,
    output_padding_ignored: bool = False,
    bias_missing: bool = False,
):
    """F.conv_transposeNd as a scatter of every (input position, tap) product."""
    x, w = np.asarray(input), np.asarray(weight)
    rank = x.ndim - 2
    pl = planted or Planted()
    acc = np.result_type(x, w, np.float64)
    x64, w64 = x.astype(acc), w.astype(acc)
    kernel = w.shape[2:]
    p0 = per_axis(padding, rank)
    op = (0,) * rank if output_padding_ignored else per_axis(output_padding, rank)
    s, d, off = _geometry(rank, stride, padding, dilation, pl, output_padding)
    shape = [
        transposed_size(x.shape[2 + a], kernel[a], s[a], p0[a], d[a], op[a]) for a in range(rank)
    ]
    out_channels = w.shape[1] * groups
    y = np.zeros((x.shape[0], out_channels, *shape), acc)
    pairs = _connections(x.shape[1], out_channels, groups, pl)
    for tap, small, big in _tap_windows(kernel, x.shape[2:], shape, s, d, off):
        read = _read_tap(tap, kernel, pl)
        for c, o, _, oi in pairs:
            factor = _conj(w64[(c, oi, *read)], pl.conj_kernel)
            y[(slice(None), o, *big)] += x64[(slice(None), c, *small)] * factor
    if pl.channel_mean:
        y /= x.shape[1] // groups
    if bias is not None and not bias_missing:
        y += np.asarray(bias).astype(acc).reshape(1, -1, *([1] * rank))
    return y.astype(x.dtype)


def conv_transpose_backward(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    *,
    planted_gi: Planted | None = None,
    planted_gw: Planted | None = None,
    bias_mean: bool = False,
):
    """(grad_input, grad_weight, grad_bias) of F.conv_transposeNd by tap loops: grad_input
    gathers grad_output at every tap (a forward convolution), grad_weight correlates them."""
    g, x, w = (np.asarray(a) for a in (grad_output, input, weight))
    rank = x.ndim - 2
    acc = np.result_type(g, x, w, np.float64)
    g64, x64, w64 = g.astype(acc), x.astype(acc), w.astype(acc)
    kernel = w.shape[2:]
    out_channels = g.shape[1]

    pl = planted_gi or Planted()
    s, d, off = _geometry(rank, stride, padding, dilation, pl, output_padding)
    gi = np.zeros(x.shape, acc)
    pairs = _connections(x.shape[1], out_channels, groups, pl)
    for tap, small, big in _tap_windows(kernel, x.shape[2:], g.shape[2:], s, d, off):
        read = _read_tap(tap, kernel, pl)
        for c, o, _, oi in pairs:
            factor = _conj(w64[(c, oi, *read)], not pl.no_conj)
            gi[(slice(None), c, *small)] += g64[(slice(None), o, *big)] * factor
    if pl.channel_mean:
        gi /= out_channels // groups

    pl = planted_gw or Planted()
    s, d, off = _geometry(rank, stride, padding, dilation, pl, output_padding)
    gw = np.zeros(w.shape, acc)
    pairs = _connections(x.shape[1], out_channels, groups, pl)
    images = x.shape[0] - 1 if pl.drop_last_image else x.shape[0]
    for tap, small, big in _tap_windows(kernel, x.shape[2:], g.shape[2:], s, d, off):
        write = _read_tap(tap, kernel, pl)
        for c, o, _, oi in pairs:
            xs = _conj(x64[(slice(0, images), c, *small)], not pl.no_conj)
            gw[(c, oi, *write)] += np.sum(g64[(slice(0, images), o, *big)] * xs)
    if pl.batch_mean:
        gw /= x.shape[0]

    gb = None
    if bias is not None:
        axes = (0, *range(2, g.ndim))
        gb = (g64.mean(axis=axes) if bias_mean else g64.sum(axis=axes)).astype(x.dtype)
    return gi.astype(x.dtype), gw.astype(x.dtype), gb
