"""Backward rows (`run --backward`): the gradients of convolution and transposed convolution
cases of every rank (conv1d/2d/3d, conv_transpose1d/2d/3d; written below for 2-D, the same per
axis in 1-D and 3-D).

For a conv2d case, the gradients of y = conv2d(x, w, b) for a grad_output g (the case's
`grad_output`, else drawn from the case: normal, seeded by the case id) are compared quantity by
quantity (grad_input, grad_weight, grad_bias) with the exact ones (harness.computations.gradients in
float64, complex128 for complex cases, on the rounded inputs), each with the rounding model of
harness.verdicts.compare: grad_input sums (C_out/groups)*kH*kW products, grad_weight and grad_bias
N*H_out*W_out (a conv_transpose2d case's gradients likewise, with its own lengths; its output rows
are harness.running.transposed's), with the blocks float16/bfloat16 kernels round to the dtype
(harness.explaining.quantity_rounding: kernel taps for grad_input, batch images for grad_weight).
Complex cases have a complex grad_output and torch's conjugate vector-Jacobian products as their
exact gradients (harness.computations.gradients). Variant rows show what the classic backward bugs
do on the case's data: grad_input without the flip (`kernel_flip`), the stride's zeros inserted at
the wrong phase (`stride`), grad_weight flipped or transposed (`kernel_flip`), grad_bias averaged
instead of summed (`bias`); an agreeing one says whether it changes the values at all. A divergence
is explained by the quantity's bug families in its own words (harness.explaining.quantity_explain),
else by a variant that reproduces it, else by narrower arithmetic (`precision`), else `shape` or
`unknown`.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from harness.cases.case import Case
from harness.cases.data import (
    CaseArrays,
    exact_dtype,
    generate,
    is_complex,
    round_to_dtype,
    to_array,
)
from harness.cases.schema import TensorSpec
from harness.computations import gradients
from harness.computations.calling import Outcome, compact, complex_refusal, read_result, safe_call
from harness.computations.implementation import Implementation
from harness.computations.implementations import harness_pads_first
from harness.explaining.explanation import Explanation
from harness.explaining.quantity_rounding import (
    gradient_blocks,
    gradient_spreads,
    magnitude_baselines,
    padding_folds,
    transposed_gradient_blocks,
    transposed_gradient_spreads,
    variant_change,
)
from harness.verdicts.baseline import Baseline
from harness.verdicts.records import Record, harness_fault_text, make_record

GRADIENTS = ("grad_input", "grad_weight", "grad_bias")
# the backward variant rows, with the gradient each changes (in report order)
BACKWARD_VARIANTS = (
    ("grad_input_no_flip", "grad_input"),
    ("grad_input_stride_phase", "grad_input"),
    ("grad_weight_flipped", "grad_weight"),
    ("grad_weight_transposed", "grad_weight"),
    ("grad_bias_mean", "grad_bias"),
)


def grad_output_arrays(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """(in the case dtype, in float64 or complex128): the case's grad_output, or one drawn from
    its id (complex, with independent imaginary parts, for a complex case)."""
    complex_values = is_complex(case.dtype)
    if case.grad_output is not None:
        values = to_array(case.grad_output, case.rank + 2, complex_values)
    else:
        seed = zlib.crc32(case.id.encode())
        spec = TensorSpec(shape=list(case.output_shape), init="normal", seed=seed)
        values = generate(spec, complex_values)
    native = round_to_dtype(values, case.dtype)
    return native, native.astype(exact_dtype(case.dtype))


def gradient_baselines(case: Case, arrays: CaseArrays, g64: np.ndarray) -> dict[str, Baseline]:
    x, w, b = arrays.input64, arrays.weight64, arrays.bias64
    params = (case.stride, case.pads, case.dilation, case.groups, case.padding_mode)

    def compute(f):
        return gradients.conv2d_backward(f(g64), f(x), f(w), None if b is None else f(b), *params)

    exact = gradients.conv2d_backward(g64, x, w, b, *params)
    c_out, taps = case.output_shape[1], math.prod(case.kernel)
    positions = case.output_shape[0] * math.prod(case.output_shape[2:])
    # padded positions fold onto the edges
    counts = ((c_out // case.groups) * taps * padding_folds(case), positions, positions)
    blocks, spreads = gradient_blocks(case), gradient_spreads(x, w, g64)
    return magnitude_baselines(case, compute, GRADIENTS, exact, counts, blocks, spreads)


@dataclass
class Gradients:
    """What one implementation's backward produced: a value per quantity, or why not."""

    values: dict[str, np.ndarray | None]
    status: str | None = None  # error | unsupported when the call failed
    message: str = ""
    contract: str = ""


