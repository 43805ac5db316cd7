"""One case to its Records: every implementation's `as_is` row and the variant rows.

For each case: materialise its arrays (rounded to the case dtype), compute the baseline, call
every implementation (harness.computations.calling), compare (harness.verdicts.records), explain a
divergence (harness.explaining.explanation), apply the case's declarations (`diverges`, `expected`,
`rejects`), and add the variant rows. Nothing an implementation does, and no fault of the harness's
own, escapes as an exception: each becomes a row that says what happened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from harness.cases.case import Case
from harness.cases.data import CaseArrays, expected_array, materialize
from harness.computations.calling import (
    Outcome,
    call_implementation,
    complex_refusal,
    one_line,
)
from harness.computations.cost import (
    DEFAULT_MAX_MEMORY,
    maps_mask,
    memory_refusal,
    sampled_maps,
)
from harness.computations.implementation import Implementation
from harness.computations.implementations import harness_pads_first
from harness.explaining.explanation import explain_divergence
from harness.running.backward import backward_records
from harness.running.layout_rows import (
    gradient_layout_records,
    layout_difference,
    mark_layout,
    planned_operation_layouts,
    transposed_layout_records,
)
from harness.running.transposed import transposed_records
from harness.running.variants import variant_records
from harness.verdicts.baseline import Baseline, compute_baseline
from harness.verdicts.compare import compare, describe
from harness.verdicts.records import (
    ACCEPTS_INVALID,
    Record,
    baseline_label,
    case_columns,
    harness_fault_text,
    make_record,
    shape_text,
)


@dataclass(frozen=True)
class RunOptions:
    """How to run: variant rows, a per-call time limit, the memory budget per case, and whether a
    plug-in that accepts a case declared `rejects` fails the run."""

    variants: bool = True
    timeout: float | None = None  # seconds per implementation call (main thread only)
    max_memory: int = DEFAULT_MAX_MEMORY
    strict_rejections: bool = False  # ACCEPTS_INVALID rows count as failing (Record.failed)
    backward: bool = False  # also the gradients' rows (harness.running.backward)
    # memory layouts (harness.cases.layouts) for the implementations that take tensors; a case's own
    # `layouts` field takes the place of these
    layouts: tuple[str, ...] = ()


DEFAULT_OPTIONS = RunOptions()


def golden_problem(case: Case, output: np.ndarray, baseline: Baseline) -> str:
    """'' if the output matches the case's golden `expected`, else a description."""
    golden = expected_array(case)
    if golden is None:
        return ""
    metrics = compare(output, golden, baseline.tolerance)
    if metrics.agree:
        return ""
    return "differs from the case's expected output: " + describe(
        metrics, baseline.tolerance, output.shape, golden.shape
    )


def _undefined(name: str, op: str) -> Callable:
    def missing(*args, **kwargs):
        raise NotImplementedError(f"{name} defines no {op}")

    return missing


def operation_for(implementation: Implementation, case: Case) -> Callable:
    """The implementation's function for the case's operation (conv1d, conv2d, conv3d or a
    transposed one); one that is `unsupported` where it defines none (a
    `module:conv2d_backward` names the backward alone, never a forward conv2d)."""
    return implementation.operation(case.op) or _undefined(implementation.name, case.op)


def rejection_records(
    case: Case,
    implementations: Sequence[Implementation],
    timeout: float | None = None,
    *,
    strict_rejections: bool = False,
) -> list[Record]:
    """Rows for a case that declares `rejects`: every implementation must refuse it, as the
    validator predicts; torch's message must contain the declared substring (if one is given).

    The implementations shipped with the harness (built-ins and peers) must refuse: accepting is an
    `error`. A plug-in need not validate its arguments: accepting is ACCEPTS_INVALID, a failing
    row only with `strict_rejections`.
    """
    arrays = materialize(case)
    records = []
    for implementation in implementations:
        name = implementation.name
        func = operation_for(implementation, case)
        outcome = call_implementation(func, case, arrays, timeout)
        refused = outcome.status in ("error", "unsupported") and outcome.output is None
        problem, failure = "", "error"
        accepts = name in case.diverges  # documented: this implementation accepts the case
        if outcome.died:  # ending the process is no refusal
            refused, problem = False, outcome.message
        elif accepts:
            problem = (
                f"declared to accept the case, yet refused it: {outcome.message}" if refused else ""
            )
        elif case.rejection is None:
            problem = (
                "the case declares `rejects` but the validator finds nothing torch would "
                "reject"
                + (
                    "; yet it refused it: the validator misses a rule"
                    if refused
                    else f"; {name} accepted it"
                )
            )
        elif not refused:
            problem = f"accepted a configuration torch rejects ({case.rejection})"
            if not implementation.shipped:  # a plug-in need not validate its arguments
                problem += "; allowed for a plug-in unless --strict-rejections"
                failure = ACCEPTS_INVALID
        elif (
            isinstance(case.rejects, str)
            and name == "torch"
            and case.rejects not in outcome.message
        ):
            problem = f"torch's message does not contain {case.rejects!r}: {outcome.message}"
        if accepts and not problem:
            message = (
                f"accepts what torch rejects ({case.rejection}), as declared: {case.diverges[name]}"
            )
            status = "ok"
        else:
            message = problem or f"rejected as predicted ({case.rejection}): {outcome.message}"
            status = failure if problem else "rejected"
        records.append(
            Record(
                **case_columns(case),
                implementation=name,
                variant="as_is",
                baseline="validator",
                output_shape="" if outcome.output is None else shape_text(outcome.output.shape),
                baseline_shape="",
                max_abs_diff=None,
                max_rel_diff=None,
                mismatched=None,
                total=None,
                worst_index="",
                atol=None,
                rtol=None,
                expected="accept" if accepts else "reject",
                observed="error" if outcome.died else "reject" if refused else "accept",
                status=status,
                cause=case.diverges.get(name, "") if status == "ok" else "",
                message=one_line(message),
                strict_rejections=strict_rejections,
            )
        )
    return records


