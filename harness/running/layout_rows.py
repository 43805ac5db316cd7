"""Layout rows of transposed cases and of gradients (`run --layouts`, with `--backward` too).

An implementation whose operation takes tensors (harness.computations.layout_operations) is called
again with its tensors laid out otherwise (harness.cases.layouts): a transposed case's input, weight
and bias; a backward call's grad_output too (harness.cases.layouts.GRAD_OUTPUT_LAYOUTS). Each layout
gives one row per quantity, right after that implementation's contiguous rows, named in the `layout`
column. A value that differs from the same implementation's contiguous value beyond the quantity's
tolerance is `unexpected_divergence` with cause `layout` at once: the values a layout changes are
its own cause, so no family search runs on them (a diverging layout row costs a call and a
comparison). A value that agrees with the contiguous one is judged like it
(harness.running.backward). The forward convolution's layout rows are harness.running.runner's, with
the same verdict (`layout_difference`, `mark_layout`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from harness.cases.case import Case
from harness.cases.data import CaseArrays
from harness.cases.layouts import CONTIGUOUS, GRADIENT_ROLES, applicable
from harness.computations.calling import Outcome, call_implementation, one_line
from harness.computations.implementation import Implementation
from harness.computations.layout_operations import in_layout
from harness.running.backward import (
    Gradients,
    QuantityContext,
    call_backward,
    grad_output_arrays,
    judged,
    quantity_record,
    refused_complex,
)
from harness.verdicts.baseline import Baseline
from harness.verdicts.compare import compare, describe
from harness.verdicts.records import Record, harness_fault_text, shape_text


def planned_operation_layouts(
    case: Case, implementation: Implementation, layouts: Sequence[str], op: str
) -> list[str]:
    """The layouts (other than contiguous) the implementation's operation `op` gets a row for on
    this case: the case's own `layouts`, else those asked for, that apply to its tensors (and to
    grad_output for a backward operation); none for an operation it does not define or that
    takes NumPy arrays, or a case that computes nothing."""
    chosen = case.layouts or tuple(layouts)
    if not chosen or not case.computes or implementation.operation(op) is None:
        return []
    if implementation.tensor_operation(op) is None:
        return []
    shapes = (
        case.input_shape,
        case.weight_shape,
        None if case.bias is None else (case.output_shape[1],),
    )
    grad_output = case.output_shape if op.endswith("_backward") else None
    return [
        layout
        for layout in chosen
        if layout != CONTIGUOUS and applicable(layout, shapes, grad_output)
    ]


def layout_difference(
    value: np.ndarray,
    contiguous: np.ndarray | None,
    baseline: Baseline,
    where: np.ndarray | None = None,
) -> str:
    """'' when a layout's value agrees with the same implementation's contiguous value (or there
    is none to compare with), else how it differs."""
    if contiguous is None:
        return ""
    if value.shape != contiguous.shape:
        shapes = f"{shape_text(value.shape)} is not the contiguous {shape_text(contiguous.shape)}"
        return f"its shape {shapes}"
    if contiguous.shape != baseline.output.shape:  # no tolerance for this shape: exact values
        if np.array_equal(value, contiguous, equal_nan=True):
            return ""
        return "its values differ (both of an unexpected shape, compared exactly)"
    metrics = compare(value, contiguous, baseline.tolerance, where=where)
    if metrics.agree:
        return ""
    return describe(metrics, baseline.tolerance, value.shape, contiguous.shape)


def mark_layout(record: Record, layout: str, difference: str) -> Record:
    """The row of a value that its layout changes: an unexpected divergence of cause `layout`."""
    record.status = "unexpected_divergence"
    record.observed = "diverge"
    record.cause = "layout"
    record.message = one_line(
        f"in layout {layout} it differs from its own contiguous output: {difference}; "
        + record.message
    )
    return record


def _quantity_row(
    case: Case,
    name: str,
    func: Callable,
    quantity: str,
    baseline: Baseline,
    value: np.ndarray,
    contiguous: np.ndarray | None,
    layout: str,
    explain: Callable[[Record], Record],
    message: str = "",
    contract: str = "",
) -> Record:
    record = quantity_record(case, name, "as_is", quantity, baseline, value, message=message)
    record.layout = layout
    try:
        difference = layout_difference(value, contiguous, baseline)
    except Exception as error:  # never lose the row: the harness's own fault is recorded
        record.status = "error"
        fault = harness_fault_text("comparing with the contiguous value", error)
        record.message = one_line(f"{fault}; {record.message}")
        return record
    if not difference:
        record = explain(record)
    if contract:
        record.status = "error"
        record.message = f"{contract}; {record.message}"
    if difference:
        record = mark_layout(record, layout, difference)
    record.layout = layout
    return record


def _failed_row(case, name, quantity, baseline, layout, status, message) -> Record:
    record = quantity_record(
        case, name, "as_is", quantity, baseline, None, status=status or "error", message=message
    )
    record.layout = layout
    return refused_complex(record, case.dtype, Outcome(None, record.status, message))


def transposed_layout_records(
    case: Case,
    arrays: CaseArrays,
    options,
    implementation: Implementation,
    contiguous: Outcome,
    baseline: Baseline,
    variants,
) -> list[Record]:
    """The layout rows of one implementation's transposed convolution (none where it defines
    none), after its contiguous row (`contiguous`: what that call gave)."""
    name, func = implementation.name, implementation.operation(case.op)
    layouts = planned_operation_layouts(case, implementation, options.layouts, case.op)
    tensors = implementation.tensor_operation(case.op)
    if func is None or tensors is None or not layouts:
        return []
    records = []
    for layout in layouts:
        outcome = call_implementation(tensors, case, arrays, options.timeout, None, layout)
        if outcome.output is None:
            records.append(
                _failed_row(case, name, "output", baseline, layout, outcome.status, outcome.message)
            )
            continue
        value = outcome.output

        def explain(record: Record, value=value) -> Record:
            context = QuantityContext(case, arrays)
            return judged(record, func, value, baseline, "output", variants, context)

        records.append(
            _quantity_row(
                case,
                name,
                func,
                "output",
                baseline,
                value,
                contiguous.output,
                layout,
                explain,
                outcome.message,
                outcome.contract,
            )
        )
    return records


def gradient_layout_records(
    case: Case,
    arrays: CaseArrays,
    options,
    implementation: Implementation,
    contiguous: Gradients,
    baselines: dict[str, Baseline],
    variants,
) -> list[Record]:
    """The layout rows of one implementation's backward (none where it defines none): per
    layout, one row per gradient, after its contiguous gradient rows (`contiguous`)."""
    op = f"{case.op}_backward"
    name, func = implementation.name, implementation.operation(op)
    layouts = planned_operation_layouts(case, implementation, options.layouts, op)
    tensors = implementation.tensor_operation(op)
    if func is None or tensors is None or not layouts:
        return []
    g, g64 = grad_output_arrays(case)
    records = []
    for layout in layouts:
        laid = in_layout(tensors, layout, GRADIENT_ROLES)
        result = call_backward(laid, case, arrays, g, options.timeout)
        for quantity, baseline in baselines.items():
            value = result.values.get(quantity)
            if value is None:
                message = result.message or f"returned no {quantity}"
                records.append(
                    _failed_row(case, name, quantity, baseline, layout, result.status, message)
                )
                continue

            def explain(record: Record, value=value, quantity=quantity, baseline=baseline):
                context = QuantityContext(case, arrays, g64)
                return judged(record, func, value, baseline, quantity, variants, context)

            records.append(
                _quantity_row(
                    case,
                    name,
                    func,
                    quantity,
                    baseline,
                    value,
                    contiguous.values.get(quantity),
                    layout,
                    explain,
                    result.message,
                    result.contract,
                )
            )
    return records
