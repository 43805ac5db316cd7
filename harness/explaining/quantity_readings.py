"""Every gradient and transposed output computed from a misread forward convolution.

Each quantity is a linear map derived from the forward convolution y = A(w) x + b of the case (a
transposed case's forward is the convolution whose grad_input it computes). A QuantityReading is
how an implementation reads that forward, per spatial axis: the kernel's orientation, the pads
(before, after), the stride and the phase of its sampling, the dilation and the group mapping
(harness.explaining.readings' fields), plus, for a transposed output, how many trailing positions it
leaves zero (output_padding filled with zeros) and whether it reads the weight's channel axes
swapped. Under a reading R (written for one axis; the same per axis), with the forward index
relation p = i*s + phase + t*d between output position i, tap t and padded input position p:

- `spread_partials`, the adjoint A_R^T: out[n, ch, q] += a[n, o, i] * k[o, c, t] for every (o, c)
  the group mapping sends to channel ch, at q = p - before (positions outside dropped). grad_input
  (a = grad_output, k = conj(w)) and a transposed output (a = x, k = w) are this map; it returns
  each source channel's contribution apart (the channel sum the depth family fits).
- `gather_partials`, the forward itself over a given output size: a transposed convolution's
  grad_input (a = grad_output, k = conj(w)), per channel of its group.
- `correlate_partials`: grad_weight[o, c, t] = sum_n,i a[n, o, i] * bp[n, map(o, c), p], bp the
  second operand padded as the reading says (grad_weight of a convolution: a = grad_output,
  b = conj(x); of a transposed convolution: a = conj(x), b = grad_output), each image apart.

Both are vectorised tap loops (per kernel tap one strided slice and one product over channels)
in float64/complex128, for every rank; at torch's reading they equal harness.computations.gradients'
exact values.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import numpy as np

from harness.cases.case import Case
from harness.computations import gradients, reference
from harness.explaining.orientations import orient, orientations


@dataclass(frozen=True)
class QuantityReading:
    """How an implementation reads the forward convolution a quantity derives from."""

    orientation: str
    pads: tuple[int, ...]  # (before, after) per axis, flat; may be negative for a transposed one
    stride: tuple[int, ...]
    phase: tuple[int, ...]
    dilation: tuple[int, ...]
    groups_map: str
    mode: str
    tail: tuple[int, ...] = ()  # transposed outputs: trailing positions per axis left zero
    head: tuple[int, ...] = ()  # transposed outputs: leading positions per axis left zero
    lead: tuple[int, ...] = ()  # transposed gradients: grad_output's first positions dropped
    phase_fill: bool = (
        False  # accepted from harness.explaining.family_changes' stride changes; unused
    )

    @classmethod
    def of_case(cls, case: Case) -> QuantityReading:
        """torch's reading of a convolution case's forward."""
        rank = case.rank
        return cls(
            "identity",
            case.pads,
            case.stride,
            (0,) * rank,
            case.dilation,
            "torch",
            case.padding_mode,
            (0,) * rank,
        )

    @classmethod
    def of_transposed(cls, case: Case) -> QuantityReading:
        """torch's reading of a transposed case: pads (padding, padding - output_padding), so the
        output has (S - 1)*s + d*(k - 1) + 1 - before - after elements per axis."""
        befores = case.pads[0::2]
        pads = tuple(
            v for p, op in zip(befores, case.output_padding, strict=True) for v in (p, p - op)
        )
        rank = case.rank
        return cls(
            "identity", pads, case.stride, (0,) * rank, case.dilation, "torch", "zeros", (0,) * rank
        )


def transposed_size(reading: QuantityReading, sizes, kernel) -> tuple[int, ...]:
    """The output size per axis a transposed convolution read this way allocates."""
    k_read = oriented(kernel, reading.orientation)
    return tuple(
        (size - 1) * s + d * (k - 1) + 1 - before - after
        for size, s, d, k, before, after in zip(
            sizes,
            reading.stride,
            reading.dilation,
            k_read,
            reading.pads[0::2],
            reading.pads[1::2],
            strict=True,
        )
    )


MEMORY_TRANSPOSED = "memory_transposed"  # not a symmetry: the last two axes' memory misread


def oriented(kernel, orientation: str) -> tuple[int, ...]:
    """The kernel's spatial size as read in this orientation."""
    if orientation == MEMORY_TRANSPOSED:
        return tuple(kernel)
    perm = orientations(len(kernel))[orientation].perm
    return tuple(kernel[a] for a in perm)


