"""`diagnose` for the backward pass and for conv_transpose2d: probes and what they show.

Backward probes reuse the forward probes' configurations where the gradients' semantics show
(an asymmetric kernel shows whether grad_input is the true convolution, a stride where grad_output
is zero-upsampled, a bias whether grad_bias is a sum), with integer grad_output so every correct
gradient is exact. Each (probe, quantity) is one result, named `grad_input:orientation` and so
on, explained by the backward variants of harness.backward. Transposed probes are a few
conv_transpose2d configurations (asymmetric kernel, stride with output_padding, groups).
"""

from __future__ import annotations

from collections.abc import Callable

from harness.backward import (
    backward_variants,
    call_backward,
    explain_quantity,
    grad_output_arrays,
    gradient_baselines,
)
from harness.calling import call_implementation
from harness.cases import case_from_dict
from harness.compare import compare
from harness.data import materialize
from harness.probes import PROBES, Probe, ProbeResult
from harness.transposed import transposed_baseline, transposed_variants

BACKWARD_PROBES = (
    "orientation",
    "orientation_nonsquare",
    "depth",
    "groups",
    "padding",
    "stride",
    "dilation",
    "bias",
    "boundary_reflect",
    "precision",
    "float32",
)
FINDINGS = {
    "kernel_flip": "the kernel read in another orientation (grad_input must be the true "
    "convolution: the kernel rotated 180 degrees)",
    "stride": "grad_output's zeros inserted at the wrong positions for the stride",
    "bias": "grad_bias is not the sum over batch and positions (e.g. their mean)",
    "precision": "differs by rounding of narrower arithmetic",
    "shape": "returns another shape",
    "unknown": "diverges and no known cause explains it",
}


def _ints(shape, seed):
    return {"shape": list(shape), "init": "integers", "low": -3, "high": 4, "seed": seed}


TRANSPOSED_PROBES = (
    Probe(
        "orientation",
        "kernel_flip",
        {
            "op": "conv_transpose2d",
            "input": _ints([1, 1, 3, 4], 41),
            "weight": [[1, 2, 0], [0, 1, 0], [0, 0, 3]],
        },
        "conv_transpose2d with an asymmetric kernel: it must flip the kernel (true convolution)",
    ),
    Probe(
        "stride",
        "stride",
        {
            "op": "conv_transpose2d",
            "input": _ints([1, 2, 3, 3], 42),
            "weight": _ints([2, 1, 3, 2], 43),
            "stride": [2, 3],
            "padding": 1,
            "output_padding": [1, 2],
        },
        "stride (2, 3), padding 1 and output_padding (1, 2): shows the upsampling grid",
    ),
    Probe(
        "groups",
        "groups",
        {
            "op": "conv_transpose2d",
            "input": _ints([1, 4, 3, 3], 44),
            "weight": _ints([4, 2, 2, 2], 45),
            "groups": 2,
            "bias": [1, -2, 3, 4],
        },
        "groups=2 with a bias: shows the channel mapping of the transposed weight",
    ),
)


def backward_results(backward: Callable) -> list[ProbeResult]:
    """One result per (probe, gradient) for a conv2d_backward."""
    results = []
    for probe in PROBES:
        if probe.property not in BACKWARD_PROBES:
            continue
        fields = dict(probe.fields)
        integer = all(
            isinstance(fields.get(t), list) or fields.get(t, {}).get("init") == "integers"
            for t in ("input", "weight")
        )
        raw = {"id": f"backward_probe_{probe.property}", "description": probe.description, **fields}
        case = case_from_dict(raw, source="<diagnose>")
        if integer:
            case = case_from_dict(
                {**raw, "grad_output": _ints(case.output_shape, 99)}, source="<diagnose>"
            )
        arrays = materialize(case)
        g, g64 = grad_output_arrays(case)
        baselines = gradient_baselines(case, arrays, g64)
        gradients = call_backward(backward, case, arrays, g, None)
        variants = backward_variants(case, arrays, g64, baselines)
        for quantity, baseline in baselines.items():
            named = Probe(
                f"{quantity}:{probe.property}", probe.cause, probe.fields, probe.description
            )
            value = gradients.values.get(quantity)
            if value is None:
                status = "unsupported" if gradients.status == "unsupported" else "error"
                message = gradients.message or f"returned no {quantity}"
                results.append(
                    ProbeResult(named, case, status, message, message=message, quantity=quantity)
                )
                continue
            results.append(
                _judge(named, case, value, baseline, quantity, variants, gradients.contract)
            )
    return results


def transposed_results(transposed: Callable) -> list[ProbeResult]:
    """One result per transposed probe for a conv_transpose2d."""
    results = []
    for probe in TRANSPOSED_PROBES:
        raw = {
            "id": f"transposed_probe_{probe.property}",
            "description": probe.description,
            **probe.fields,
        }
        case = case_from_dict(raw, source="<diagnose>")
        arrays = materialize(case)
        baseline = transposed_baseline(case, arrays)
        named = Probe(
            f"conv_transpose2d:{probe.property}", probe.cause, probe.fields, probe.description
        )
        outcome = call_implementation(transposed, case, arrays)
        if outcome.output is None:
            status = "unsupported" if outcome.status == "unsupported" else "error"
            results.append(
                ProbeResult(named, case, status, outcome.message, message=outcome.message)
            )
            continue
        results.append(
            _judge(
                named,
                case,
                outcome.output,
                baseline,
                "output",
                transposed_variants(case, arrays),
                outcome.contract,
            )
        )
    return results


def _judge(probe: Probe, case, value, baseline, quantity, variants, contract) -> ProbeResult:
    metrics = compare(value, baseline.output, baseline.tolerance)
    if contract:
        return ProbeResult(
            probe,
            case,
            "error",
            f"breaks the output contract: {contract}",
            max_abs_diff=metrics.max_abs_diff,
            message=contract,
            contract=contract,
            quantity=quantity,
        )
    if metrics.agree:
        return ProbeResult(
            probe,
            case,
            "ok",
            f"{quantity} as torch computes it",
            max_abs_diff=metrics.max_abs_diff,
            quantity=quantity,
        )
    cause = explain_quantity(value, baseline, quantity, variants)
    finding = f"{quantity}: {FINDINGS.get(cause, cause)}"
    if cause == "shape":
        finding += f" ({list(value.shape)}, torch {list(baseline.output.shape)})"
    return ProbeResult(
        probe,
        case,
        "diverges",
        finding,
        causes=[cause],
        max_abs_diff=metrics.max_abs_diff,
        quantity=quantity,
    )
