"""The HTML page's recomputation: a report row's |implementation - baseline| from its case.

A report keeps a row's numbers, not its arrays. For a divergent row the page recomputes them from
the case (found by id in the row's `source` file) and the Implementation the caller resolved (the
page never resolves a name): a forward or transposed row calls the implementation's operation (in
the row's layout, through the function that takes tensors), a gradient row its backward, a variant
row is the mutation applied to the reference. The difference is taken against the float64 baseline
the run compared with, except for a row of cause `layout`, which compares the layout's output with
the same implementation's contiguous one, as the run did. Whatever cannot be recomputed (a case file
gone, an implementation not importable here, a call that fails now) is a one-line note instead.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.cases.case import Case
from harness.cases.layouts import CONTIGUOUS
from harness.computations.calling import one_line
from harness.computations.implementation import Implementation

MAX_EXPLAIN_LINES = 60


@dataclass
class Difference:
    """|implementation - baseline| of one row, its worst element and that element explained."""

    values: np.ndarray
    index: tuple[int, ...]
    against: str  # what the row's output is compared with
    explanation: list[str] = field(default_factory=list)


def load_report_cases(sources: Sequence[str]) -> tuple[dict[tuple[str, str], Case], list[str]]:
    """The cases of a report by (source, case id), and a note per source that cannot be read."""
    from harness.cases.loading import load_cases

    cases: dict[tuple[str, str], Case] = {}
    notes = []
    for source in dict.fromkeys(sources):
        if not source or not os.path.exists(source):
            notes.append(f"case file {source or '(none)'} is not here: its rows are not recomputed")
            continue
        try:
            for case in load_cases([source]):
                cases[(source, case.id)] = case
        except Exception as error:
            notes.append(f"case file {source} cannot be loaded: {one_line(str(error), 200)}")
    return cases, notes


def row_difference(
    row: Mapping, case: Case | None, implementation: Implementation | None
) -> Difference | str:
    """The row's difference, or one line saying why it cannot be recomputed (never raises)."""
    if case is None:
        return f"case {row['case_id']} is not in {row['source']} here: not recomputed"
    try:
        with warnings.catch_warnings():  # the run has said what the call warns of
            warnings.simplefilter("ignore")
            if row["quantity"] == "output":
                result = _output_difference(row, case, implementation)
            else:
                result = _gradient_difference(row, case, implementation)
    except Exception as error:
        return f"recomputing this row failed: {type(error).__name__}: {one_line(str(error), 200)}"
    if isinstance(result, str):
        return result
    result.explanation = explanation(case, row["quantity"], result.index)
    return result


def _difference(value, expected, against: str) -> Difference | str:
    from harness.reporting.heatmap import worst_index

    value, expected = np.asarray(value), np.asarray(expected)
    if value.shape != expected.shape:
        return f"output shape {list(value.shape)} differs from {list(expected.shape)}: no map"
    if value.size == 0:
        return "the output is empty: no map"
    difference = np.abs(value.astype(expected.dtype) - expected)
    return Difference(difference, worst_index(difference), against)


def _no_implementation(row: Mapping) -> str:
    return f"{row['implementation']} cannot be called here (not importable): not recomputed"


def _output_difference(row: Mapping, case: Case, implementation) -> Difference | str:
    from harness.cases.data import materialize
    from harness.computations.calling import call_implementation
    from harness.computations.cost import sampled_maps
    from harness.explaining.mutations import MUTATIONS
    from harness.running.runner import operation_for
    from harness.running.transposed import transposed_baseline
    from harness.running.variants import variant_output
    from harness.verdicts.baseline import compute_baseline

    arrays = materialize(case)
    baseline = (transposed_baseline if case.transposed else compute_baseline)(case, arrays)
    reference = "the float64 reference"
    if row["variant"] != "as_is":
        if row["variant"] not in MUTATIONS or case.transposed:
            return f"variant {row['variant']} is not recomputed on the page"
        mutated = variant_output(case, arrays, MUTATIONS[row["variant"]], baseline.output)
        return _difference(mutated, baseline.output, reference)
    if implementation is None:
        return _no_implementation(row)
    layout = row.get("layout") or CONTIGUOUS
    func = operation_for(implementation, case)
    maps = sampled_maps(case)
    contiguous = None  # a layout row of cause `layout` is compared with its own contiguous output
    if layout == CONTIGUOUS:
        outcome = call_implementation(func, case, arrays, None, maps)
    else:
        tensors = implementation.tensor_operation(case.op)
        if tensors is None:
            return f"{row['implementation']} takes no tensors: layout {layout} not recomputed"
        outcome = call_implementation(tensors, case, arrays, None, maps, layout)
        if row.get("cause") == "layout":
            contiguous = call_implementation(func, case, arrays, None, maps).output
    if outcome.output is None:
        return f"{row['implementation']} gives no output now ({outcome.status}): no map"
    if contiguous is not None:
        return _difference(outcome.output, contiguous, "its own contiguous output")
    return _difference(outcome.output, baseline.output, reference)