def call_backward(
    func: Callable, case: Case, arrays: CaseArrays, g: np.ndarray, timeout: float | None
) -> Gradients:
    """Call a conv2d_backward on the case (the harness pads first for a plug-in that does not
    handle padding modes, and folds its grad_input back through that padding)."""
    from harness.computations import reference

    if case.transposed:
        from harness.computations.calling import transposed_arguments

        args = (
            np.array(g),
            np.array(arrays.input),
            np.array(arrays.weight),
            None if arrays.bias is None else np.array(arrays.bias),
        )
        return _read_gradients(
            safe_call(func, args, transposed_arguments(case), timeout, case_dtype=case.dtype),
            case,
            False,
            func,
        )
    handles = bool(getattr(func, "handles_padding_mode", False))
    x = np.array(arrays.input)
    padding: object = case.padding
    prepadded = harness_pads_first(case, handles)
    if prepadded:
        x = reference.pad(x, case.pads, case.padding_mode)
        padding = 0
    elif not handles and not isinstance(case.padding, str):
        padding = compact(case.pads[0::2])
    kwargs: dict = {"stride": case.stride, "padding": padding, "dilation": case.dilation}
    kwargs["groups"] = case.groups
    if handles:
        kwargs["padding_mode"] = case.padding_mode
    args = (
        np.array(g),
        x,
        np.array(arrays.weight),
        None if arrays.bias is None else np.array(arrays.bias),
    )
    called = safe_call(func, args, kwargs, timeout, case_dtype=case.dtype)
    return _read_gradients(called, case, prepadded, func)


def _read_gradients(called, case: Case, prepadded: bool, func: Callable) -> Gradients:
    note = getattr(func, "numerics_note", "")
    gradients_read = _gradient_values(called, case, prepadded)
    if note:
        gradients_read.message = "; ".join(p for p in (note, gradients_read.message) if p)
    return gradients_read


def _gradient_values(called, case: Case, prepadded: bool) -> Gradients:
    if isinstance(called, Outcome):
        return Gradients({}, called.status, called.message)
    if not isinstance(called, (tuple, list)) or len(called) != 3:
        return Gradients(
            {},
            "error",
            "conv2d_backward must return (grad_input, grad_weight, "
            f"grad_bias), got {type(called).__name__}",
        )
    values: dict[str, np.ndarray | None] = {}
    contracts = []
    for name, result in zip(GRADIENTS, called, strict=True):
        if result is None:
            values[name] = None
            continue
        outcome = read_result(result, case.dtype)
        if outcome.output is None:
            return Gradients({}, outcome.status, f"{name}: {outcome.message}")
        value = outcome.output
        padded = [n + sum(case.pads[2 * a : 2 * a + 2]) for a, n in enumerate(case.input_shape[2:])]
        if name == "grad_input" and prepadded and list(value.shape[2:]) == padded:
            value = gradients.fold_padding(
                value, case.pads, case.input_shape[2:], case.padding_mode
            )
        values[name] = value
        if outcome.contract:
            contracts.append(f"{name} {outcome.contract}")
    return Gradients(values, None, "", "; ".join(contracts))


def _shift_strided(a: np.ndarray, stride) -> np.ndarray:
    """grad_input as if the stride's zeros were inserted one position late on strided axes."""
    out = np.zeros_like(a)
    late = [1 if s > 1 else 0 for s in stride]
    target = tuple(slice(k, None) for k in late)
    source = tuple(slice(0, size - k) for size, k in zip(a.shape[2:], late, strict=True))
    out[tuple([slice(None), slice(None), *target])] = a[tuple([slice(None), slice(None), *source])]
    return out


