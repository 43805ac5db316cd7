"""Running one probe of an operation whose result is one or more quantities: a backward pass
(conv{r}d_backward, conv_transpose{r}d_backward: grad_input, grad_weight, grad_bias) or a
transposed convolution (conv_transpose{r}d: its output), and judging each quantity.

`probe_quantities(func, probe)` builds the probe's case (with an integer grad_output of the
output's shape for a backward, so every correct gradient is exact), computes torch's quantities
exactly (harness.running.backward, harness.running.transposed), calls the implementation and gives
one ProbeResult per quantity. A probe nothing of which runs is retried in simpler forms
(harness.probing.probe_retry). The optional complex probe (real-only code cannot take it) is
`unsupported` when it fails or diverges by no known cause. Nothing escapes as an exception: a
failure while judging (an implementation's result that cannot be compared, say) is that
quantity's `error` result, with the reason.

A divergence is explained by harness.running.backward.explain_quantity_output, in the quantity's own
words where it has them; complex gradients are also compared with the gradients of the
convention that does not conjugate (JAX's: grad_input = sum g*w), which is `conjugation`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.cases.data import CaseArrays, is_complex, materialize
from harness.cases.errors import CaseFileError
from harness.cases.loading import Case, case_from_dict
from harness.computations import gradients
from harness.computations.calling import Outcome, call_implementation, complex_refusal, one_line
from harness.probing.probe_retry import complex_unsupported, retried, valid
from harness.probing.probes import Probe, ProbeResult
from harness.running.backward import (
    QuantityContext,
    backward_variants,
    call_backward,
    explain_quantity_output,
    grad_output_arrays,
    gradient_baselines,
    transposed_gradient_baselines,
)
from harness.running.transposed import transposed_baseline, transposed_variants
from harness.verdicts.compare import compare

# what a quantity's divergence means, by cause, where its explanation has no words of its own
FINDINGS = {
    "kernel_flip": "the kernel read in another orientation (grad_input must be the true "
    "convolution: the kernel rotated 180 degrees)",
    "stride": "grad_output's zeros inserted at the wrong positions for the stride",
    "bias": "grad_bias is not the sum over batch and positions (e.g. their mean)",
    "conjugation": "computed without conjugating like torch (torch's gradients are the "
    "conjugate vector-Jacobian products: grad_input sums g*conj(w), grad_weight g*conj(x))",
    "precision": "differs by rounding of narrower arithmetic",
    "shape": "returns another shape",
    "unknown": "diverges and no known cause explains it",
}


def _ints(shape, seed: int) -> dict:
    return {"shape": list(shape), "init": "integers", "low": -3, "high": 4, "seed": seed}


def integer_data(fields: dict) -> bool:
    return all(
        isinstance(fields.get(t), list)
        or (isinstance(fields.get(t), dict) and fields[t].get("init") == "integers")
        for t in ("input", "weight")
    )


def quantity_case(probe: Probe, overrides: dict | None = None) -> Case:
    """The probe's case; a backward probe's with an integer grad_output when its data are
    integers (every correct gradient exact), else the one drawn from the case id."""
    fields = {**probe.fields, **(overrides or {})}
    fields = {k: v for k, v in fields.items() if v is not None}
    name = probe.label.replace(":", "_")
    raw = {"id": f"probe_{name}", "description": probe.description, **fields}
    case = case_from_dict(raw, source="<diagnose>")
    if probe.op.endswith("_backward") and integer_data(fields):
        case = case_from_dict({**raw, "grad_output": _ints(case.output_shape, 99)}, "<diagnose>")
    return case


def conjugation_variants(case: Case, arrays: CaseArrays, g64: np.ndarray) -> list[tuple]:
    """The gradients of a complex case in the convention that does not conjugate (grad_input
    sums g*w, grad_weight g*x: JAX's): conj of torch's gradients for conj(grad_output)."""
    if not is_complex(case.dtype):
        return []
    x, w, b = arrays.input64, arrays.weight64, arrays.bias64
    if case.transposed:
        plain = gradients.conv_transpose_backward(
            np.conj(g64), x, w, b, case.stride, case.pads[0::2], case.output_padding,
            case.groups, case.dilation,
        )  # fmt: skip
    else:
        params = (case.stride, case.pads, case.dilation, case.groups, case.padding_mode)
        plain = gradients.conv2d_backward(np.conj(g64), x, w, b, *params)
    return [
        (f"{quantity}_not_conjugated", quantity, "conjugation", np.conj(value))
        for quantity, value in zip(("grad_input", "grad_weight"), plain[:2], strict=True)
    ]


# a transposed convolution's output, where its words differ from the gradients'
OUTPUT_FINDINGS = {
    "kernel_flip": "the kernel read in another orientation (a transposed convolution is the "
    "true convolution of the upsampled input: the kernel rotated 180 degrees)",
    "padding": "output_padding or padding applied otherwise (torch crops `padding` from each "
    "side and adds output_padding after)",
    "groups": "the weight's channel axes read otherwise ((C_in, C_out/groups, ...) in torch)",
    "conjugation": "conjugates where torch multiplies plainly",
    "stride": "the upsampling grid placed otherwise (input element i lands at i*stride in torch)",
    "dilation": "the kernel's taps spaced otherwise (dilation apart in torch)",
    "bias": "the bias not added as torch adds it (once per output channel)",
}


def conjugated_outputs(case: Case, arrays: CaseArrays) -> list[tuple]:
    """A complex transposed convolution with its kernel, its input or both conjugated (torch
    multiplies plainly): `conjugation`."""
    if not is_complex(case.dtype):
        return []
    x, w, b = arrays.input64, arrays.weight64, arrays.bias64
    params = (case.stride, case.pads[0::2], case.output_padding, case.groups, case.dilation)
    return [
        (f"output_{name}_conjugated", "output", "conjugation",
         gradients.conv_transpose2d(xc, wc, b, *params))
        for name, xc, wc in (
            ("kernel", x, np.conj(w)), ("input", np.conj(x), w), ("both", np.conj(x), np.conj(w))
        )
    ]  # fmt: skip


def _words(explanation, quantity: str) -> str:
    """The explanation's own findings; a bare variant name is replaced by the cause's words."""
    words = [w for w in explanation.findings if " " in w]
    if words:
        return "; ".join(words)
    named = {**FINDINGS, **OUTPUT_FINDINGS} if quantity == "output" else FINDINGS
    return "; ".join(named.get(cause, cause) for cause in explanation.causes) or "unknown"


def _ties(explanation, value, baseline, quantity, context) -> list:
    """The equally cheap family explanations when families read alike here (else none)."""
    from harness.explaining.quantity_explain import equally_cheap_explanations

    if explanation.family is None:
        return []
    ties = equally_cheap_explanations(value, baseline, quantity, context)
    return ties if len(ties) > 1 else []


def judge(probe: Probe, value, baseline, quantity, variants, contract, context) -> ProbeResult:
    """One quantity's result: ok, diverges with its causes and findings, or an error (a broken
    output contract, or a value that cannot be judged)."""
    case = context.case
    try:
        metrics = compare(value, baseline.output, baseline.tolerance)
        if contract:
            text = f"breaks the output contract: {contract}"
            return ProbeResult(
                probe, case, "error", text, max_abs_diff=metrics.max_abs_diff, message=contract,
                contract=contract, quantity=quantity,
            )  # fmt: skip
        if metrics.agree:
            return ProbeResult(
                probe, case, "ok", f"{quantity} as torch computes it",
                max_abs_diff=metrics.max_abs_diff, quantity=quantity,
            )  # fmt: skip
        explanation = explain_quantity_output(value, baseline, quantity, variants, context)
        finding = f"{quantity}: {_words(explanation, quantity)}"
        if np.shape(value) != baseline.output.shape:
            finding += f" (returns shape {list(np.shape(value))}, torch "
            finding += f"{list(baseline.output.shape)})"
        shape_words = finding[len(f"{quantity}: {_words(explanation, quantity)}") :]
        alternatives = [
            (family.causes, f"{quantity}: {'; '.join(family.findings)}{shape_words}")
            for family in _ties(explanation, value, baseline, quantity, context)
        ]
        return ProbeResult(
            probe, case, "diverges", finding, causes=explanation.causes or ["unknown"],
            max_abs_diff=metrics.max_abs_diff, quantity=quantity, alternatives=alternatives,
        )  # fmt: skip
    except Exception as error:  # a result that cannot be judged is this probe's error
        first = str(error).splitlines()[0] if str(error) else ""
        text = one_line(f"{quantity} could not be judged: {type(error).__name__}: {first}")
        return ProbeResult(probe, case, "error", text, message=text, quantity=quantity)


def _once(func: Callable, probe: Probe, case: Case) -> list[ProbeResult]:
    arrays = materialize(case)
    if not probe.op.endswith("_backward"):  # a transposed convolution's output
        baseline = transposed_baseline(case, arrays)
        outcome = call_implementation(func, case, arrays)
        if outcome.output is None:
            status = "unsupported" if outcome.status == "unsupported" else "error"
            refusal = complex_refusal(case.dtype, outcome, status)  # as `run`'s row says
            status, text = ("unsupported", refusal) if refusal else (status, outcome.message)
            return [ProbeResult(probe, case, status, text, message=text)]
        context = QuantityContext(case, arrays)
        changed = transposed_variants(case, arrays) + conjugated_outputs(case, arrays)
        return [
            judge(probe, outcome.output, baseline, "output", changed, outcome.contract, context)
        ]
    g, g64 = grad_output_arrays(case)
    if case.transposed:
        baselines = transposed_gradient_baselines(case, arrays, g64)
        variants: list[tuple] = []
    else:
        baselines = gradient_baselines(case, arrays, g64)
        variants = backward_variants(case, arrays, g64, baselines)
    variants = variants + conjugation_variants(case, arrays, g64)
    called = call_backward(func, case, arrays, g, None)
    context = QuantityContext(case, arrays, g64)
    results = []
    for quantity, baseline in baselines.items():
        named = Probe(
            f"{quantity}:{probe.property}", probe.cause, probe.fields, probe.description,
            probe.op, probe.optional,
        )  # fmt: skip
        value = called.values.get(quantity)
        if value is None:
            status = "unsupported" if called.status == "unsupported" else "error"
            message = called.message or f"returned no {quantity}"
            refusal = complex_refusal(case.dtype, Outcome(None, status, message), status)
            status, message = ("unsupported", refusal) if refusal else (status, message)
            results.append(
                ProbeResult(named, case, status, message, message=message, quantity=quantity)
            )
            continue
        results.append(judge(named, value, baseline, quantity, variants, called.contract, context))
    return results


def _guarded(func: Callable, probe: Probe, case: Case) -> list[ProbeResult]:
    try:
        return _once(func, probe, case)
    except Exception as error:  # never a traceback out of a probe
        first = str(error).splitlines()[0] if str(error) else ""
        text = one_line(f"the probe could not be run: {type(error).__name__}: {first}")
        return [ProbeResult(probe, case, "error", text, message=text)]


def probe_quantities(func: Callable, probe: Probe) -> list[ProbeResult]:
    """The results of one backward or transposed probe: one per quantity, retried in simpler
    forms when nothing of it runs (an optional probe is not retried)."""
    case = quantity_case(probe)
    first = _guarded(func, probe, case)
    if probe.optional:
        return complex_unsupported(first, case)

    def attempt(overrides: dict) -> list[ProbeResult] | None:
        try:
            simpler = quantity_case(probe, overrides)
        except CaseFileError:
            return None
        return _guarded(func, probe, simpler) if valid(simpler) else None

    return retried(attempt, case, first)
