"""Registry coverage: which cases detect each mutation.

A case detects a mutation when its variant row diverges from the baseline. A registry in which
no case detects some mutation cannot catch that bug in an implementation (a registry of only
kernels equal to their flip cannot catch a flip); `conv-harness coverage` warns and exits 1.
Forward cases of every spatial rank count; transposed cases have rows of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.cases import Case
from harness.mutations import MUTATIONS


@dataclass
class MutationCoverage:
    name: str
    cause: str
    detecting: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)


def registry_coverage(cases: Sequence[Case]) -> list[MutationCoverage]:
    from harness.baseline import compute_baseline
    from harness.data import materialize
    from harness.variants import variant_records

    table = {name: MutationCoverage(name, m.cause) for name, m in MUTATIONS.items()}
    for case in cases:
        if not case.computes or case.transposed:
            continue
        arrays = materialize(case)
        for record in variant_records(case, arrays, compute_baseline(case, arrays)):
            entry = table[record.variant]
            if record.observed == "diverge":
                entry.detecting.append(case.id)
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
