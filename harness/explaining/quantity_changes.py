"""Each geometric family's alternatives for a gradient or a transposed output, in the quantity's
own words ("grad_input: zeros of the stride inserted 1 position late on W only",
"conv_transpose2d: dilation ignored (taps adjacent)", "conv_transpose2d: output_padding filled
with zeros on H only").

They are the forward's readings (harness.explaining.family_changes: orientation, stride value and
phase, padding, dilation, group mapping, boundary) re-worded for the quantity, plus a transposed
output's own padding family: its padding and output_padding per axis (ignored, put before the
output, filled with zeros, off by one, taken from another axis) and its weight read with the
channel axes swapped (`groups`).
"""

from __future__ import annotations

from harness.cases.case import Case
from harness.explaining.family_changes import GROUP_MAPS, Change, assignments, geometric_changes
from harness.explaining.orientations import axes_phrase, orientations

# what a spread quantity (built by scattering) says of a sampling phase, and what a gathering one
SPREAD = ("grad_input", "output")


def quantity_label(case: Case, quantity: str) -> str:
    """How findings name it: grad_input, conv_transpose2d, conv_transpose2d grad_weight."""
    if quantity == "output":
        return case.op
    return f"{case.op} {quantity}" if case.transposed else quantity


def _changed(new, old) -> list[int]:
    return [a for a in range(len(new)) if new[a] != old[a]]


def _fmt(values) -> str:
    return str(values[0]) if len(values) == 1 else str(tuple(values))


def stride_words(case: Case, quantity: str, stride, phase) -> str:
    names, base = case.axis_names, case.stride
    words = []
    moved = _changed(stride, base)
    if moved:
        words.append(
            f"stride read as {_fmt(stride)} instead of {_fmt(base)} on {axes_phrase(names, moved)}"
        )
    shifted = [a for a in range(case.rank) if phase[a]]
    if shifted:
        offsets = sorted({phase[a] for a in shifted})
        by = str(offsets[0]) if len(offsets) == 1 else _fmt([phase[a] for a in shifted])
        unit = "position" if by == "1" else "positions"
        if quantity in SPREAD:
            words.append(
                f"zeros of the stride inserted {by} {unit} late on {axes_phrase(names, shifted)}"
            )
        else:
            words.append(
                f"input read from i*s + {by} instead of i*s on {axes_phrase(names, shifted)}"
            )
    return "; ".join(words)


def dilation_words(case: Case, dilation) -> str:
    names, base = case.axis_names, case.dilation
    changed = _changed(dilation, base)
    where = (
        "" if len(changed) == case.rank and case.rank > 1 else f" on {axes_phrase(names, changed)}"
    )
    if case.rank == 1:
        where = ""
    if all(dilation[a] == 1 for a in changed):
        return f"dilation ignored (taps adjacent){where}"
    return f"taps {_fmt(dilation)} apart instead of {_fmt(base)}{where}"


def collapsed_taps(case: Case) -> list[Change]:
    """Dilation one smaller on an axis of dilation 1: 0, every tap of that axis at one position
    (an off-by-one a gradient loop can make without failing; a forward output would change
    size)."""
    changes = []
    for axis, d in enumerate(case.dilation):
        if d == 1 and case.kernel[axis] > 1:
            dilation = tuple(0 if a == axis else v for a, v in enumerate(case.dilation))
            changes.append(Change("dilation", {"dilation": dilation}, ""))
    return changes


def _reworded(label: str, change: Change, finding: str) -> Change:
    return Change(change.cause, change.fields, f"{label}: {finding}", change.tier)


def convolution_changes(case: Case, quantity: str, label: str = "") -> dict[str, list[Change]]:
    """A convolution's grad_input or grad_weight (`quantity`: how its words read), or of the
    forward a transposed case's gradients derive from: the forward's families, re-worded."""
    label = label or quantity_label(case, quantity)
    found = geometric_changes(case)
    families: dict[str, list[Change]] = {}
    rank = case.rank
    families["orientation"] = [
        _reworded(label, c, _orientation_words(rank, c.fields["orientation"], quantity))
        for c in found["orientation"]
    ] + memory_transposed(case, label, quantity)
    families["stride"] = [
        _reworded(label, c, stride_words(case, quantity, c.fields["stride"], c.fields["phase"]))
        for c in found["stride"]
        if not c.fields["phase_fill"]
    ]
    families["padding"] = [_reworded(label, c, c.finding) for c in found["padding"]]
    families["dilation"] = [
        _reworded(label, c, dilation_words(case, c.fields["dilation"]))
        for c in found["dilation"] + collapsed_taps(case)
    ]
    families["groups"] = [
        _reworded(label, c, _group_words(quantity, c.fields["groups_map"])) for c in found["groups"]
    ]
    if quantity == "grad_input" and case.groups > 1:
        words = f"{label}: reads grad_output channels g, g+groups, ... for group g (not a block)"
        families["groups"].append(
            Change("groups", {"groups_map": "interleaved_grad_output"}, words)
        )
    families["boundary"] = [_reworded(label, c, c.finding) for c in found["boundary"]]
    families["shift"] = unstrided_shifts(case, quantity, label)
    return families


