"""Variant rows: for every case, how much each mutation changes the result, and whether it should.

`flipped` is computed as scipy naturally produces it (signal.convolve2d on the kernel as given,
exactly what the seed's answer ran); every other mutation is applied to the reference
(harness.mutations). Each row's `expected` comes from the mutation's predicate (`agree` when the
operator alone makes it invisible), `observed` from the metrics, and:

| expected | observed | status |
| --- | --- | --- |
| agree | agree | ok (the operator hides the mutation; a blind spot of this case) |
| diverge | diverge | ok (the case detects the mutation; `cause` names it) |
| diverge | agree | hidden (the semantics differ but this case's data cannot show it) |
| agree | diverge | unexpected_divergence (the predicate is wrong) |
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.cases import Case
from harness.data import CaseArrays
from harness.mutations import MUTATIONS, Mutation, mutated_output


@dataclass(frozen=True)
class PlannedVariant:
    name: str
    implementation: str


def producer(mutation: Mutation) -> str:
    return "scipy" if mutation.name == "flipped" else "reference"


def planned_variants(case: Case) -> list[PlannedVariant]:
    """The variant rows a case gets, in report order."""
    return [PlannedVariant(m.name, producer(m)) for m in MUTATIONS.values()]


def variant_output(case: Case, arrays: CaseArrays, mutation: Mutation, baseline: np.ndarray,
                   maps=None):
    if mutation.name == "flipped":
        from harness.implementations import scipy_conv2d

        output = scipy_conv2d(
            np.array(arrays.input), np.array(arrays.weight),
            None if arrays.bias is None else np.array(arrays.bias),
            case.stride, case.padding, case.dilation, case.groups, case.padding_mode, flip=True,
            output_maps=maps,
        )
        return np.asarray(output, dtype=np.float64)
    return mutated_output(case, arrays, mutation.semantics, baseline)


def variant_records(case: Case, arrays: CaseArrays, reference_result, maps=None) -> list:
    """One row per mutation; `maps` samples the scipy-computed `flipped` row on large cases."""
    from harness.runner import make_record

    records = []
    for mutation in MUTATIONS.values():
        invisible = mutation.invisible(case, arrays)
        row_maps = maps if producer(mutation) == "scipy" else None
        output = variant_output(case, arrays, mutation, reference_result.output, row_maps)
        record = make_record(
            case, producer(mutation), mutation.name, reference_result, output,
            expected="agree" if invisible else "diverge", maps=row_maps,
        )
        if record.expected == "diverge" and record.observed == "agree":
            record.status = "hidden"
            record.message = (
                f"hidden: {mutation.name} changes the semantics but this case's data cannot show "
                f"it; {record.message}"
            )
        elif record.observed == "diverge":
            record.cause = mutation.cause
            if invisible:
                record.message = (
                    f"the predicate says {mutation.name} is invisible here, yet it diverges; "
                    f"{record.message}"
                )
        elif invisible:
            record.message = f"{mutation.name} is invisible for this operator; {record.message}"
        records.append(record)
    return records