def _gradient_difference(row: Mapping, case: Case, implementation) -> Difference | str:
    from harness.cases.data import materialize
    from harness.cases.layouts import GRADIENT_ROLES
    from harness.computations.layout_operations import in_layout
    from harness.running.backward import (
        backward_variants,
        call_backward,
        grad_output_arrays,
        gradient_baselines,
        transposed_gradient_baselines,
    )

    quantity = row["quantity"]
    arrays = materialize(case)
    g, g64 = grad_output_arrays(case)
    if case.transposed:
        baselines = transposed_gradient_baselines(case, arrays, g64)
    else:
        baselines = gradient_baselines(case, arrays, g64)
    expected = baselines[quantity].output
    reference = f"the float64 {quantity}"
    if row["variant"] != "as_is":
        variants = [] if case.transposed else backward_variants(case, arrays, g64, baselines)
        for name, changed, _cause, output in variants:
            if name == row["variant"] and changed == quantity and output is not None:
                return _difference(output, expected, reference)
        return f"variant {row['variant']} is not recomputed on the page"
    if implementation is None:
        return _no_implementation(row)
    operation = f"{case.op}_backward"
    func = implementation.operation(operation)
    if func is None:
        return f"{row['implementation']} defines no {operation}: no map"
    layout = row.get("layout") or CONTIGUOUS
    if layout != CONTIGUOUS:
        tensors = implementation.tensor_operation(operation)
        if tensors is None:
            return f"{row['implementation']} takes no tensors: layout {layout} not recomputed"
        func = in_layout(tensors, layout, GRADIENT_ROLES)
    result = call_backward(func, case, arrays, g, None)
    value = result.values.get(quantity)
    if value is None:
        return f"{row['implementation']} gives no {quantity} now: no map"
    return _difference(value, expected, reference)


def explanation(case: Case, quantity: str, index: tuple[int, ...]) -> list[str]:
    """The worst element's hand computation as `conv-harness explain` prints it (its first
    MAX_EXPLAIN_LINES lines), or one line saying why there is none."""
    try:
        if quantity == "output":
            if case.transposed:
                return [
                    f"explain shows {case.forward_op}'s elements; a {case.op}'s output is the "
                    f"grad_input of that convolution (explain --quantity grad_input)"
                ]
            from harness.reporting.explain import explain_lines

            lines = explain_lines(case, index)
        else:
            if case.transposed:
                return [f"explain --quantity explains the gradients of {case.forward_op} cases"]
            from harness.reporting.explain_backward import explain_gradient_lines

            lines = explain_gradient_lines(case, quantity, index)
    except Exception as error:
        return [f"no explanation: {one_line(str(error), 200)}"]
    if len(lines) > MAX_EXPLAIN_LINES:
        more = len(lines) - MAX_EXPLAIN_LINES
        lines = [*lines[:MAX_EXPLAIN_LINES], f"... ({more} more lines: conv-harness explain)"]
    return lines


def blind_spot_records(frame) -> list:
    """The report's rows as the attributes harness.reporting.report.divergence_summary reads."""
    from types import SimpleNamespace

    records = []
    for row in frame.to_dict("records"):
        diff = row["max_abs_diff"]
        records.append(
            SimpleNamespace(
                case_id=row["case_id"],
                source=row["source"],
                variant=row["variant"],
                expected=row["expected"],
                observed=row["observed"],
                status=row["status"],
                max_abs_diff=None if diff != diff else float(diff),
            )
        )
    return records