def backward_variants(
    case: Case, arrays: CaseArrays, g64: np.ndarray, baselines: dict[str, Baseline]
) -> list[tuple]:
    """(variant, quantity, cause, output or None if invisible by construction), from the exact
    gradients the baselines hold."""
    x, w, b = arrays.input64, arrays.weight64, arrays.bias64
    params = (case.stride, case.pads, case.dilation, case.groups, case.padding_mode)
    grad_input, grad_weight = baselines["grad_input"].exact, baselines["grad_weight"].exact
    grad_bias = baselines["grad_bias"].exact if "grad_bias" in baselines else None
    spatial = tuple(range(2, w.ndim))
    unflipped = gradients.conv2d_backward(g64, x, np.flip(w, spatial), b, *params)[0]
    kernel = case.kernel
    positions = case.output_shape[0] * math.prod(case.output_shape[2:])
    variants = [
        ("grad_input_no_flip", "grad_input", "kernel_flip", unflipped),
        (
            "grad_input_stride_phase",
            "grad_input",
            "stride",
            _shift_strided(grad_input, case.stride) if max(case.stride) > 1 else None,
        ),
        ("grad_weight_flipped", "grad_weight", "kernel_flip", np.flip(grad_weight, spatial)),
        (  # the last two spatial axes exchanged, where the kernel is square in them
            "grad_weight_transposed",
            "grad_weight",
            "kernel_flip",
            np.swapaxes(grad_weight, -2, -1)
            if len(kernel) > 1 and kernel[-2] == kernel[-1]
            else None,
        ),
    ]
    if grad_bias is not None:
        variants.append(
            ("grad_bias_mean", "grad_bias", "bias", grad_bias / positions if positions else None)
        )
    if x.shape[0] == 0:  # an empty batch: empty grad_input, zero grad_weight and grad_bias
        return [(name, quantity, cause, None) for name, quantity, cause, _ in variants]
    return variants


@dataclass(frozen=True)
class QuantityContext:
    """What a quantity's explanation may recompute from: the case, its arrays and the exact
    grad_output (float64, complex128 for complex cases; None for a transposed case's output)."""

    case: Case
    arrays: CaseArrays
    grad_output: np.ndarray | None = None
    prepadded: bool = False  # the harness padded the input first (implementations)


def explain_quantity_output(
    value: np.ndarray,
    baseline: Baseline,
    quantity: str,
    variants,
    context: QuantityContext | None = None,
) -> Explanation:
    """Why a quantity (output, grad_input, grad_weight, grad_bias) diverges: its bug families
    (harness.explaining.quantity_explain), else a variant that reproduces it, else shape, precision
    or unknown."""
    from harness.explaining.quantity_explain import explain_quantity_value

    return explain_quantity_value(value, baseline, quantity, variants, context)


def explain_quantity(
    value: np.ndarray,
    baseline: Baseline,
    quantity: str,
    variants,
    context: QuantityContext | None = None,
) -> str:
    """The cause(s) of a diverging quantity, joined with '+' in vocabulary order."""
    return explain_quantity_output(value, baseline, quantity, variants, context).cause


def quantity_record(
    case, name, variant, quantity, baseline, value, *, expected="agree", status=None, message=""
) -> Record:
    record = make_record(
        case, name, variant, baseline, value, expected=expected, status=status, message=message
    )
    record.quantity = quantity
    return record


def refused_complex(record: Record, dtype: str, outcome: Outcome, expected=None) -> Record:
    """The row `unsupported` where it shows real-only code on a complex case (the one rule,
    harness.computations.calling.complex_refusal, of every operation's and quantity's rows and
    diagnose)."""
    refusal = complex_refusal(dtype, outcome, record.status, expected)
    if refusal:
        record.status, record.expected, record.cause = "unsupported", "agree", ""
        joined = record.message and outcome.output is not None  # the failure is in `refusal`
        record.message = f"{refusal}; {record.message}" if joined else refusal
    return record


