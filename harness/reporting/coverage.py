"""Registry coverage: which cases detect each mutation.

A case detects a mutation when its variant row diverges from the baseline; a family (a cause) is
detected at a rank when some case of that rank detects one of its mutations. A registry in which
no case detects some mutation cannot catch that bug in an implementation (a registry of only
kernels equal to their flip cannot catch a flip); `conv-harness coverage` warns and exits 1.
Forward cases of every spatial rank count; transposed cases have rows of their own.
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


def coverage_lines(
    table: Sequence[MutationCoverage], case_count: int
) -> tuple[list[str], list[str]]:
    """(report lines, warning lines)."""
    width = max(len(entry.name) for entry in table)
    lines = [f"{'mutation':<{width}}  {'cause':<11}  detected by (of {case_count} cases)"]
    warnings = []
    for entry in table:
        examples = ", ".join(entry.detecting[:3]) + (" ..." if len(entry.detecting) > 3 else "")
        lines.append(
            f"{entry.name:<{width}}  {entry.cause:<11}  {len(entry.detecting):>4}  {examples}"
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
    families: dict[str, dict[str, set[str]]] = {}
    for entry in table:
        per_op = families.setdefault(entry.cause, {op: set() for op in present})
        for case_id, op in zip(entry.detecting, entry.detecting_ops, strict=True):
            if op in per_op:
                per_op[op].add(case_id)
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
