"""Geometric bug families: the readings of a configuration an implementation may apply.

A Reading is how an implementation reads the case, per spatial axis (L; H, W; D, H, W): the
kernel's orientation (any symmetry of the kernel's box, harness.explaining.orientations), the pads
on each side, the stride and sampling phase, the dilation, the mapping of output channels to groups
of input channels, and the padding mode. `geometric_changes` lists each family's alternatives (a
change on one axis, on several, swapped between axes; harness.explaining.family_changes); `readings`
enumerates them with as few families changed as possible (and, among as many, changes of one
axis or of all axes before the others), keeping only those that give the observed output shape
(decided for a whole product of changes at once, so the search stays cheap in 3-D); `partials`
computes, for one reading, each input channel's contribution to each output channel (what
harness.explaining.families fits depth and bias to).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from harness.cases.case import Case
from harness.computations import reference
from harness.explaining.family_changes import Change, geometric_changes, with_same_pads
from harness.explaining.orientations import ORIENTATIONS, orient, oriented_kernel

__all__ = ["ORIENTATIONS", "Change", "Reading", "geometric_changes", "partials", "readings"]

SHAPE_CHUNK = 250_000  # combinations whose output size is computed in one array


@dataclass(frozen=True)
class Reading:
    """How an implementation reads the configuration (torch's reading by default); every
    per-axis field has one value per spatial axis, `pads` (before, after) per axis, flat."""

    orientation: str
    pads: tuple[int, ...]
    stride: tuple[int, ...]
    phase: tuple[int, ...]
    phase_fill: bool  # a phase keeps the output shape by reading zeros past the end
    dilation: tuple[int, ...]
    groups_map: str
    mode: str

    @classmethod
    def of(cls, case: Case) -> Reading:
        return cls(
            "identity",
            case.pads,
            case.stride,
            (0,) * case.rank,
            False,
            case.dilation,
            "torch",
            case.padding_mode,
        )

    def output_size(self, case: Case) -> tuple[int, ...]:
        kernel = oriented_kernel(case.kernel, self.orientation)
        sizes = []
        for size, before, after, k, s, d, p in zip(
            case.input_shape[2:],
            self.pads[0::2],
            self.pads[1::2],
            kernel,
            self.stride,
            self.dilation,
            self.phase,
            strict=True,
        ):
            padded = size + before + after - (0 if self.phase_fill else p)
            # a kernel larger than the padded input reads nothing: an empty axis
            sizes.append(max((padded - d * (k - 1) - 1) // s + 1, 0))
        return tuple(sizes)


def readings(
    case: Case, observed_shape: tuple[int, ...], max_families: int = 3
) -> Iterator[tuple[Reading, tuple[Change, ...]]]:
    """Readings that give the observed shape, fewest families changed first; among as many
    families, those whose changes are all of tier 0 (one axis or all) first, then tier 1, ..."""
    base = Reading.of(case)
    n, c_out = case.output_shape[:2]
    if tuple(observed_shape[:2]) != (n, c_out) or len(observed_shape) != case.rank + 2:
        return
    target = tuple(observed_shape[2:])
    families = [changes for changes in geometric_changes(case).values() if changes]
    top = max((c.tier for family in families for c in family), default=0)
    for size, tier in itertools.product(range(0, max_families + 1), range(top + 1)):
        tiered = [[c for c in family if c.tier <= tier] for family in families]
        for chosen in itertools.combinations(tiered, size):
            if not all(chosen) or (size == 0 and tier > 0):
                continue
            for index in _shape_matches(case, chosen, target):
                combo = tuple(family[i] for family, i in zip(chosen, index, strict=True))
                if max((c.tier for c in combo), default=0) < tier:
                    continue  # tried in an earlier pass
                fields: dict = {}
                for change in combo:
                    fields.update(change.fields)
                if case.padding == "same" and "pads" not in fields:
                    fields["pads"] = _same_pads(case, fields)  # 'same' for the kernel as read
                    combo = with_same_pads(case, combo, fields["pads"])
                reading = replace(base, **fields)
                if reading.output_size(case) == target:
                    yield reading, combo


def _family_fields(case: Case, family: list[Change]) -> dict[str, np.ndarray]:
    """What each change of a family sets that decides the output size, one row per change."""
    keys = family[0].fields  # every change of a family sets the same fields
    rank = case.rank
    arrays: dict[str, np.ndarray] = {}
    if "orientation" in keys:
        arrays["kernel"] = np.array(
            [oriented_kernel(case.kernel, c.fields["orientation"]) for c in family]
        )
    if "stride" in keys:
        arrays["stride"] = np.array([c.fields["stride"] for c in family])
        arrays["cut"] = np.array(
            [(0,) * rank if c.fields["phase_fill"] else c.fields["phase"] for c in family]
        )
    if "pads" in keys:
        arrays["pads"] = np.array([c.fields["pads"] for c in family])
    if "dilation" in keys:
        arrays["dilation"] = np.array([c.fields["dilation"] for c in family])
    return arrays


def _shape_matches(case: Case, chosen, target: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    """Indices (in product order) of the combinations of the chosen families' changes whose
    reading gives the target output size: computed for blocks of the product at once."""
    per_family = [_family_fields(case, family) for family in chosen]
    lengths = [len(family) for family in chosen]
    if not chosen:
        if _matching(case, per_family, 0, 1, target).all():
            yield ()
        return
    step = max(1, SHAPE_CHUNK // max(math.prod(lengths[1:]), 1))
    for start in range(0, lengths[0], step):
        stop = min(start + step, lengths[0])
        match = _matching(case, per_family, start, stop, target)
        for index in np.argwhere(np.broadcast_to(match, (stop - start, *lengths[1:]))):
            yield (int(index[0]) + start, *(int(i) for i in index[1:]))


def _matching(case: Case, per_family, start: int, stop: int, target) -> np.ndarray:
    """Whether each combination gives the target size (first family restricted to start:stop;
    a family that sets no size-deciding field broadcasts along its axis)."""
    dims = len(per_family)
    defaults = {
        "kernel": case.kernel,
        "stride": case.stride,
        "cut": (0,) * case.rank,
        "dilation": case.dilation,
        "pads": case.pads,
    }

    def field(name: str) -> np.ndarray:
        for i, arrays in enumerate(per_family):
            if name in arrays:
                values = arrays[name][start:stop] if i == 0 else arrays[name]
                return values.reshape((1,) * i + (len(values),) + (1,) * (dims - 1 - i) + (-1,))
        return np.array(defaults[name]).reshape((1,) * dims + (-1,))

    span = field("dilation") * (field("kernel") - 1)
    if case.padding == "same" and not any("pads" in arrays for arrays in per_family):
        before, after = span // 2, span - span // 2  # 'same' for the kernel as read
    else:
        pads = field("pads")
        before, after = pads[..., 0::2], pads[..., 1::2]
    padded = np.array(case.input_shape[2:]) + before + after - field("cut")
    sizes = np.maximum((padded - span - 1) // field("stride") + 1, 0)  # empty, not negative
    return (sizes == np.array(target)).all(axis=-1)


def _same_pads(case: Case, fields: dict) -> tuple[int, ...]:
    """'same' padding for the kernel an implementation reads (permuted, other dilation)."""
    kernel = oriented_kernel(case.kernel, fields.get("orientation", "identity"))
    dilation = fields.get("dilation", case.dilation)
    totals = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
    return tuple(p for t in totals for p in (t // 2, t - t // 2))


def _group_of(reading: Reading, o: int, c_out: int, groups: int) -> int:
    og = c_out // groups
    if reading.groups_map == "interleaved_outputs":
        return o % groups
    if reading.groups_map == "reversed":
        return groups - 1 - o // og
    return o // og


def _input_channel(reading: Reading, g: int, c: int, cg: int, groups: int) -> int:
    return c * groups + g if reading.groups_map == "interleaved_inputs" else g * cg + c


def partials(
    case: Case, x: np.ndarray, w: np.ndarray, reading: Reading, outputs: list[int]
) -> np.ndarray:
    """P[n, k, c, *i]: output channel outputs[k] from its group's input channel c alone."""
    w = orient(w, reading.orientation)
    xp = reference.pad(x, reading.pads, reading.mode)
    if any(reading.phase):
        if reading.phase_fill:
            xp = np.pad(xp, ((0, 0), (0, 0), *((0, p) for p in reading.phase)))
        window = (slice(None), slice(None), *(slice(p, None) for p in reading.phase))
        xp = xp[window]
    c_out, cg = w.shape[:2]
    groups = case.groups
    result = np.zeros(
        (x.shape[0], len(outputs), cg, *reading.output_size(case)), dtype=np.result_type(x, w)
    )
    by_group: dict[int, list[int]] = {}
    for k, o in enumerate(outputs):
        by_group.setdefault(_group_of(reading, o, c_out, groups), []).append(k)
    for g, ks in by_group.items():
        rows = [outputs[k] for k in ks]
        for c in range(cg):
            channel = xp[:, [_input_channel(reading, g, c, cg, groups)]]
            result[:, ks, c] = reference.conv2d(
                channel, w[rows][:, c : c + 1], None, reading.stride, 0, reading.dilation, 1
            )
    return result