def read_kernel(k: np.ndarray, orientation: str) -> np.ndarray:
    """The kernel as a reading reads it: an orientation (harness.explaining.orientations), or its
    last two axes swapped and the result read with the original shape (an im2col that flattens the
    transposed kernel: a kernel transposed in memory)."""
    if orientation == MEMORY_TRANSPOSED:
        return np.swapaxes(k, -1, -2).reshape(k.shape)
    return orient(k, orientation)


def unread_kernel(part: np.ndarray, orientation: str) -> np.ndarray:
    """A gradient of the kernel as read, returned in the kernel's own layout (the inverse of
    read_kernel on the last spatial axes; leading axes kept)."""
    if orientation == MEMORY_TRANSPOSED:
        *lead, rows, columns = part.shape
        return np.swapaxes(part.reshape(*lead, columns, rows), -1, -2)
    rank = part.ndim - 2
    return orient(part, inverse_orientation(rank, orientation))


@cache
def inverse_orientation(rank: int, orientation: str) -> str:
    """The orientation that undoes `orientation` (rot90's is rot270)."""
    shape = (1, 1, *(2 + a for a in range(rank)))  # distinct sizes: permutations show
    probe = np.arange(int(np.prod(shape)), dtype=float).reshape(shape)
    read = orient(probe, orientation)
    for name in orientations(rank):
        back = orient(read, name)
        if back.shape == probe.shape and np.array_equal(back, probe):
            return name
    return orientation


def channel_map(groups_map: str, c_src: int, cg: int, groups: int) -> np.ndarray:
    """ch[o, c]: the channel the forward's output (source) channel o reads as its group's c-th."""
    per = c_src // groups
    o = np.arange(c_src)[:, None]
    c = np.arange(cg)[None, :]
    if groups_map == "interleaved_outputs":
        group = o % groups
    elif groups_map == "reversed":
        group = groups - 1 - o // per
    else:
        group = o // per
    if groups_map == "interleaved_inputs":
        return np.broadcast_to(c * groups + group, (c_src, cg))
    return np.broadcast_to(group * cg + c, (c_src, cg))


def sources_of(groups_map: str, c_src: int, cg: int, groups: int, targets) -> tuple:
    """(o, c) index arrays (len(targets), J): the (source channel, kernel channel) pairs that feed
    each target channel, in source order; J the most any target has (missing ones point at a
    zero kernel row: index c = -1)."""
    ch = channel_map(groups_map, c_src, cg, groups)
    pairs = [np.argwhere(ch == t) for t in targets]
    width = max((len(p) for p in pairs), default=0)
    o = np.zeros((len(targets), width), dtype=int)
    c = np.full((len(targets), width), -1, dtype=int)
    for row, found in enumerate(pairs):
        o[row, : len(found)] = found[:, 0]
        c[row, : len(found)] = found[:, 1]
    return o, c


def _taps(kernel) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(k) for k in kernel)))