def unstrided_shifts(case: Case, quantity: str, label: str) -> list[Change]:
    """A sampling phase of one on axes of stride 1 (an implementation that adds the phase
    whatever the stride): tried after every other family, since where there is padding before
    it equals one fewer padding there."""
    unstrided = [a for a, s in enumerate(case.stride) if s == 1]
    choices = [[a] for a in unstrided] + ([unstrided] if len(unstrided) > 1 else [])
    changes = []
    for axes in choices:
        phase = tuple(1 if a in axes else 0 for a in range(case.rank))
        where = axes_phrase(case.axis_names, axes)
        late = "shifted one position late" if quantity in SPREAD else "read one position late"
        words = f"{label}: {late} on {where} (a stride phase of 1 at stride 1)"
        fields = {"stride": case.stride, "phase": phase, "phase_fill": False}
        changes.append(Change("stride", fields, words))
    return changes


def memory_transposed(case: Case, label: str, quantity: str) -> list[Change]:
    """The kernel transposed in memory (last two axes swapped, then read with the kernel's own
    shape, as an im2col that flattens the transposed kernel does): for kernels whose last two
    sizes differ (where they agree, it is the transpose)."""
    if case.rank < 2 or case.kernel[-1] == case.kernel[-2]:
        return []
    from harness.explaining.quantity_readings import MEMORY_TRANSPOSED

    names = case.axis_names
    returned = "returned through" if quantity == "grad_weight" else "reads"
    words = (
        f"{label}: {returned} the kernel transposed in memory ({names[-2]} and {names[-1]} "
        "swapped, then read with the kernel's own shape)"
    )
    return [Change("kernel_flip", {"orientation": MEMORY_TRANSPOSED}, words)]


def _orientation_words(rank: int, orientation: str, quantity: str) -> str:
    if quantity in ("grad_weight",):
        from harness.explaining.quantity_readings import inverse_orientation

        applied = orientations(rank)[inverse_orientation(rank, orientation)].words
        return f"returned {applied.replace('kernel ', '', 1)}"
    found = orientations(rank)[orientation]
    if quantity in SPREAD and not any(a != b for a, b in enumerate(found.perm)):
        if len(found.flips) == rank:  # torch's own flip undone
            return "kernel not flipped: a correlation where the true convolution is needed"
    return found.words


TRANSPOSED_GROUP_MAPS = {  # a transposed output's words for the forward's group mappings
    "interleaved_outputs": "input channel c feeds group c % groups (not c // (C_in/groups))",
    "interleaved_inputs": "group g writes output channels g, g+groups, ... (not a block)",
    "reversed": "input channel c feeds group groups-1 - c // (C_in/groups)",
}


def _group_words(quantity: str, groups_map: str) -> str:
    if quantity == "grad_weight":
        return {
            "interleaved_outputs": "reads input group o % groups (not o // (C_out/groups))",
            "reversed": "reads input group groups-1 - o // (C_out/groups)",
            "interleaved_inputs": "reads input channels g, g+groups, ... for group g",
        }[groups_map]
    return GROUP_MAPS[groups_map]