def error_rows(case: Case, names: Sequence[str], message: str, baseline_shape: str) -> list[Record]:
    """One `error` row per implementation (by name), without an output: the case could not be
    run."""
    return [
        Record(
            **case_columns(case),
            implementation=name,
            variant="as_is",
            baseline=baseline_label(case),
            output_shape="",
            baseline_shape=baseline_shape,
            max_abs_diff=None,
            max_rel_diff=None,
            mismatched=None,
            total=None,
            worst_index="",
            atol=None,
            rtol=None,
            expected="agree",
            observed="error",
            status="error",
            cause="",
            message=message,
        )
        for name in names
    ]


def as_is_record(
    case: Case,
    name: str,
    func: Callable,
    arrays: CaseArrays,
    baseline: Baseline,
    outcome: Outcome,
    maps=None,
    explain: bool = True,
) -> Record:
    """The as_is row of one implementation: its output against the baseline, its cause (unless
    not to `explain`: a layout row that its layout changes), the case's declared divergence and
    golden output, the dtype contract. On a complex case, an implementation that shows it has no
    complex numbers is `unsupported` (complex_refusal)."""
    record = _as_is_record(case, name, func, arrays, baseline, outcome, maps, explain)
    refusal = complex_refusal(case.dtype, outcome, record.status, baseline.output)
    if refusal:
        record.status, record.expected, record.cause = "unsupported", "agree", ""
        joined = record.message and outcome.output is not None  # the failure is in `refusal`
        record.message = f"{refusal}; {record.message}" if joined else refusal
    return record


def _as_is_record(
    case: Case,
    name: str,
    func: Callable,
    arrays: CaseArrays,
    baseline: Baseline,
    outcome: Outcome,
    maps=None,
    explain: bool = True,
) -> Record:
    if outcome.output is None:
        return make_record(
            case, name, "as_is", baseline, None, status=outcome.status, message=outcome.message
        )
    known_cause = case.diverges.get(name)
    sampled = maps if getattr(func, "samples_output_maps", False) else None
    record = make_record(
        case,
        name,
        "as_is",
        baseline,
        outcome.output,
        message=outcome.message,
        expected="diverge" if known_cause else "agree",
        maps=sampled,
    )
    if record.observed == "diverge" and explain:
        try:
            record.cause = explain_divergence(
                case,
                arrays,
                outcome.output,
                baseline,
                prepadded=harness_pads_first(case, getattr(func, "handles_padding_mode", False)),
            )
        except Exception as error:  # never lose the row: the harness's own fault is recorded
            record.status = "error"
            record.message = (
                f"{harness_fault_text('explaining the divergence', error)}; {record.message}"
            )
            return record
        declared = getattr(func, "known_causes", ())
        if known_cause and record.cause != known_cause:
            record.status = "unexpected_divergence"
            record.message = (
                f"expected to diverge by '{known_cause}' but the cause is "
                f"'{record.cause}'; {record.message}"
            )
        elif not known_cause and record.cause in declared:
            record.expected = "diverge"
            record.status = "ok"
            record.message = f"a known divergence of {name} ({record.cause}); {record.message}"
    golden = golden_problem(case, outcome.output, baseline)
    declared_divergence = known_cause and record.observed == "diverge"
    detail = golden.partition(": ")[2]
    if golden and record.observed == "diverge" and record.message.endswith(detail):
        # the golden output and the float64 reference agree, so the output differs from both
        # in the same elements: the comparison is said once, after this note
        golden = "differs from the case's expected output as from the float64 reference"
    if golden and not declared_divergence:  # a declared divergence differs from the golden too
        if record.observed == "agree":
            golden = (
                "the case's expected output disagrees with this result and with the "
                "float64 reference, which agree with each other: check the case's "
                f"`expected`; {golden}"
            )
        record.status = "unexpected_divergence"
        record.observed = "diverge"
        record.message = "; ".join(p for p in (golden, record.message) if p)
    if outcome.contract:
        record.status = "error"
        record.message = "; ".join(p for p in (outcome.contract, record.message) if p)
    return record


