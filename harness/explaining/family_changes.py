"""Each geometric family's alternatives to torch's reading of a case, with the words that name
them, for any spatial rank.

Per-axis families (stride and sampling phase, padding, dilation) start from a few options per
axis (one more, one fewer, another axis's value, ...). In 1-D and 2-D every combination of the
axes' options is a change; in 3-D that product explodes (14**3 paddings), so the changes are:
one axis changed, the same change on every axis, two axes swapped, the same change on two axes,
in that order (harness.explaining.readings tries them in order, within a budget). 2-D words are the
historical ones ("stride applied as (3, 2) instead of (2, 3)"); other ranks name the axes
("... on H only", "outputs sampled at i*s + 1 instead of i*s on L").
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from harness.cases.case import Case
from harness.explaining.orientations import axes_phrase, orientation_tier, orientations

GROUP_MAPS = {
    "torch": "output channel o reads group o // (C_out/groups)",
    "interleaved_outputs": "output channel o reads group o % groups (not o // (C_out/groups))",
    "interleaved_inputs": "group g reads input channels g, g+groups, ... (not a contiguous block)",
    "reversed": "output channel o reads group groups-1 - o // (C_out/groups)",
}


BOUNDARY_MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")


@dataclass(frozen=True)
class Change:
    """One family's departure from torch's reading: its cause, fields and words."""

    cause: str
    fields: dict = field(hash=False, compare=False)
    finding: str = ""
    tier: int = field(default=0, compare=False)  # 0 first: one axis or all (always 0 up to 2-D)


Option = tuple  # (value, kinds: frozenset, words): one axis's alternative


def assignments(base: tuple, options: list[list[Option]]) -> list[tuple]:
    """Per-axis (value, words) to try, words '' where an axis keeps its value; `options[a]`
    lists axis a's values (its own among them, kinds naming what each is: '+1', ('from', b)).
    Every combination in 1-D and 2-D, in product order; in higher ranks, after the unchanged
    reading: one axis changed, every axis changed alike, two axes swapped, two changed alike."""
    rank = len(base)
    if rank <= 2:
        return [tuple((v, w) for v, _, w in combo) for combo in itertools.product(*options)]
    found: dict[tuple, tuple] = {tuple(base): tuple((v, "") for v in base)}

    def add(changed: dict) -> None:
        chosen = tuple(changed.get(a, (base[a], "")) for a in range(rank))
        found.setdefault(tuple(v for v, _ in chosen), chosen)

    def alike(axes: tuple[int, ...]) -> None:
        kinds = dict.fromkeys(k for _, ks, _ in options[axes[0]] for k in ks)
        for kind in kinds:
            entries = [next((e for e in options[a] if kind in e[1]), None) for a in axes]
            found_all = [e for e in entries if e is not None]
            if len(found_all) == len(axes):
                add(
                    {
                        a: (e[0], e[2])
                        for a, e in zip(axes, found_all, strict=True)
                        if e[0] != base[a]
                    }
                )

    for a in range(rank):
        for value, _, words in options[a]:
            if value != base[a]:
                add({a: (value, words)})
    alike(tuple(range(rank)))
    for a, b in itertools.combinations(range(rank), 2):
        to_a = next((e for e in options[a] if e[0] == base[b]), None)
        to_b = next((e for e in options[b] if e[0] == base[a]), None)
        if base[a] != base[b] and to_a is not None and to_b is not None:
            add({a: (to_a[0], to_a[2]), b: (to_b[0], to_b[2])})
    for pair in itertools.combinations(range(rank), 2):
        alike(pair)
    return list(found.values())


def _numbers(base: tuple[int, ...], extra) -> list[list[Option]]:
    """Per-axis integer options: the axis's own value, `extra(value)` (kind -> value) and every
    other axis's value, sorted (the order 2-D has always tried)."""
    options = []
    for a, own in enumerate(base):
        kinds: dict[int, set] = {own: set()}
        others = [(("from", b), v) for b, v in enumerate(base) if b != a]
        for kind, value in [*extra(own).items(), *others]:
            kinds.setdefault(value, set()).add(kind)
        options.append([(v, frozenset(kinds[v]), "") for v in sorted(kinds)])
    return options


def _tier(changed: list[int], rank: int) -> int:
    """0 for a change of one axis or of every axis, 1 for two axes of three."""
    return 0 if len(changed) in (0, 1, rank) else 1


def _fmt(values: tuple[int, ...]) -> str:
    return str(values[0]) if len(values) == 1 else str(values)


