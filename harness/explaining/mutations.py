"""Mutations: named, deliberate changes of convolution semantics, and what they explain.

A mutation is a change of one semantic of torch's conv1d/conv2d/conv3d (cross-correlation, depth
summation over the group's input channels, 'same' extra pad after, reflect without edge
repetition, outputs at i*s, taps d apart, output channel o reading group o // (C_out/groups),
bias added, the complex kernel taken as it is). Each has a cause from the vocabulary
(harness.cases.causes) and a predicate saying whether it is invisible for a case by the operator
alone (configuration and weights, not the input data).
The same mutations apply to every spatial rank, on every spatial axis at once: `flipped` flips
the kernel along all of them, `stride_phase` shifts every strided axis, `padding_swapped` reads
the per-axis pads in reverse axis order (F.pad's last-axis-first order: (pH, pW) as (pW, pH),
(pD, pH, pW) as (pW, pH, pD); nothing to swap in 1-D). Bugs on one axis only are named by the
families (harness.explaining.families), not by more variant rows: a report keeps one row per
mutation.

All mutations are expressed as fields of one `Semantics` value, so several can be combined: the
reference computes any combination (`mutated_output`). Each is one point of a family of
harness.explaining.families (which explains divergences); the named points power the variant rows of
the report and the registry's coverage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.cases.data import CaseArrays, is_complex
from harness.cases.loading import Case
from harness.computations import reference


@dataclass(frozen=True)
class Semantics:
    """Which convolution semantics to compute; the defaults are torch's."""

    flip: bool = False  # the kernel flipped along every spatial axis (rotated 180 degrees in 2-D)
    depth: str = "sum"  # sum | first | mean | closest (per output channel)
    same_extra_top_left: bool = False  # 'same' extra pad before (top/left) instead of after
    padding_swapped: bool = False  # per-axis pads in reverse axis order: (pH, pW) as (pW, pH)
    boundary_symmetric: bool = False  # reflect padding with the edge sample repeated
    stride_phase: int = 0  # outputs at i*s + phase instead of i*s (axes with s > 1)
    ignore_dilation: bool = False  # taps adjacent whatever the dilation
    groups_interleaved: bool = False  # output channel o reads group o % groups
    # the input channels each group reads: "blocks" (torch's g*Cg ... (g+1)*Cg - 1),
    # "interleaved" (g, g + groups, ...) or "reversed" (group o // (C_out/groups) reads the
    # block of group groups-1 - that)
    group_inputs: str = "blocks"
    bias: bool = True  # add the bias
    conjugate: bool = False  # the kernel conjugated (complex cases): sum of x * conj(w)
    # the spatial axes flip, same_extra_top_left, stride_phase and ignore_dilation act on (a family
    # member of one axis or a few: the kernel flipped along W only); None: every axis
    axes: tuple[int, ...] | None = None

    def on(self, axis: int) -> bool:
        return self.axes is None or axis in self.axes


@dataclass(frozen=True)
class Mutation:
    name: str
    cause: str
    semantics: Semantics
    doc: str
    invisible: Callable[[Case, CaseArrays], bool]
    # whether the case has a row for it at all (the conjugated kernel: complex cases only)
    applies: Callable[[Case], bool] = lambda case: True


def _zero_weight(arrays: CaseArrays) -> bool:
    """All-zero weights: the output is the bias, so no kernel-reading mutation can show."""
    return not np.any(arrays.weight64)


def _spatial(array: np.ndarray) -> tuple[int, ...]:
    return tuple(range(2, array.ndim))


def _flip_invisible(case: Case, arrays: CaseArrays) -> bool:
    w = arrays.weight64
    return bool(np.array_equal(w, np.flip(w, _spatial(w)), equal_nan=True))


def _single_channel_invisible(case: Case, arrays: CaseArrays) -> bool:
    """One input channel per output channel carries weight: picking it loses nothing."""
    w = arrays.weight64
    nonzero_slices = np.any(w != 0, axis=_spatial(w)).sum(axis=1)
    return case.weight_shape[1] == 1 or bool((nonzero_slices <= 1).all())


def _mean_invisible(case: Case, arrays: CaseArrays) -> bool:
    return case.weight_shape[1] == 1 or _zero_weight(arrays)