def planned_layouts(
    case: Case, implementation: Implementation, layouts: Sequence[str] = ()
) -> list[str]:
    """The layouts (other than contiguous) an implementation's as_is row of this case is
    followed by: the case's own `layouts`, else those asked for, that apply to its tensors; none
    for an implementation that takes NumPy arrays or a case that computes nothing
    (harness.running.layout_rows.planned_operation_layouts)."""
    return planned_operation_layouts(case, implementation, layouts, case.op)


def layout_records(
    case: Case,
    implementation: Implementation,
    arrays: CaseArrays,
    baseline: Baseline,
    contiguous: Outcome,
    options: RunOptions,
    maps=None,
) -> list[Record]:
    """The layout rows of one implementation that takes tensors (harness.cases.layouts): an as_is
    row per layout the case is run in and that applies to its tensors, after the contiguous row. A
    layout output that differs from the same implementation's contiguous output beyond the
    tolerance is an unexpected divergence of cause `layout`, whatever the contiguous row says,
    without a family search (harness.running.layout_rows.layout_difference)."""
    name, func = implementation.name, operation_for(implementation, case)
    tensors = implementation.tensor_operation(case.op)
    layouts = planned_layouts(case, implementation, options.layouts)
    if tensors is None:
        return []
    sampled = getattr(func, "samples_output_maps", False) and maps is not None
    where = maps_mask(baseline.output.shape, maps) if sampled else None
    records = []
    for layout in layouts:
        outcome = call_implementation(tensors, case, arrays, options.timeout, maps, layout)
        difference = ""
        if outcome.output is not None:
            difference = layout_difference(outcome.output, contiguous.output, baseline, where)
        record = as_is_record(
            case, name, tensors, arrays, baseline, outcome, maps, explain=not difference
        )
        if difference:
            record = mark_layout(record, layout, difference)
        record.layout = layout
        records.append(record)
    return records


def run_case(
    case: Case,
    implementations: Sequence[Implementation],
    options: RunOptions = DEFAULT_OPTIONS,
) -> list[Record]:
    """All Records for one case: one per implementation (as_is) plus the variant rows.

    Nothing raises out of it: a failure inside the harness's own code becomes `error` rows that
    say so, and the run goes on.
    """
    try:
        return _case_records(case, implementations, options)
    except Exception as error:
        message = harness_fault_text("running the case", error)
        return error_rows(case, [i.name for i in implementations], message, "")


def _case_records(
    case: Case, implementations: Sequence[Implementation], options: RunOptions
) -> list[Record]:
    refusal = memory_refusal(case, implementations, options.max_memory)  # RAM, device memory
    if refusal is not None:
        names = [i.name for i in implementations]
        return error_rows(case, names, refusal, shape_text(case.output_shape))
    if case.rejects is not False:
        return rejection_records(
            case, implementations, options.timeout, strict_rejections=options.strict_rejections
        )
    arrays = materialize(case)
    gradient_layouts = partial(gradient_layout_records, case, arrays, options)
    if case.transposed:
        records = transposed_records(
            case,
            implementations,
            arrays,
            options,
            partial(transposed_layout_records, case, arrays, options),
        )
        if options.backward:
            records.extend(
                backward_records(case, implementations, arrays, options, gradient_layouts)
            )
        return records
    baseline = compute_baseline(case, arrays)
    maps = sampled_maps(case)
    records = []
    for implementation in implementations:
        func = operation_for(implementation, case)
        outcome = call_implementation(func, case, arrays, options.timeout, maps)
        records.append(
            as_is_record(case, implementation.name, func, arrays, baseline, outcome, maps)
        )
        records.extend(
            layout_records(case, implementation, arrays, baseline, outcome, options, maps)
        )
    if options.variants:
        records.extend(variant_records(case, arrays, baseline))
    if options.backward:
        records.extend(backward_records(case, implementations, arrays, options, gradient_layouts))
    return records
