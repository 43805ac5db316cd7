"""Variant rows: for every case, how much each mutation changes the result, and whether it should.

Every mutation is applied to the reference (harness.explaining.mutations) on the case's own data, so
a variant row differs from the baseline by that mutation alone (the `flipped` row is the true
convolution `scipy.signal.convolve` computes, without scipy's zero-spread dilated kernel turning
a NaN input into NaN outputs the flip never reads). Forward cases of every rank (conv1d, conv2d,
conv3d) get the same rows, one per mutation, each on all spatial axes at once; a mutation with
nothing to change in a rank (padding_swapped in 1-D) is an ok, invisible row. Each row's
`observed` comes from the metrics;
when the mutation does not change this case's output, the row asks whether it could change any
output of this operator (configuration and weights): its predicate, and failing that, the
mutated operator applied to a random input.

| observed | the mutation, on a random input | expected | status |
| --- | --- | --- | --- |
| diverge | (not needed) | diverge | ok (the case detects the mutation; `cause` names it) |
| agree | changes nothing either | agree | ok (invisible for this operator: a blind spot) |
| agree | changes the output | diverge | hidden (this case's data hides it) |

A mutation that makes the configuration impossible (padding swapped between axes so that the
kernel no longer fits) is a visible change: the row diverges with the mutation's cause and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from harness.cases.data import CaseArrays
from harness.cases.loading import Case
from harness.explaining.mutations import MUTATIONS, Mutation, Semantics, mutated_output
from harness.verdicts.records import harness_fault_text, make_record

PRODUCER = "reference"
RANDOM_INPUT_SEED = 20240229


@dataclass(frozen=True)
class PlannedVariant:
    name: str
    implementation: str


def producer(mutation: Mutation) -> str:
    return PRODUCER


def planned_variants(case: Case) -> list[PlannedVariant]:
    """The variant rows a case gets, in report order."""
    if case.transposed:
        from harness.running.transposed import TRANSPOSED_VARIANTS

        return [PlannedVariant(name, PRODUCER) for name in TRANSPOSED_VARIANTS]
    return [PlannedVariant(m.name, producer(m)) for m in MUTATIONS.values() if m.applies(case)]


class ImpossibleMutation(Exception):
    """The mutated semantics cannot be computed for this case (the kernel no longer fits)."""


def variant_output(
    case: Case, arrays: CaseArrays, mutation: Mutation, baseline: np.ndarray
) -> np.ndarray:
    try:
        return mutated_output(case, arrays, mutation.semantics, baseline)
    except ValueError as error:
        raise ImpossibleMutation(str(error)) from None


def changes_operator(case: Case, arrays: CaseArrays, mutation: Mutation) -> bool:
    """Whether the mutation changes this operator's output for a random input.

    Convolution is linear in its input, so two operators that agree on a generic random input
    agree on every input; what is compared is the mutated and the plain reference in float64.
    """
    if mutation.invisible(case, arrays):
        return False
    rng = np.random.default_rng(RANDOM_INPUT_SEED)
    shape = arrays.input64.shape
    random_input = rng.standard_normal(shape)
    if np.iscomplexobj(arrays.input64):
        random_input = random_input + 1j * rng.standard_normal(shape)
    probe = replace(arrays, input64=random_input)
    plain = mutated_output(case, probe, Semantics())
    try:
        changed = mutated_output(case, probe, mutation.semantics, plain)
    except ValueError:
        return True
    if changed.shape != plain.shape:
        return True
    scale = np.nanmax(np.abs(np.where(np.isinf(plain), np.nan, plain)), initial=0.0)
    with np.errstate(invalid="ignore"):
        gap = np.abs(changed - plain)
    gap = np.where(np.isnan(changed) & np.isnan(plain), 0.0, gap)
    gap = np.where(np.isinf(changed) & (changed == plain), 0.0, gap)
    return bool(np.any(~(gap <= 1e-9 * scale)))


def variant_records(case: Case, arrays: CaseArrays, reference_result) -> list:
    """One row per mutation."""
    records = []
    for mutation in MUTATIONS.values():
        if not mutation.applies(case):
            continue
        try:
            records.append(_variant_record(case, arrays, reference_result, mutation))
        except Exception as error:  # the harness's own fault: recorded, the run goes on
            records.append(
                make_record(
                    case,
                    producer(mutation),
                    mutation.name,
                    reference_result,
                    None,
                    status="error",
                    expected="diverge",
                    message=harness_fault_text(f"computing the {mutation.name} variant", error),
                )
            )
    return records


def _variant_record(case: Case, arrays: CaseArrays, reference_result, mutation: Mutation):
    name = producer(mutation)
    try:
        output = variant_output(case, arrays, mutation, reference_result.output)
    except ImpossibleMutation as error:
        record = make_record(
            case,
            name,
            mutation.name,
            reference_result,
            None,
            status="ok",
            expected="diverge",
            message=f"{mutation.name} makes this configuration impossible "
            f"({error}): an implementation with these semantics "
            "fails or returns another shape",
        )
        record.observed = "diverge"
        record.cause = mutation.cause
        return record
    record = make_record(case, name, mutation.name, reference_result, output, expected="diverge")
    if record.observed == "diverge":
        record.cause = mutation.cause
    elif changes_operator(case, arrays, mutation):
        record.status = "hidden"
        record.message = (
            f"hidden: {mutation.name} changes this operator's output, but this "
            f"case's data cannot show it; {record.message}"
        )
    else:
        record.expected = "agree"
        record.status = "ok"
        if arrays.input64.shape[0] == 0:
            record.message = (
                f"{mutation.name} is invisible here: the batch is empty (N = 0), so no output "
                f"element could show it; {record.message}"
            )
        else:
            record.message = (
                f"{mutation.name} is invisible for this operator (no input could show "
                f"it); {record.message}"
            )
    return record