def transposed_changes(case: Case) -> dict[str, list[Change]]:
    """A transposed output's families: orientation, stride, its padding and output_padding,
    dilation, group mapping and the weight's channel axes swapped."""
    label = quantity_label(case, "output")
    found = geometric_changes(case)
    families: dict[str, list[Change]] = {}
    families["orientation"] = [
        _reworded(label, c, _orientation_words(case.rank, c.fields["orientation"], "output"))
        for c in found["orientation"]
    ] + memory_transposed(case, label, "output")
    families["padding"] = _transposed_padding(case, label)  # before stride: more specific
    families["stride"] = [
        _reworded(label, c, stride_words(case, "output", c.fields["stride"], c.fields["phase"]))
        for c in found["stride"]
        if not c.fields["phase_fill"]
    ]
    families["dilation"] = [
        _reworded(label, c, dilation_words(case, c.fields["dilation"])) for c in found["dilation"]
    ]
    groups = [
        Change("groups", {"groups_map": m}, f"{label}: {words}")
        for m, words in TRANSPOSED_GROUP_MAPS.items()
        if case.groups > 1
    ]
    c_in, og = case.weight_shape[:2]
    if min(c_in // case.groups, og) > 1:  # the weight's memory read in the other axis order
        words = (
            "weight read as (C_out, C_in, ...) instead of (C_in, C_out/groups, ...)"
            if case.groups == 1
            else "each group's weight block read as stored (C_out/groups, C_in/groups, ...) "
            "instead of (C_in/groups, C_out/groups, ...)"
        )
        groups.append(Change("groups", {"groups_map": "swapped_axes"}, f"{label}: {words}"))
    families["groups"] = groups
    families["shift"] = unstrided_shifts(case, "output", label)
    return families


def _transposed_padding(case: Case, label: str) -> list[Change]:
    """Per axis (before, after, tail, head): torch's (p, p - op, 0, 0) and the misreadings (tail
    and head: positions at the end or the start left zero)."""
    befores, extras, names = case.pads[0::2], case.output_padding, case.axis_names
    options = []
    for axis, (p, op) in enumerate(zip(befores, extras, strict=True)):
        own = (p, p - op, 0, 0)
        alternatives = []
        if op:
            alternatives += [
                ((p, p, 0, 0), "output_padding ignored"),
                ((p - op, p, 0, 0), "output_padding put before the output (zeros at the start)"),
                ((p, p - op, op, 0), "output_padding filled with zeros"),
                ((p - op, p, 0, op), "output_padding's zeros put at the start"),
            ]
        if p:
            alternatives += [
                ((0, -op, 0, 0), "padding ignored"),
                ((0, 2 * p - op, 0, 0), "padding all cropped at the end"),
                ((2 * p, -op, 0, 0), "padding all cropped at the start"),
                ((p, -op, 0, 0), "padding cropped at the start only"),
                ((0, p - op, 0, 0), "padding cropped at the end only"),
            ]
        alternatives += [
            ((p + 1, p + 1 - op, 0, 0), "padding one more on both sides"),
            ((p - 1, p - 1 - op, 0, 0), "padding one fewer on both sides"),
            ((p + 1, p - op, 0, 0), "one more cropped at the start"),
            ((p, p + 1 - op, 0, 0), "one more cropped at the end"),
            ((2 * p, 2 * p - op, 0, 0), "padding doubled"),
        ]
        for b in range(case.rank):
            if b != axis:
                alternatives.append(
                    ((befores[b], befores[b] - op, 0, 0), f"padding taken from {names[b]}")
                )
                alternatives.append(
                    ((p, p - extras[b], 0, 0), f"output_padding taken from {names[b]}")
                )
        kept: dict = {own: (own, frozenset(), "")}
        for value, words in alternatives:
            if value not in kept:
                kept[value] = (value, frozenset({words}), words)
        options.append(list(kept.values()))
    changes = []
    base = tuple((p, p - op, 0, 0) for p, op in zip(befores, extras, strict=True))
    for chosen in assignments(base, options):
        changed = [a for a, (_, words) in enumerate(chosen) if words]
        if not changed:
            continue
        pads = tuple(v for value, _ in chosen for v in value[:2])
        tail = tuple(value[2] for value, _ in chosen)
        head = tuple(value[3] for value, _ in chosen)
        phrases = list(dict.fromkeys(words for _, words in chosen if words))
        if len(phrases) == 1:
            finding = (
                f"{phrases[0]}{'' if case.rank == 1 else ' on ' + axes_phrase(names, changed)}"
            )
        else:
            finding = "; ".join(f"{names[a]} {chosen[a][1]}" for a in changed)
        tier = 0 if len(changed) in (1, case.rank) else 1
        fields = {"pads": pads, "tail": tail, "head": head}
        changes.append(Change("padding", fields, f"{label}: {finding}", tier))
    return changes