def _axis_words(
    new: tuple[int, ...], old: tuple[int, ...], names: tuple[str, ...], unit: str = ""
) -> str:
    """'3 instead of 2 on L', '(2, 3, 2) instead of (2, 2, 2) on H only', '(2, 1, 1) instead of
    (1, 2, 1) on D and H (swapped)'."""
    changed = [a for a in range(len(new)) if new[a] != old[a]]
    words = f"{_fmt(new)}{unit} instead of {_fmt(old)} on {axes_phrase(names, changed)}"
    if (
        len(changed) == 2
        and new[changed[0]] == old[changed[1]]
        and new[changed[1]] == old[changed[0]]
    ):
        words += " (swapped)"
    return words


def _phases(stride: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Sampling phases per axis: all of them in 1-D and 2-D; in 3-D one axis at a time, then the
    same phase on every strided axis."""
    if len(stride) <= 2:
        return list(itertools.product(*(range(s) for s in stride)))
    zero = (0,) * len(stride)
    found = [zero]
    for a, s in enumerate(stride):
        found += [(*zero[:a], p, *zero[a + 1 :]) for p in range(1, s)]
    strided = [a for a, s in enumerate(stride) if s > 1]
    if len(strided) > 1:
        for p in range(1, min(stride[a] for a in strided)):
            found.append(tuple(p if a in strided else 0 for a in range(len(stride))))
    return list(dict.fromkeys(found))


def stride_changes(case: Case) -> list[Change]:
    base, names, rank = case.stride, case.axis_names, case.rank
    options = _numbers(base, lambda s: {"ignored": 1, "-1": max(1, s - 1), "+1": s + 1})
    changes = []
    for chosen in assignments(base, options):
        stride = tuple(v for v, _ in chosen)
        for phase in _phases(stride):
            for fill in (False, True) if any(phase) else (False,):
                if (stride, phase) == (base, (0,) * rank):
                    continue
                words = []
                if stride != base:
                    applied = (
                        f"{stride} instead of {base}"
                        if rank == 2
                        else _axis_words(stride, base, names)
                    )
                    words.append(f"stride applied as {applied}")
                if any(phase):
                    shifted = [a for a in range(rank) if phase[a]]
                    offset = _fmt(phase)
                    if rank != 2 and len({phase[a] for a in shifted}) == 1:
                        offset = str(phase[shifted[0]])  # the same phase on every shifted axis
                    sampled = f"outputs sampled at i*s + {offset} instead of i*s"
                    if rank != 2:
                        sampled += f" on {axes_phrase(names, shifted)}"
                    words.append(sampled + (" (zeros read past the end)" if fill else ""))
                fields = {"stride": stride, "phase": phase, "phase_fill": fill}
                moved = [a for a in range(rank) if stride[a] != base[a]]
                shifted = [a for a in range(rank) if phase[a]]
                tier = max(_tier(moved, rank), _tier(shifted, rank))
                if rank > 2 and moved and shifted:
                    tier += 1
                changes.append(Change("stride", fields, "; ".join(words), tier))
    return changes


def dilation_changes(case: Case) -> list[Change]:
    base, names, rank = case.dilation, case.axis_names, case.rank
    options = _numbers(base, lambda d: {"ignored": 1, "-1": max(1, d - 1), "+1": d + 1})
    changes = []
    for chosen in assignments(base, options):
        dilation = tuple(v for v, _ in chosen)
        if dilation == base:
            continue
        changed = [a for a in range(rank) if dilation[a] != base[a]]
        if rank == 2:
            spacing = (
                "dilation ignored (taps adjacent)"
                if dilation == (1, 1)
                else f"taps {dilation} apart instead of {base}"
            )
        elif all(dilation[a] == 1 for a in changed):
            spacing = f"dilation ignored (taps adjacent) on {axes_phrase(names, changed)}"
        else:
            spacing = f"taps {_axis_words(dilation, base, names, ' apart')}"
        changes.append(Change("dilation", {"dilation": dilation}, spacing, _tier(changed, rank)))
    return changes


def _pad_options(case: Case, axis: int) -> list[Option]:
    """Axis `axis`'s (before, after) pads: torch's first, then the misreadings, each once."""
    pads, names = case.pads, case.axis_names
    before, after = pads[2 * axis], pads[2 * axis + 1]
    kernel, dilation, padding = case.kernel[axis], case.dilation[axis], case.padding
    total = before + after
    same_total = dilation * (kernel - 1)
    options: list[tuple[tuple[int, int], object, str]] = []
    if padding == "same" or padding == "valid":
        raw = kernel - 1
        options.append(
            ((raw // 2, raw - raw // 2), "undilated", "'same' from the undilated kernel")
        )
    if padding == "valid":
        pair = (same_total // 2, same_total - same_total // 2)
        options.append((pair, "valid_as_same", "'valid' read as 'same'"))
    swapped_words = (
        "the extra pixel of 'same' before instead of after"
        if padding == "same"
        else "on the opposite sides"
    )
    options += [
        ((after, before), "swapped", swapped_words),
        ((before + 1, after), "+before", "one more before"),
        ((before, after + 1), "+after", "one more after"),
        ((before - 1, after), "-before", "one fewer before"),
        ((before, after - 1), "-after", "one fewer after"),
        ((before + 1, after + 1), "+both", "one more on both sides"),
        ((before - 1, after - 1), "-both", "one fewer on both sides"),
        ((0, total), "all_after", "all after"),
        ((total, 0), "all_before", "all before"),
        ((0, 0), "none", "none"),
    ]
    for b in range(case.rank):
        if b != axis:
            words = "taken from the other axis" if case.rank == 2 else f"taken from {names[b]}"
            options.append(((pads[2 * b], pads[2 * b + 1]), ("from", b), words))
    kept: dict[tuple[int, int], Option] = {(before, after): ((before, after), frozenset(), "")}
    for pair, kind, words in options:
        if min(pair) >= 0:
            value, kinds, first = kept.setdefault(pair, (pair, frozenset(), words))
            kept[pair] = (value, kinds | {kind}, first)
    return list(kept.values())


def padding_changes(case: Case) -> list[Change]:
    base, names, rank = case.pads, case.axis_names, case.rank
    pairs = tuple((base[2 * a], base[2 * a + 1]) for a in range(rank))
    header = {
        1: "pads (before, after)",
        2: "pads (top, bottom, left, right)",
        3: "pads (before, after) per axis (D, H, W)",
    }[rank]
    changes = []
    for chosen in assignments(pairs, [_pad_options(case, a) for a in range(rank)]):
        if not any(words for _, words in chosen):
            continue
        pads = tuple(p for pair, _ in chosen for p in pair)
        sides = "; ".join(
            f"{axis} {words}" for axis, (_, words) in zip(names, chosen, strict=True) if words
        )
        finding = f"{header} {pads} instead of {base}: {sides}"
        changed = [a for a, (_, words) in enumerate(chosen) if words]
        changes.append(Change("padding", {"pads": pads}, finding, _tier(changed, rank)))
    return changes


def with_same_pads(case: Case, combo: tuple, pads: tuple[int, ...]) -> tuple:
    """The changes of a reading of a 'same' case, their last finding saying the pads 'same' then
    takes where they differ from torch's (a kernel read undilated pads (1, 1) where torch pads
    (2, 2)): what the reading measures, not only the family that moved them."""
    base = case.pads
    if pads == base or not combo:
        return combo
    moved = [
        f"{name} ({pads[2 * a]}, {pads[2 * a + 1]}) where torch pads "
        f"({base[2 * a]}, {base[2 * a + 1]})"
        for a, name in enumerate(case.axis_names)
        if pads[2 * a : 2 * a + 2] != base[2 * a : 2 * a + 2]
    ]
    last = combo[-1]
    words = f"{last.finding}; 'same' then pads {', '.join(moved)}"
    return (*combo[:-1], Change(last.cause, last.fields, words, last.tier))


def geometric_changes(case: Case) -> dict[str, list[Change]]:
    """Every family's alternatives to torch's reading of this case, by family name."""
    changes: dict[str, list[Change]] = {}
    changes["orientation"] = [
        Change("kernel_flip", {"orientation": name}, o.words, orientation_tier(o))
        for name, o in orientations(case.rank).items()
        if name != "identity"
    ]
    changes["stride"] = stride_changes(case)
    changes["padding"] = padding_changes(case)
    changes["dilation"] = dilation_changes(case)
    changes["groups"] = (
        [
            Change("groups", {"groups_map": m}, words)
            for m, words in GROUP_MAPS.items()
            if m != "torch"
        ]
        if case.groups > 1
        else []
    )
    changes["boundary"] = (
        [
            Change(
                "boundary", {"mode": m}, f"padding filled as '{m}' instead of '{case.padding_mode}'"
            )
            for m in BOUNDARY_MODES
            if m != case.padding_mode
        ]
        if any(case.pads)
        else []
    )
    return changes
