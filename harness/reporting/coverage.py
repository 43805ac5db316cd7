"""Registry coverage: which cases detect each mutation, each family, and each family member.

A case detects a mutation when its variant row diverges from the baseline; a family (a cause) is
detected at a rank when some case of that rank detects one of its mutations. A registry in which
no case detects some mutation cannot catch that bug in an implementation (a registry of only
kernels equal to their flip cannot catch a flip); `conv-harness coverage` warns and exits 1.
Forward cases of every spatial rank count; transposed cases have rows of their own.

A mutation acts on every spatial axis at once, so a case detecting `flipped` (the 180-degree
rotation) may still miss a kernel flipped along W only. `member_coverage` asks, per rank, which
cases each family member (harness.explaining.members: a mutation, or its change on some axes only)
changes beyond the case's tolerance; a member no case of its rank detects is a gap (a note, or a
warning and exit 1 with `coverage --strict-members`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.cases.loading import Case
from harness.explaining.mutations import MUTATIONS


@dataclass
class MutationCoverage:
    name: str
    cause: str
    detecting: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    detecting_ops: list[str] = field(default_factory=list)  # each detecting case's op


def registry_coverage(cases: Sequence[Case]) -> list[MutationCoverage]:
    from harness.cases.data import materialize
    from harness.running.variants import variant_records
    from harness.verdicts.baseline import compute_baseline

    table = {name: MutationCoverage(name, m.cause) for name, m in MUTATIONS.items()}
    for case in cases:
        if not case.computes or case.transposed:
            continue
        arrays = materialize(case)
        for record in variant_records(case, arrays, compute_baseline(case, arrays)):
            entry = table[record.variant]
            if record.observed == "diverge":
                entry.detecting.append(case.id)
                entry.detecting_ops.append(case.op)
            elif record.status == "hidden":
                entry.hidden.append(case.id)
    return list(table.values())


def examples(case_ids: Sequence[str], shown: int = 3) -> str:
    """The first few case ids, and `...` when there are more."""
    return ", ".join(case_ids[:shown]) + (" ..." if len(case_ids) > shown else "")


def families_by_operation(
    table: Sequence[MutationCoverage], ops: Sequence[str]
) -> dict[str, dict[str, set[str]]]:
    """For each cause, the cases of each operation in `ops` whose variant rows detect one of its
    mutations."""
    families: dict[str, dict[str, set[str]]] = {}
    for entry in table:
        per_op = families.setdefault(entry.cause, {op: set() for op in ops})
        for case_id, op in zip(entry.detecting, entry.detecting_ops, strict=True):
            if op in per_op:
                per_op[op].add(case_id)
    return families


def coverage_lines(
    table: Sequence[MutationCoverage], case_count: int
) -> tuple[list[str], list[str]]:
    """(report lines, warning lines)."""
    width = max(len(entry.name) for entry in table)
    lines = [f"{'mutation':<{width}}  {'cause':<11}  detected by (of {case_count} cases)"]
    warnings = []
    for entry in table:
        lines.append(
            f"{entry.name:<{width}}  {entry.cause:<11}  {len(entry.detecting):>4}  "
            f"{examples(entry.detecting)}"
        )
        if not entry.detecting:
            hint = "invisible" + MUTATIONS[entry.name].doc.split("Invisible", 1)[-1].rstrip(".")
            warnings.append(
                f"warning: no case detects {entry.name} (cause {entry.cause}); add a case where it "
                f"shows ({hint})"
            )
    return lines, warnings


def family_rank_lines(
    table: Sequence[MutationCoverage], ops: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(lines, warnings) of the family-by-rank table: for each cause, the cases of each operation
    (conv1d, conv2d, conv3d present in the registry) whose variant rows detect a mutation of it;
    a warning for each family no case of an operation detects."""
    present = [op for op in ("conv1d", "conv2d", "conv3d") if op in ops]
    if not present:
        return [], []
    families = families_by_operation(table, present)
    width = max(len("family"), *(len(cause) for cause in families))
    lines = [
        "",
        f"{'family':<{width}}  " + "  ".join(f"{op:>6}" for op in present) + "  (detecting cases)",
    ]
    warnings = []
    for cause, per_op in families.items():
        lines.append(f"{cause:<{width}}  " + "  ".join(f"{len(per_op[op]):>6}" for op in present))
        for op in present:
            if not per_op[op]:
                warnings.append(
                    f"warning: no {op} case detects a {cause} mutation; add a {op} case where "
                    "one shows"
                )
    return lines, warnings


@dataclass
class MemberCoverage:
    """One family member at one rank: the cases of that rank it changes beyond tolerance, and how
    many cases of that rank it was tried on."""

    rank: int
    name: str
    cause: str
    words: str
    detecting: list[str] = field(default_factory=list)
    tried: int = 0


def member_coverage(cases: Sequence[Case]) -> list[MemberCoverage]:
    """For each rank of the registry's forward cases and each family member of that rank
    (harness.explaining.members), the cases whose output the member changes beyond the case's
    tolerance (or makes impossible), computed on the case's own data as a variant row is."""
    from harness.cases.data import materialize
    from harness.explaining.members import members
    from harness.explaining.mutations import mutated_output
    from harness.verdicts.baseline import compute_baseline
    from harness.verdicts.records import make_record

    forward = [c for c in cases if c.computes and not c.transposed]
    table = {
        (rank, m.name): MemberCoverage(rank, m.name, m.cause, m.words)
        for rank in sorted({c.rank for c in forward})
        for m in members(rank)
    }
    for case in forward:
        arrays = materialize(case)
        reference_result = compute_baseline(case, arrays)
        for member in members(case.rank):
            if not member.applies(case):
                continue
            entry = table[(case.rank, member.name)]
            entry.tried += 1
            try:
                output = mutated_output(case, arrays, member.semantics, reference_result.output)
            except ValueError:  # the configuration becomes impossible: a visible change
                entry.detecting.append(case.id)
                continue
            record = make_record(
                case, "reference", member.name, reference_result, output, expected="diverge"
            )
            if record.observed == "diverge":
                entry.detecting.append(case.id)
    return list(table.values())


def member_lines(table: Sequence[MemberCoverage]) -> tuple[list[str], list[str]]:
    """(lines, gaps) of the member-by-rank table: for each rank and family member, how many
    cases of that rank detect it (and the first few); a gap for each member no case of its rank
    detects ("no conv3d case detects flipped[W] ..."; a member that applies to no case,
    conjugated without complex cases, is listed with 0 and is no gap: the mutation table warns
    of it)."""
    if not table:
        return [], []
    width = max(len("member"), *(len(e.name) for e in table))
    lines = [
        "",
        f"rank  {'member':<{width}}  {'cause':<11}  detected by (of the rank's cases)",
    ]
    warnings = []
    for entry in table:
        lines.append(
            f"{entry.rank:>4}  {entry.name:<{width}}  {entry.cause:<11}  "
            f"{len(entry.detecting):>4}  {examples(entry.detecting)}".rstrip()
        )
        if entry.tried and not entry.detecting:
            warnings.append(
                f"no conv{entry.rank}d case detects {entry.name} ({entry.words}; cause "
                f"{entry.cause}); add a conv{entry.rank}d case where it shows"
            )
    return lines, warnings