def variant_rows(case: Case, baselines: dict[str, Baseline], variants) -> list[Record]:
    """One row per variant: visible (ok, with its cause) or invisible here."""
    rows = []
    for name, quantity, cause, output in variants:
        baseline = baselines.get(quantity)
        if baseline is None:
            continue
        if output is None:
            rows.append(
                quantity_record(
                    case,
                    "reference",
                    name,
                    quantity,
                    baseline,
                    baseline.exact,
                    message=f"{name} is invisible here"
                    + (
                        ": the batch is empty (N = 0), so every gradient is empty or zero"
                        if case.input_shape[0] == 0
                        else ""
                    ),
                )
            )
            continue
        record = quantity_record(
            case, "reference", name, quantity, baseline, output, expected="diverge"
        )
        if record.observed == "diverge":
            record.cause = cause
        else:
            record.expected, record.status = "agree", "ok"
            if case.input_shape[0] == 0:
                change = f"is invisible here: the batch is empty (N = 0) this case's {quantity}"
            else:
                change = variant_change(output, baseline, quantity)
            record.message = f"{name} {change}; {record.message}"
        rows.append(record)
    return rows


def judged(
    record: Record,
    func: Callable | None,
    value,
    baseline,
    quantity,
    variants,
    context: QuantityContext | None = None,
) -> Record:
    """A diverging row with its cause; a known cause of the implementation is expected."""
    if record.observed != "diverge":
        return record
    try:  # NaN/Inf reaching more or fewer elements is `nan`, as in the forward's rows
        record.cause = explain_quantity(value, baseline, quantity, variants, context)
    except Exception as error:  # never lose the row
        record.status = "error"
        record.message = (
            f"{harness_fault_text('explaining the divergence', error)}; {record.message}"
        )
        return record
    if record.cause in getattr(func, "known_causes", ()):
        record.expected, record.status = "diverge", "ok"
    return record


def transposed_gradient_baselines(case: Case, arrays: CaseArrays, g64) -> dict[str, Baseline]:
    x, w, b = arrays.input64, arrays.weight64, arrays.bias64
    params = (case.stride, case.pads[0::2], case.output_padding, case.groups, case.dilation)

    def compute(f):
        return gradients.conv_transpose2d_backward(
            f(g64), f(x), f(w), None if b is None else f(b), *params
        )

    exact = gradients.conv_transpose2d_backward(g64, x, w, b, *params)
    n, taps = case.input_shape[0], math.prod(case.kernel)
    counts = (
        case.weight_shape[1] * taps,
        n * math.prod(case.input_shape[2:]),
        n * math.prod(case.output_shape[2:]),
    )
    blocks, spreads = transposed_gradient_blocks(case), transposed_gradient_spreads(x, w, g64)
    return magnitude_baselines(case, compute, GRADIENTS, exact, counts, blocks, spreads)


def _prepadded(case: Case, func) -> bool:
    return harness_pads_first(case, bool(getattr(func, "handles_padding_mode", False)))


def backward_records(
    case: Case,
    implementations: Sequence[Implementation],
    arrays: CaseArrays,
    options,
    layouts=None,
) -> list[Record]:
    g, g64 = grad_output_arrays(case)
    operation = f"{case.op}_backward"
    if case.transposed:
        baselines = transposed_gradient_baselines(case, arrays, g64)
        variants: list[tuple] = []
    else:
        baselines = gradient_baselines(case, arrays, g64)
        variants = backward_variants(case, arrays, g64, baselines)
    records = []
    for implementation in implementations:
        name, backward = implementation.name, implementation.operation(operation)
        if backward is None:
            result = Gradients({}, "unsupported", f"{name} defines no {operation}")
        else:
            result = call_backward(backward, case, arrays, g, options.timeout)
        for quantity, baseline in baselines.items():
            value = result.values.get(quantity)
            if value is None:
                status = result.status or "error"
                message = result.message or f"returned no {quantity}"
                row = quantity_record(
                    case, name, "as_is", quantity, baseline, None, status=status, message=message
                )
                records.append(refused_complex(row, case.dtype, Outcome(None, status, message)))
                continue
            record = quantity_record(
                case, name, "as_is", quantity, baseline, value, message=result.message
            )
            record = judged(
                record,
                backward,
                value,
                baseline,
                quantity,
                variants,
                QuantityContext(
                    case, arrays, g64, not case.transposed and _prepadded(case, backward)
                ),
            )
            if result.contract:
                record.status = "error"
                record.message = f"{result.contract}; {record.message}"
            records.append(refused_complex(record, case.dtype, Outcome(value), baseline.output))
        if layouts is not None:  # its layout rows (harness.running.layout_rows), after its own
            records += layouts(implementation, result, baselines, variants)
    if options.variants:
        records.extend(variant_rows(case, baselines, variants))
    return records
