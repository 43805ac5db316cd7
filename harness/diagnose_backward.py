"""`diagnose` for the backward pass and for the transposed convolution, at every spatial rank
(conv{r}d_backward, conv_transpose{r}d for r in 1, 2, 3): probes and what they show.

Backward probes reuse the forward probes' configurations where the gradients' semantics show
(an asymmetric kernel shows whether grad_input is the true convolution, a stride where grad_output
is zero-upsampled, a bias whether grad_bias is a sum), with integer grad_output so every correct
gradient is exact; they are the forward probes of the same rank (harness.probes.probes_for). Each
(probe, quantity) is one result, named `grad_input:orientation` and so on (prefixed by the
operation at ranks 1 and 3: `conv3d_backward:grad_input:orientation`), explained by the backward
variants of harness.backward. Transposed probes are a few conv_transpose{r}d configurations per
rank (asymmetric kernel, stride with output_padding, groups), named `conv_transpose3d:stride`.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.backward import (
    QuantityContext,
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
from harness.probes import KERNEL_1D, KERNEL_3D, Probe, ProbeResult, probes_for
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


# per rank: (input, weight) shapes, stride, padding and output_padding of the stride probe,
# (input, weight) of the groups probe, the input of the orientation probe and its kernel
TRANSPOSED_SHAPES = {
    1: ([1, 2, 4], [2, 1, 3], 3, 1, 2, [1, 4, 4], [4, 2, 2], [1, 1, 4], KERNEL_1D),
    2: (
        [1, 2, 3, 3],
        [2, 1, 3, 2],
        [2, 3],
        1,
        [1, 2],
        [1, 4, 3, 3],
        [4, 2, 2, 2],
        [1, 1, 3, 4],
        [[1, 2, 0], [0, 1, 0], [0, 0, 3]],
    ),
    3: (
        [1, 2, 2, 3, 3],
        [2, 1, 2, 3, 2],
        [2, 3, 2],
        1,
        [1, 2, 1],
        [1, 4, 2, 2, 2],
        [4, 2, 2, 2, 2],
        [1, 1, 2, 3, 3],
        KERNEL_3D,
    ),
}


def _words(value) -> str:
    return str(value) if isinstance(value, int) else f"({', '.join(map(str, value))})"


def transposed_probes(rank: int) -> tuple[Probe, ...]:
    """conv_transpose{rank}d's probes: an asymmetric kernel, stride with output_padding, groups."""
    op = f"conv_transpose{rank}d"
    x, w, stride, padding, output_padding, gx, gw, ox, kernel = TRANSPOSED_SHAPES[rank]
    return (
        Probe(
            "orientation",
            "kernel_flip",
            {"op": op, "input": _ints(ox, 41), "weight": kernel},
            f"{op} with an asymmetric kernel: it must flip the kernel (true convolution)",
            op,
        ),
        Probe(
            "stride",
            "stride",
            {
                "op": op,
                "input": _ints(x, 42),
                "weight": _ints(w, 43),
                "stride": stride,
                "padding": padding,
                "output_padding": output_padding,
            },
            f"stride {_words(stride)}, padding {padding} and output_padding "
            f"{_words(output_padding)}: shows the upsampling grid",
            op,
        ),
        Probe(
            "groups",
            "groups",
            {
                "op": op,
                "input": _ints(gx, 44),
                "weight": _ints(gw, 45),
                "groups": 2,
                "bias": [1, -2, 3, 4],
            },
            "groups=2 with a bias: shows the channel mapping of the transposed weight",
            op,
        ),
    )


def backward_results(backward: Callable, rank: int = 2) -> list[ProbeResult]:
    """One result per (probe, gradient) for a conv{rank}d_backward."""
    results = []
    for probe in probes_for(rank):
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
                f"{quantity}:{probe.property}",
                probe.cause,
                probe.fields,
                probe.description,
                f"conv{rank}d_backward",
            )
            value = gradients.values.get(quantity)
            if value is None:
                status = "unsupported" if gradients.status == "unsupported" else "error"
                message = gradients.message or f"returned no {quantity}"
                results.append(
                    ProbeResult(named, case, status, message, message=message, quantity=quantity)
                )
                continue
            context = QuantityContext(case, arrays, g64)
            results.append(
                _judge(named, value, baseline, quantity, variants, gradients.contract, context)
            )
    return results


def transposed_results(transposed: Callable, rank: int = 2) -> list[ProbeResult]:
    """One result per transposed probe for a conv_transpose{rank}d."""
    results = []
    for named in transposed_probes(rank):
        raw = {
            "id": f"transposed_probe_{rank}d_{named.property}",
            "description": named.description,
            **named.fields,
        }
        case = case_from_dict(raw, source="<diagnose>")
        arrays = materialize(case)
        baseline = transposed_baseline(case, arrays)
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
                outcome.output,
                baseline,
                "output",
                transposed_variants(case, arrays),
                outcome.contract,
                QuantityContext(case, arrays),
            )
        )
    return results


def _judge(
    probe: Probe, value, baseline, quantity, variants, contract, context: QuantityContext
) -> ProbeResult:
    case = context.case
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
    cause = explain_quantity(value, baseline, quantity, variants, context)
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