def _same_invisible(case: Case, arrays: CaseArrays) -> bool:
    odd = all(e % 2 == 1 for e in case.effective_kernel)
    return case.padding != "same" or odd or _zero_weight(arrays)


def swapped_pads(pads: tuple[int, ...]) -> tuple[int, ...]:
    """(before, after) per axis in reverse axis order: (t, b, l, r) -> (l, r, t, b)."""
    pairs = [pads[a : a + 2] for a in range(0, len(pads), 2)]
    return tuple(p for pair in reversed(pairs) for p in pair)


def _swap_invisible(case: Case, arrays: CaseArrays) -> bool:
    """Same first offsets on every axis (top == left in 2-D) and the same output shape once
    swapped (always in 1-D: nothing to swap)."""
    pads, swapped = case.pads, swapped_pads(case.pads)
    swapped_shape = tuple(
        (size + swapped[2 * a] + swapped[2 * a + 1] - e) // s + 1
        for a, (size, e, s) in enumerate(
            zip(case.input_shape[2:], case.effective_kernel, case.stride, strict=True)
        )
    )
    same_shape = swapped_shape == case.output_shape[2:] and min(swapped_shape) >= 1
    return (swapped[0::2] == pads[0::2] and same_shape) or (_zero_weight(arrays) and same_shape)


def _boundary_invisible(case: Case, arrays: CaseArrays) -> bool:
    # reflect and symmetric padding differ at every padded pixel (x1 vs x0 next to the edge)
    return case.padding_mode != "reflect" or not any(case.pads) or _zero_weight(arrays)


def _stride_invisible(case: Case, arrays: CaseArrays) -> bool:
    return all(s == 1 for s in case.stride) or _zero_weight(arrays)


def _dilation_invisible(case: Case, arrays: CaseArrays) -> bool:
    no_spacing = all(d == 1 or k == 1 for d, k in zip(case.dilation, case.kernel, strict=True))
    return no_spacing or (_zero_weight(arrays) and case.output_shape == _undilated_shape(case))


def _undilated_shape(case: Case) -> tuple[int, ...]:
    kernel = case.kernel
    pads = reference.padding_amounts(case.padding, kernel, (1,) * case.rank)
    sizes = tuple(
        (size + pads[2 * a] + pads[2 * a + 1] - k) // s + 1
        for a, (size, k, s) in enumerate(
            zip(case.input_shape[2:], kernel, case.stride, strict=True)
        )
    )
    return (case.input_shape[0], case.weight_shape[0], *sizes)


def _groups_invisible(case: Case, arrays: CaseArrays) -> bool:
    return case.groups == 1 or case.weight_shape[0] == case.groups or _zero_weight(arrays)


def _bias_invisible(case: Case, arrays: CaseArrays) -> bool:
    return arrays.bias64 is None or not np.any(arrays.bias64)


def _conjugate_invisible(case: Case, arrays: CaseArrays) -> bool:
    """A real kernel is its own conjugate."""
    return not np.any(np.imag(arrays.weight64))


