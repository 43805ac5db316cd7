"""Family members by rank: each mutation (harness.explaining.mutations) and, at ranks 2 and 3, the
same change restricted to some of the spatial axes, as the families name them when they explain a
divergence (a kernel flipped along W only, a stride phase on H only, dilation ignored on D only,
'same''s extra pad before on W only).

A member is named after its mutation, with the axes it is restricted to in brackets: `flipped[W]`,
`stride_phase[H]`; the mutation's name alone acts on every axis. The kernel is flipped along every
non-empty set of axes; same_extra_top_left, stride_phase and no_dilation are restricted to one axis
at a time. Other mutations (depth, groups, bias, boundary, conjugation, padding_swapped) have no
per-axis form; padding_swapped has nothing to swap in 1-D and is no member there. Three members have
no variant row: `first_channel` (depth_sum: each output reads only the first input channel of its
group), `groups_interleaved_inputs` and `groups_reversed` (groups: the input channels a group reads,
as the groups family names them; cases with groups > 1 only). `member_coverage`
(harness.reporting.coverage) asks which cases of each rank each member changes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

from harness.cases.case import AXIS_NAMES, Case
from harness.explaining.mutations import MUTATIONS, Semantics
from harness.explaining.orientations import axes_phrase

PER_AXIS = ("flipped", "same_extra_top_left", "stride_phase", "no_dilation")
WORDS = {
    "flipped": "kernel flipped along {axes}",
    "same_extra_top_left": "'same''s extra pad before instead of after on {axes}",
    "stride_phase": "outputs sampled at i*s + 1 instead of i*s on {axes}",
    "no_dilation": "dilation ignored on {axes}",
}


@dataclass(frozen=True)
class Member:
    name: str
    mutation: str  # the mutation it restricts, or the one it is listed after
    cause: str
    words: str
    semantics: Semantics
    applies: Callable[[Case], bool]


def _grouped(case: Case) -> bool:
    return case.groups > 1


# members of a family that no variant row has: another channel mapping, one channel only
EXTRA = (
    Member(
        "first_channel",
        "depth_mean",
        "depth_sum",
        "each output reads only the first input channel of its group",
        Semantics(depth="first"),
        lambda case: True,
    ),
    Member(
        "groups_interleaved_inputs",
        "groups_interleaved",
        "groups",
        "group g reads input channels g, g+groups, ... (not a contiguous block)",
        Semantics(group_inputs="interleaved"),
        _grouped,
    ),
    Member(
        "groups_reversed",
        "groups_interleaved",
        "groups",
        "output channel o reads group groups-1 - o // (C_out/groups)",
        Semantics(group_inputs="reversed"),
        _grouped,
    ),
)


def _axis_sets(mutation: str, rank: int) -> list[tuple[int, ...]]:
    """The proper non-empty sets of axes a member of this mutation is restricted to."""
    if rank == 1 or mutation not in PER_AXIS:
        return []
    sizes = range(1, rank) if mutation == "flipped" else (1,)
    return [s for size in sizes for s in itertools.combinations(range(rank), size)]


@cache
def members(rank: int) -> tuple[Member, ...]:
    """Every member at this rank, in the order of the mutations, each mutation's every-axis
    member first."""
    names = AXIS_NAMES[rank]
    found = []
    for mutation in MUTATIONS.values():
        if mutation.name == "padding_swapped" and rank == 1:
            continue
        words = mutation.doc.split(". ")[0].split(":")[0]
        if mutation.name in WORDS:
            words = WORDS[mutation.name].format(axes="every axis" if rank > 1 else names[0])
        found.append(
            Member(
                mutation.name,
                mutation.name,
                mutation.cause,
                words,
                mutation.semantics,
                mutation.applies,
            )
        )
        found += [m for m in EXTRA if m.mutation == mutation.name]
        for axes in _axis_sets(mutation.name, rank):
            found.append(
                Member(
                    f"{mutation.name}[{','.join(names[a] for a in axes)}]",
                    mutation.name,
                    mutation.cause,
                    WORDS[mutation.name].format(axes=axes_phrase(names, axes)),
                    replace(mutation.semantics, axes=axes),
                    mutation.applies,
                )
            )
    return tuple(found)