def spread_partials(
    a: np.ndarray,
    k: np.ndarray,
    reading: QuantityReading,
    sizes,
    groups: int,
    targets,
    images=None,
) -> np.ndarray:
    """P[n, t, j, *q]: target channel targets[t] from its j-th source channel alone, over an
    output of `sizes` starting at padded position `before` (positions outside dropped).
    k is the kernel as the forward holds it (C_src, Cg, *kernel); the reading orients it."""
    a = a if images is None else a[images]
    k = read_kernel(k, reading.orientation)
    n, c_src, *lengths = a.shape
    cg = k.shape[1]
    rank = len(lengths)
    src_o, src_c = sources_of(reading.groups_map, c_src, cg, groups, targets)
    padded_k = np.concatenate([k, np.zeros((c_src, 1, *k.shape[2:]), dtype=k.dtype)], axis=1)
    out = np.zeros(
        (n, len(targets), src_o.shape[1], *sizes), dtype=np.result_type(a, k, np.float64)
    )
    gathered = a[:, src_o]  # (n, T, J, *lengths)
    spatial = (None,) * rank
    with np.errstate(invalid="ignore", over="ignore"):
        for tap in _taps(k.shape[2:]):
            target, source = [], []
            for axis in range(rank):
                s, d = reading.stride[axis], reading.dilation[axis]
                offset = reading.phase[axis] + tap[axis] * d - reading.pads[2 * axis]
                first = max(0, -(offset // s))  # the smallest i with i*s + offset >= 0
                stop = min(lengths[axis], -(-(sizes[axis] - offset) // s))
                if stop <= first:
                    break
                q0 = first * s + offset
                target.append(slice(q0, q0 + (stop - first - 1) * s + 1, s))
                source.append(slice(first, stop))
            else:
                coefficient = padded_k[tuple([src_o, src_c, *tap])]  # (T, J)
                where: tuple = (slice(None),) * 3
                out[tuple([*where, *target])] += (
                    gathered[tuple([*where, *source])]
                    * coefficient[tuple([None, slice(None), slice(None), *spatial])]
                )
    for axis, count in enumerate(reading.tail):
        if count:
            index = [slice(None)] * out.ndim
            index[3 + axis] = slice(sizes[axis] - count, None)
            out[tuple(index)] = 0
    for axis, count in enumerate(reading.head):
        if count:
            index = [slice(None)] * out.ndim
            index[3 + axis] = slice(0, count)
            out[tuple(index)] = 0
    return out


def grad_input_partials(
    g: np.ndarray,
    w: np.ndarray,
    reading: QuantityReading,
    input_sizes,
    groups: int,
    targets,
    images=None,
) -> np.ndarray:
    """A convolution's grad_input under a reading, per grad_output channel of each target input
    channel: computed over the padded input and folded back through the padding (cropped for
    zeros; other modes add each padded position onto the input position it was read from)."""
    rank = len(input_sizes)
    before, after = reading.pads[0::2], reading.pads[1::2]
    padded = tuple(s + b + a for s, b, a in zip(input_sizes, before, after, strict=True))
    at_origin = QuantityReading(
        reading.orientation,
        (0,) * (2 * rank),
        reading.stride,
        reading.phase,
        reading.dilation,
        reading.groups_map,
        reading.mode,
        (0,) * rank,
    )
    part = spread_partials(g, w, at_origin, padded, groups, targets, images)
    n, t, j = part.shape[:3]
    flat = part.reshape(n, t * j, *padded)
    with np.errstate(invalid="ignore", over="ignore"):
        folded = gradients.fold_padding(flat, reading.pads, tuple(input_sizes), reading.mode)
    return folded.reshape(n, t, j, *input_sizes)


def correlate_partials(
    a: np.ndarray,
    b: np.ndarray,
    kernel,
    reading: QuantityReading,
    groups: int,
    cg: int,
    rows,
) -> np.ndarray:
    """P[r, c, n, *t] = sum_i a[n, rows[r], *i] * bp[n, map(rows[r], c), *(i*s + phase + t*d)]:
    the weight gradient row by row, each image apart. bp is b padded as the reading says (zeros
    read where the reading reaches past it); `kernel` is the kernel size the forward reads (the
    caller un-orients the result)."""
    n, c_a, *lengths = a.shape
    rank = len(lengths)
    b = _dropped_lead(b, reading.lead)
    bp = signed_pad(b, reading.pads, reading.mode)
    reach = [
        ph + (m - 1) * s + d * (k - 1) + 1
        for ph, m, s, d, k in zip(
            reading.phase, lengths, reading.stride, reading.dilation, kernel, strict=True
        )
    ]
    short = [max(0, r - size) for r, size in zip(reach, bp.shape[2:], strict=True)]
    if any(short):
        bp = np.pad(bp, ((0, 0), (0, 0), *((0, extra) for extra in short)))
    channels = channel_map(reading.groups_map, c_a, cg, groups)[list(rows)]  # (R, cg)
    chosen = a[:, list(rows)]  # (n, R, *I)
    out = np.zeros((len(rows), cg, n, *kernel), dtype=np.result_type(a, b, np.float64))
    axes = "ijl"[:rank]
    with np.errstate(invalid="ignore", over="ignore"):
        for tap in _taps(kernel):
            window = tuple(
                slice(ph + u * d, ph + u * d + (m - 1) * s + 1, s)
                for ph, u, m, s, d in zip(
                    reading.phase, tap, lengths, reading.stride, reading.dilation, strict=True
                )
            )
            index: list = [slice(None), channels, *window]
            read = bp[tuple(index)]  # (n, R, cg, *I)
            at: list = [slice(None), slice(None), slice(None), *tap]
            out[tuple(at)] = np.einsum(f"nr{axes},nrc{axes}->rcn", chosen, read)
    return out


def gather_partials(
    a: np.ndarray, k: np.ndarray, reading: QuantityReading, sizes, groups: int, rows, images=None
) -> np.ndarray:
    """P[n, r, c, *i]: the forward convolution read this way, output channel rows[r] from its
    group's c-th channel alone, over `sizes` output positions (an implementation that sizes its
    result from elsewhere, as a transposed convolution's grad_input does): positions the reading
    sends past the padded input read zeros."""
    a = _dropped_lead(a if images is None else a[images], reading.lead)
    k = read_kernel(k, reading.orientation)
    n = a.shape[0]
    c_k, cg, *kernel = k.shape
    rank = a.ndim - 2
    ap = signed_pad(a, reading.pads, reading.mode)
    reach = [
        ph + (m - 1) * s + d * (t - 1) + 1
        for ph, m, s, d, t in zip(
            reading.phase, sizes, reading.stride, reading.dilation, kernel, strict=True
        )
    ]
    short = [max(0, r - size) for r, size in zip(reach, ap.shape[2:], strict=True)]
    if any(short):
        ap = np.pad(ap, ((0, 0), (0, 0), *((0, extra) for extra in short)))
    channels = channel_map(reading.groups_map, c_k, cg, groups)[list(rows)]  # (R, cg)
    out = np.zeros((n, len(rows), cg, *sizes), dtype=np.result_type(a, k, np.float64))
    spatial = (None,) * rank
    with np.errstate(invalid="ignore", over="ignore"):
        for tap in _taps(kernel):
            window = tuple(
                slice(ph + u * d, ph + u * d + (m - 1) * s + 1, s)
                for ph, u, m, s, d in zip(
                    reading.phase, tap, sizes, reading.stride, reading.dilation, strict=True
                )
            )
            index: list = [slice(None), channels, *window]
            at: list = [list(rows), slice(None), *tap]
            coefficient = k[tuple(at)]  # (R, cg)
            out += ap[tuple(index)] * coefficient[tuple([None, slice(None), slice(None), *spatial])]
    return out


def _dropped_lead(a: np.ndarray, lead) -> np.ndarray:
    """a with its first lead[axis] positions along each spatial axis read as zeros (an
    implementation that put output_padding first: their gradient never reaches the input)."""
    if not any(lead):
        return a
    out = a.copy()
    for axis, count in enumerate(lead):
        if count:
            index: list = [slice(None)] * a.ndim
            index[2 + axis] = slice(0, count)
            out[tuple(index)] = 0
    return out


def signed_pad(a: np.ndarray, pads, mode: str) -> np.ndarray:
    """a padded by (before, after) per axis; a negative amount crops that many instead."""
    if not any(pads):
        return a
    crop = tuple(
        slice(max(0, -b), a.shape[2 + i] - max(0, -e))
        for i, (b, e) in enumerate(zip(pads[0::2], pads[1::2], strict=True))
    )
    a = a[tuple([slice(None), slice(None), *crop])]
    kept = tuple(max(0, p) for p in pads)
    return reference.pad(a, kept, mode) if any(kept) else a