MUTATIONS: dict[str, Mutation] = {
    m.name: m
    for m in (
        Mutation(
            "flipped",
            "kernel_flip",
            Semantics(flip=True),
            "Every kernel slice flipped along every spatial axis (rotated 180 degrees in 2-D): "
            "true convolution, what scipy.signal.convolve computes on the kernel as given. "
            "Invisible when every W[o, c] equals its flip.",
            _flip_invisible,
        ),
        Mutation(
            "no_depth_sum",
            "depth_sum",
            Semantics(depth="closest"),
            "Each output channel sees one input channel's partial map (the one closest to "
            "the baseline) instead of the sum over its group: the gap depth summation closes. "
            "Invisible when C_in/groups == 1 (or one channel per output carries weight).",
            _single_channel_invisible,
        ),
        Mutation(
            "depth_mean",
            "depth_sum",
            Semantics(depth="mean"),
            "The input channels of a group averaged instead of summed. Invisible when "
            "C_in/groups == 1.",
            _mean_invisible,
        ),
        Mutation(
            "same_extra_top_left",
            "padding",
            Semantics(same_extra_top_left=True),
            "For padding 'same' with an even effective kernel the extra pad goes before "
            "(top/left; what convolve2d(x, rot180(w), 'same') and ndimage do). Invisible for odd "
            "effective kernels or other paddings.",
            _same_invisible,
        ),
        Mutation(
            "padding_swapped",
            "padding",
            Semantics(padding_swapped=True),
            "Padding amounts of the axes read in reverse order ((pH, pW) as (pW, pH), "
            "(pD, pH, pW) as (pW, pH, pD)). Invisible when the swapped axes are padded alike "
            "(always in 1-D).",
            _swap_invisible,
        ),
        Mutation(
            "boundary_symmetric",
            "boundary",
            Semantics(boundary_symmetric=True),
            "reflect padding done as numpy 'symmetric' / scipy 'symm' / ndimage 'reflect' "
            "(edge sample repeated). Invisible unless padding_mode is reflect with some "
            "padding.",
            _boundary_invisible,
        ),
        Mutation(
            "stride_phase",
            "stride",
            Semantics(stride_phase=1),
            "Outputs sampled at i*s + 1 instead of i*s (valid[1::s] instead of valid[::s]) on "
            "the strided axes, same output shape. Invisible when stride is 1.",
            _stride_invisible,
        ),
        Mutation(
            "no_dilation",
            "dilation",
            Semantics(ignore_dilation=True),
            "Dilation ignored (taps adjacent): usually a larger output. Invisible when "
            "dilation is 1 (or the kernel has one tap) on every axis.",
            _dilation_invisible,
        ),
        Mutation(
            "groups_interleaved",
            "groups",
            Semantics(groups_interleaved=True),
            "Output channel o reads group o % groups instead of o // (C_out/groups). "
            "Invisible when groups == 1 or C_out == groups.",
            _groups_invisible,
        ),
        Mutation(
            "no_bias",
            "bias",
            Semantics(bias=False),
            "The bias is not added. Invisible without a (nonzero) bias.",
            _bias_invisible,
        ),
        Mutation(
            "conjugated",
            "conjugation",
            Semantics(conjugate=True),
            "The complex kernel conjugated: the sum of x * conj(w), what scipy.signal.correlate "
            "and a Hermitian dot product (np.vdot) compute; torch multiplies plainly. Complex "
            "cases only. Invisible when the kernel is real.",
            _conjugate_invisible,
            lambda case: is_complex(case.dtype),
        ),
    )
}


# ---------------------------------------------------------------------------------------------
# Computing any combination of semantics with the reference.
# ---------------------------------------------------------------------------------------------


