"""Transposed cases (conv_transpose1d/2d/3d): their rows, compared with F.conv_transposeNd's
semantics computed exactly (harness.computations.gradients in float64, complex128 for complex cases:
a plain sum of products, no conjugation), and their variants: the kernel not flipped
(`kernel_flip`), output_padding ignored or put before the output (`padding`), the weight's channel
axes read the wrong way round (`groups`). Their gradients (`run --backward`) are
harness.running.backward's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from harness.cases.case import Case
from harness.cases.data import CaseArrays
from harness.computations import gradients
from harness.computations.implementation import Implementation
from harness.explaining.quantity_rounding import (
    magnitude_baselines,
    transposed_output_blocks,
    transposed_output_spread,
)
from harness.running.backward import (
    QuantityContext,
    judged,
    quantity_record,
    refused_complex,
    variant_rows,
)
from harness.verdicts.baseline import Baseline
from harness.verdicts.records import Record

# the variant rows of a transposed case (harness.running.variants has the forward convolution's)
TRANSPOSED_VARIANTS = (
    "transposed_no_flip",
    "output_padding_ignored",
    "output_padding_before",
    "weight_channels_swapped",
)


def transposed_baseline(case: Case, arrays: CaseArrays) -> Baseline:
    x, w, b = arrays.input64, arrays.weight64, arrays.bias64
    params = (case.stride, case.pads[0::2], case.output_padding, case.groups, case.dilation)

    def compute(f):
        return (gradients.conv_transpose2d(f(x), f(w), None if b is None else f(b), *params),)

    exact = (gradients.conv_transpose2d(x, w, b, *params),)
    counts, blocks = (case.reduction_length,), (transposed_output_blocks(case),)
    spreads = (transposed_output_spread(x, w),)
    return magnitude_baselines(case, compute, ("output",), exact, counts, blocks, spreads)["output"]


def _sizes_without_output_padding(case: Case) -> list[int]:
    """The output's spatial sizes were output_padding ignored: one may be 0 (nothing to show)."""
    return [size - op for size, op in zip(case.output_shape[2:], case.output_padding, strict=True)]


def transposed_variants(case: Case, arrays: CaseArrays) -> list[tuple]:
    x, w, b = arrays.input64, arrays.weight64, arrays.bias64
    befores = case.pads[0::2]
    spatial = tuple(range(2, w.ndim))
    unflipped = gradients.conv_transpose2d(
        x,
        np.flip(w, spatial),
        b,
        case.stride,
        befores,
        case.output_padding,
        case.groups,
        case.dilation,
    )
    variants = [("transposed_no_flip", "output", "kernel_flip", unflipped)]
    ignored = None
    if any(case.output_padding) and min(_sizes_without_output_padding(case)) > 0:
        ignored = gradients.conv_transpose2d(
            x, w, b, case.stride, befores, 0, case.groups, case.dilation
        )
    variants.append(("output_padding_ignored", "output", "padding", ignored))
    before = None
    if any(case.output_padding):  # the extra rows/columns put before the output, not after
        full = gradients.conv_transpose2d(
            x, w, b, case.stride, 0, case.output_padding, case.groups, case.dilation
        )
        shifted = np.pad(full, ((0, 0), (0, 0), *((op, 0) for op in case.output_padding)))
        window = tuple(
            slice(p, p + size) for p, size in zip(befores, case.output_shape[2:], strict=True)
        )
        before = shifted[tuple([slice(None), slice(None), *window])]
    variants.append(("output_padding_before", "output", "padding", before))
    c_in, og = case.weight_shape[:2]
    swapped = None
    if case.groups == 1 and c_in == og and c_in > 1:  # the weight read as (C_out, C_in, kH, kW)
        swapped = gradients.conv_transpose2d(
            x,
            np.swapaxes(w, 0, 1),
            b,
            case.stride,
            befores,
            case.output_padding,
            1,
            case.dilation,
        )
    variants.append(("weight_channels_swapped", "output", "groups", swapped))
    return variants


def transposed_records(
    case: Case,
    implementations: Sequence[Implementation],
    arrays: CaseArrays,
    options,
    layouts: Callable | None = None,
) -> list[Record]:
    """The as_is row of every implementation (each followed by its layout rows, which
    `layouts(implementation, outcome, baseline, variants)` gives), then the variant rows."""
    from harness.computations.calling import Outcome, call_implementation

    baseline = transposed_baseline(case, arrays)
    variants = transposed_variants(case, arrays)
    records = []
    for implementation in implementations:
        name, transposed = implementation.name, implementation.operation(case.op)
        if transposed is None:
            outcome = Outcome(None, "unsupported", f"{name} defines no {case.op}")
        else:
            outcome = call_implementation(transposed, case, arrays, options.timeout)
        records.append(_as_is_row(case, name, transposed, arrays, outcome, baseline, variants))
        if layouts is not None:
            records += layouts(implementation, outcome, baseline, variants)
    if options.variants:
        records.extend(variant_rows(case, {"output": baseline}, variants))
    return records


def _as_is_row(case, name, func, arrays, outcome, baseline, variants) -> Record:
    if outcome.output is None:
        record = quantity_record(
            case,
            name,
            "as_is",
            "output",
            baseline,
            None,
            status=outcome.status,
            message=outcome.message,
        )
        return refused_complex(record, case.dtype, outcome)
    record = quantity_record(case, name, "as_is", "output", baseline, outcome.output)
    record = judged(
        record, func, outcome.output, baseline, "output", variants, QuantityContext(case, arrays)
    )
    if outcome.contract:
        record.status = "error"
        record.message = f"{outcome.contract}; {record.message}"
    return refused_complex(record, case.dtype, outcome, baseline.output)
