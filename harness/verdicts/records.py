"""The report's row type and how one output becomes a row.

A Record is one row of the CSV (DESIGN.md's columns, then the appended ones, in order);
`make_record` compares an output with the case's baseline (harness.verdicts.compare) and fills one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

from harness.cases.case import Case
from harness.cases.data import is_complex
from harness.computations.calling import one_line
from harness.computations.cost import maps_mask
from harness.verdicts.baseline import Baseline
from harness.verdicts.compare import compare, describe

BASELINE = "reference_float64"
COMPLEX_BASELINE = "reference_complex128"  # the baseline of complex cases


def baseline_label(case) -> str:
    """The `baseline` column: the reference in float64, or in complex128 for complex cases."""
    return COMPLEX_BASELINE if is_complex(case.dtype) else BASELINE


COLUMNS = (
    "case_id",
    "source",
    "implementation",
    "variant",
    "baseline",
    "dtype",
    "input_shape",
    "weight_shape",
    "stride",
    "padding",
    "dilation",
    "groups",
    "padding_mode",
    "output_shape",
    "baseline_shape",
    "max_abs_diff",
    "max_rel_diff",
    "mismatched",
    "total",
    "worst_index",
    "atol",
    "rtol",
    "expected",
    "observed",
    "status",
    "cause",
    "message",
    # appended to DESIGN.md's columns:
    "sampled",
    "case_index",
    "quantity",
    "op",
    "layout",
)

# what a row compares: the forward output or one of the backward pass's gradients
QUANTITIES = ("output", "grad_input", "grad_weight", "grad_bias")


FAILING_STATUSES = ("unexpected_divergence", "unexpected_agreement", "error")


# a plug-in accepted a case declared `rejects`: reported, failing only with --strict-rejections
ACCEPTS_INVALID = "accepts_invalid"


@dataclass
class Record:
    """One report row (the CSV columns of DESIGN.md, in order)."""

    case_id: str
    source: str
    implementation: str
    variant: str
    baseline: str
    dtype: str
    input_shape: str
    weight_shape: str
    stride: str
    padding: str
    dilation: str
    groups: int
    padding_mode: str
    output_shape: str
    baseline_shape: str
    max_abs_diff: float | None
    max_rel_diff: float | None
    mismatched: int | None
    total: int | None
    worst_index: str
    atol: float | None
    rtol: float | None
    expected: str
    observed: str
    status: str
    cause: str
    message: str
    sampled: str = ""  # "k/N maps" when only a sample of output maps was computed
    case_index: int = -1  # the case's position in the loaded registry (merging shards)
    quantity: str = "output"  # output | grad_input | grad_weight | grad_bias
    op: str = "conv2d"  # conv2d | conv_transpose2d
    layout: str = "contiguous"  # the tensors' memory layout (harness.cases.layouts.LAYOUTS)
    # not a column: the run's policy for ACCEPTS_INVALID rows (RunOptions.strict_rejections)
    strict_rejections: bool = field(default=False, repr=False, compare=False)

    def as_row(self) -> dict:
        row = asdict(self)
        del row["strict_rejections"]
        return row

    @property
    def failed(self) -> bool:
        if self.status == ACCEPTS_INVALID:
            return self.strict_rejections
        return self.status in FAILING_STATUSES


def shape_text(shape: Iterable[int] | None) -> str:
    return "" if shape is None else "x".join(str(int(s)) for s in shape)


def case_columns(case: Case) -> dict:
    return {
        "case_id": case.id,
        "source": case.file,
        "dtype": case.dtype,
        "input_shape": shape_text(case.input_shape),
        "weight_shape": shape_text(case.weight_shape),
        "stride": shape_text(case.stride),
        "padding": case.padding_label,
        "dilation": shape_text(case.dilation),
        "groups": case.groups,
        "padding_mode": case.padding_mode,
        "case_index": case.index,
        "op": case.op,
    }


def make_record(
    case: Case,
    implementation: str,
    variant: str,
    reference_result: Baseline,
    output: np.ndarray | None,
    *,
    expected: str = "agree",
    status: str | None = None,
    message: str = "",
    cause: str = "",
    baseline_name: str | None = None,
    maps=None,
) -> Record:
    """A row for one output compared with the baseline (or a row for a failed call)."""
    baseline, tol = reference_result.output, reference_result.tolerance
    baseline_name = baseline_name or baseline_label(case)
    columns = case_columns(case)
    if output is None:
        return Record(
            **columns,
            implementation=implementation,
            variant=variant,
            baseline=baseline_name,
            output_shape="",
            baseline_shape=shape_text(baseline.shape),
            max_abs_diff=None,
            max_rel_diff=None,
            mismatched=None,
            total=int(baseline.size),
            worst_index="",
            atol=tol.atol_at(None),
            rtol=tol.rtol,
            expected=expected,
            observed="error" if status == "error" else "",
            status=status or "error",
            cause="",
            message=message,
        )
    mask = maps_mask(baseline.shape, maps) if output.shape == baseline.shape else None
    metrics = compare(output, baseline, tol, where=mask)
    observed = "agree" if metrics.agree else "diverge"
    detail = describe(metrics, tol, output.shape, baseline.shape)
    if status is None:
        status = (
            "ok"
            if observed == expected
            else ("unexpected_divergence" if observed == "diverge" else "unexpected_agreement")
        )
    if observed == "agree":
        cause = ""
    sample_note = ""
    if mask is not None:
        sample_note = (
            f"computed on a sample of {len(maps)} of {baseline.shape[0] * baseline.shape[1]}"
            " output maps (large case; see SCIPY_FULL_COST)"
        )
    text = "; ".join(p for p in (sample_note, message, detail) if p)
    atol = tol.atol_at(metrics.worst_index if metrics.shape_ok else None)
    return Record(
        **columns,
        implementation=implementation,
        variant=variant,
        baseline=baseline_name,
        output_shape=shape_text(output.shape),
        baseline_shape=shape_text(baseline.shape),
        max_abs_diff=metrics.max_abs_diff,
        max_rel_diff=metrics.max_rel_diff,
        mismatched=metrics.mismatched,
        total=metrics.total,
        worst_index="" if metrics.worst_index is None else ",".join(map(str, metrics.worst_index)),
        atol=atol,
        rtol=tol.rtol,
        expected=expected,
        observed=observed,
        status=status,
        cause=cause,
        message=text,
        sampled="" if mask is None else f"{len(maps)}/{baseline.shape[0] * baseline.shape[1]} maps",
    )


def harness_fault_text(stage: str, error: BaseException) -> str:
    """The message of a row whose computation failed inside the harness, not the implementation."""
    return one_line(
        f"harness fault while {stage} (a bug in conv-harness, not in the "
        f"implementation; please report it): {type(error).__name__}: {error}"
    )