def _pads(case: Case, semantics: Semantics, dilation: tuple[int, ...]) -> tuple[int, ...]:
    """(before, after) per axis, flat, for the semantics and the dilation they read."""
    pads = tuple(reference.padding_amounts(case.padding, case.kernel, dilation))
    if case.padding == "same" and semantics.same_extra_top_left:
        totals = [d * (k - 1) for d, k in zip(dilation, case.kernel, strict=True)]
        pads = tuple(
            p
            for a, t in enumerate(totals)
            for p in ((t - t // 2, t // 2) if semantics.on(a) else pads[2 * a : 2 * a + 2])
        )
    if semantics.padding_swapped:
        pads = swapped_pads(pads)
    return pads


def _depth_weights(weight: np.ndarray, depth: str) -> np.ndarray:
    if depth == "sum":
        return weight
    if depth == "mean":
        return weight / weight.shape[1]
    raise ValueError(f"depth {depth!r} is computed elsewhere")


def _single_channel(xp, w, b, stride, dilation, groups, interleaved, c):
    """Every output channel from input channel c of its group only (one conv of 1/cg the cost)."""
    cg = w.shape[1]
    channels = [g * cg + c for g in range(groups)]
    return _grouped(xp[:, channels], w[:, c : c + 1], b, stride, dilation, groups, interleaved)


def mutated_output(
    case: Case, arrays: CaseArrays, semantics: Semantics, baseline: np.ndarray | None = None
) -> np.ndarray:
    """The case's output (float64, on the rounded inputs) under the given semantics."""
    x, w, b = arrays.input64, arrays.weight64, arrays.bias64
    if semantics.flip:
        w = np.flip(w, tuple(a for a in _spatial(w) if semantics.on(a - 2)))
    if semantics.conjugate:
        w = np.conj(w)
    if not semantics.bias:
        b = None
    dilation = tuple(
        1 if semantics.ignore_dilation and semantics.on(a) else d
        for a, d in enumerate(case.dilation)
    )
    pads = _pads(case, semantics, dilation)
    mode = case.padding_mode
    if semantics.boundary_symmetric and mode == "reflect":
        mode = "symmetric"
    xp = reference.pad(x, pads, mode)
    if semantics.group_inputs != "blocks" and case.groups > 1:
        xp = xp[:, _group_channels(x.shape[1], case.groups, semantics.group_inputs)]
    stride = case.stride
    phase = tuple(
        semantics.stride_phase if s > 1 and semantics.on(a) else 0 for a, s in enumerate(stride)
    )
    if any(phase):
        xp = np.pad(xp, ((0, 0), (0, 0), *((0, p) for p in phase)))
        window = (slice(None), slice(None), *(slice(p, None) for p in phase))
        xp = xp[window]
    if semantics.depth == "closest":
        return _closest_channel(xp, w, b, stride, dilation, case.groups, semantics, baseline)
    if semantics.depth == "first":
        return _single_channel(
            xp, w, b, stride, dilation, case.groups, semantics.groups_interleaved, 0
        )
    w = _depth_weights(w, semantics.depth)
    return _grouped(xp, w, b, stride, dilation, case.groups, semantics.groups_interleaved)


def _group_channels(channels: int, groups: int, group_inputs: str) -> list[int]:
    """The input channels in the order torch's blocks would read them, for another mapping."""
    cg = channels // groups
    if group_inputs == "interleaved":
        return [c * groups + g for g in range(groups) for c in range(cg)]
    return [(groups - 1 - g) * cg + c for g in range(groups) for c in range(cg)]


def _grouped(xp, w, b, stride, dilation, groups, interleaved):
    if not interleaved:
        return reference.conv2d(xp, w, b, stride, 0, dilation, groups)
    c_out = w.shape[0]
    cg = w.shape[1]
    parts = []
    for g in range(groups):
        outputs = [o for o in range(c_out) if o % groups == g]
        part = reference.conv2d(
            xp[:, g * cg : (g + 1) * cg],
            w[outputs],
            None if b is None else b[outputs],
            stride,
            0,
            dilation,
            1,
        )
        parts.append((outputs, part))
    first = parts[0][1]
    out = np.empty((first.shape[0], c_out, *first.shape[2:]), dtype=first.dtype)
    for outputs, part in parts:
        out[:, outputs] = part
    return out


SEARCH_COST = 20_000_000  # multiply-adds above which the channel search uses the first image


def _closest_channel(xp, w, b, stride, dilation, groups, semantics, baseline):
    """Per output channel, the single input channel's partial map closest to the baseline.

    The search compares each input channel's partial map with the baseline (on the first image
    of the batch only, for large cases); the result is then one convolution whose weights keep,
    for every output channel, only its closest input channel.
    """
    cg = w.shape[1]
    interleaved = semantics.groups_interleaved
    if baseline is None or cg == 1:
        return _single_channel(xp, w, b, stride, dilation, groups, interleaved, 0)
    search_x, search_base = xp, baseline
    if xp.shape[0] > 1 and baseline.size * w[0].size > SEARCH_COST:
        search_x, search_base = xp[:1], baseline[:1]
    best = best_gap = None
    for c in range(cg):
        candidate = _single_channel(search_x, w, b, stride, dilation, groups, interleaved, c)
        if candidate.shape != search_base.shape or not candidate.size:
            return _single_channel(xp, w, b, stride, dilation, groups, interleaved, 0)
        with np.errstate(invalid="ignore"):
            gap = np.abs(candidate - search_base)
        both_nan = np.isnan(candidate) & np.isnan(search_base)
        gap = np.where(both_nan, 0.0, np.where(np.isnan(gap), np.inf, gap))
        gap = gap.max(axis=(0, *_spatial(gap)))
        if best is None or best_gap is None:
            best, best_gap = np.zeros(w.shape[0], dtype=int), gap
        else:
            closer = gap < best_gap
            best[closer] = c
            best_gap = np.minimum(gap, best_gap)
    kept = np.zeros_like(w)
    rows = np.arange(w.shape[0])
    kept[rows, best] = w[rows, best]
    return _grouped(xp, kept, b, stride, dilation, groups, interleaved)
