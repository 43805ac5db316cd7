"""`conv-harness diagnose module[:function]`: does an implementation match torch's conv1d, conv2d
and conv3d, and if not, which semantic does it get wrong, at which rank?

Every operation the implementation defines is probed (Implementation.operations, as the resolver
harness.computations.registry found them): a plug-in module's conv1d, conv2d and conv3d, their
backward passes (harness.probing.diagnose_backward), its transposed convolutions and their backward
passes (harness.probing.diagnose_transposed), a `module:function` as the operation its name says
(conv2d unless named otherwise), each at its own rank, and the verdict is given overall and per rank
(harness.probing.diagnosis); nothing to probe is a one-line error (exit 2). Each rank
runs a fixed set of small probes (harness.probing.probes), each built so that one property shows
(kernel orientation along every axis, depth summation, group mapping, 'same' padding side, padding
axes, stride phase, dilation spacing, bias, rounding). Probes use small integer data, so every
correct output is exact and a counterexample reads well; the precision probe uses random normal
data with a longer reduction. A diverging output is explained by the bug families
(harness.explaining.explanation), fewest first, so several bugs at once are named together, a flip
along one axis is named with its axis ("kernel flipped along D only"), and an output of the wrong
shape is still attributed (ignored dilation gives a larger output).
Probes the implementation refuses are retried in simpler forms (harness.probing.probe_retry), else
reported as unsupported (NotImplementedError) or an error; a result that breaks the output
contract (harness.running.runner.output_contract) makes the probe an error, as it makes the row an
error in `run`; a failure while judging a probe is its error, never a traceback.
The diverging probe showing the most causes, about one of them (a kernel flip shows on the
orientation probe, not on the stride probe it also spoils), the smallest of those, shrunk further
(batch, then each spatial axis), is the counterexample, in the case file format and of the
probe's rank (its `op` named at ranks 1 and 3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from harness.cases.data import materialize
from harness.cases.errors import CaseFileError
from harness.cases.loading import Case, torch_rejection
from harness.computations.calling import call_implementation, complex_refusal, one_line
from harness.computations.implementation import Implementation
from harness.computations.implementations import harness_pads_first
from harness.explaining.explanation import Explanation, explain_output, order_causes
from harness.probing.counterexample import counterexample_dict, quantity_counterexample
from harness.probing.diagnosis import Diagnosis, human_lines, verdict_of
from harness.probing.probe_retry import complex_unsupported, retried, simpler_forms, valid
from harness.probing.probe_ties import reconciled
from harness.probing.probes import Probe, ProbeResult, as_torch, op_rank, probe_case, probes_for
from harness.verdicts.baseline import compute_baseline
from harness.verdicts.compare import compare


def _describe(probe: Probe, explanation: Explanation, max_abs: float | None) -> str:
    if explanation.family is not None:
        changes = explanation.family.changes
        focused = [c.finding for c in changes if c.cause == probe.cause]
        others = [c.finding for c in changes if c.cause != probe.cause]
        if explanation.family.arithmetic:
            (focused if probe.cause == "precision" else others).append(
                f"rounding as of {explanation.family.arithmetic} arithmetic"
            )
        if focused:
            return "; ".join(focused + [f"also: {w}" for w in others])
        return "; ".join(others)  # the probe shows a cause other than the one it is about
    if explanation.fallback == "precision":
        return (
            f"differs by rounding as of {explanation.arithmetic} arithmetic "
            f"(max abs diff {max_abs:.3g})"
        )
    if explanation.fallback == "nan":
        return "propagates NaN/Inf differently"
    if explanation.fallback == "shape":
        return "returns another output shape that no known cause explains"
    return f"diverges (max abs diff {max_abs:.3g}) and no known cause explains it"


def run_probe(func: Callable, probe: Probe, case: Case | None = None) -> ProbeResult:
    """Run one probe. A probe the implementation refuses (NotImplementedError or an exception)
    is retried in simpler forms (harness.probing.probe_retry.simpler_forms), one more at a time, so
    a restricted implementation is still diagnosed on every property it supports."""
    case = case or probe_case(probe)
    result = _guarded(func, probe, case)
    if probe.optional:  # the complex probe: real-only code is unsupported there, not retried
        return complex_unsupported([result], case)[0]

    def attempt(overrides: dict) -> list[ProbeResult] | None:
        try:
            simpler = probe_case(probe, overrides)
        except CaseFileError:
            return None
        return [_guarded(func, probe, simpler)] if valid(simpler) else None

    return retried(attempt, case, [result])[0]


def _guarded(func: Callable, probe: Probe, case: Case) -> ProbeResult:
    """One run of a probe; a failure while judging it (a result that cannot be compared) is the
    probe's error, with the reason, never a traceback."""
    try:
        return _run_probe_once(func, probe, case)
    except Exception as error:
        first = str(error).splitlines()[0] if str(error) else ""
        text = one_line(f"the result could not be judged: {type(error).__name__}: {first}")
        return ProbeResult(probe, case, "error", text, message=text)


def _run_probe_once(func: Callable, probe: Probe, case: Case) -> ProbeResult:
    arrays = materialize(case)
    reference_result = compute_baseline(case, arrays)
    outcome = call_implementation(func, case, arrays)
    if outcome.output is None:
        status = "unsupported" if outcome.status == "unsupported" else "error"
        refusal = complex_refusal(case.dtype, outcome, status)  # as `run`'s row says
        status, text = ("unsupported", refusal) if refusal else (status, outcome.message)
        return ProbeResult(probe, case, status, text, message=text)
    output = outcome.output
    metrics = compare(output, reference_result.output, reference_result.tolerance)
    if metrics.agree:
        result = ProbeResult(
            probe,
            case,
            "ok",
            as_torch(probe),
            max_abs_diff=metrics.max_abs_diff,
            message=outcome.message,
        )
    else:
        explanation = explain_output(
            case,
            arrays,
            output,
            reference_result,
            prepadded=harness_pads_first(case, getattr(func, "handles_padding_mode", False)),
        )
        finding = _describe(probe, explanation, metrics.max_abs_diff)
        message = outcome.message
        if output.shape != reference_result.output.shape:  # say both, as `run`'s rows do
            shapes = (
                f"returns shape {list(output.shape)}, torch {list(reference_result.output.shape)}"
            )
            if explanation.family is None and explanation.fallback == "shape":
                finding = f"{shapes}, which no known cause explains"
            else:
                finding = f"{finding}; {shapes}"
            message = "; ".join(p for p in (shapes, message) if p)
        result = ProbeResult(
            probe,
            case,
            "diverges",
            finding,
            causes=explanation.causes,
            max_abs_diff=metrics.max_abs_diff,
            message=message,
        )
    if outcome.contract:  # the same verdict as `run`: a broken output contract is an error
        values = (
            "the values agree with torch"
            if result.status == "ok"
            else f"the values: {result.finding}"
        )
        result.status = "error"
        result.contract = outcome.contract
        result.finding = f"{outcome.contract}; {values}"
        result.message = "; ".join(p for p in (outcome.contract, result.message) if p)
    return result


def _cost(case: Case) -> int:
    return int(np.prod(case.output_shape)) * case.reduction_length


def _counterexample_order(result: ProbeResult) -> tuple:
    """The probe showing the most causes at once, then one about a cause it shows (a flip is
    shown on the orientation probe, not on the stride probe it also spoils), the smallest
    among those."""
    return (-len(result.causes), result.probe.cause not in result.causes, _cost(result.case))


def shrink(func: Callable, result: ProbeResult) -> ProbeResult:
    """Make the counterexample smaller (batch, then each spatial axis) while it shows the same
    causes."""
    best = result
    for axis in (0, *range(2, best.case.rank + 2)):
        while best.case.input_shape[axis] > 1 and isinstance(best.probe.fields["input"], dict):
            shape = list(best.case.input_shape)
            shape[axis] -= 1
            probe = replace(
                best.probe,
                fields={
                    **best.probe.fields,
                    "input": {**best.probe.fields["input"], "shape": shape},
                },
            )
            try:
                candidate = probe_case(probe, {"dtype": best.case.dtype})
            except CaseFileError:
                break
            if torch_rejection(candidate) is not None:
                break
            attempt = _run_probe_once(func, probe, candidate)
            if attempt.status != "diverges" or attempt.causes != best.causes:
                break
            best = attempt
    return best


ORDER = [
    f"{stem}{rank}d{suffix}"
    for rank in (1, 2, 3)
    for stem in ("conv", "conv_transpose")
    for suffix in ("", "_backward")
]


def probed_operations(implementation: Implementation) -> dict[str, Callable]:
    """The operations diagnose probes, rank by rank: conv{r}d, conv{r}d_backward (its own, or
    autograd through a conv{r}d that takes tensors), conv_transpose{r}d and
    conv_transpose{r}d_backward."""
    operations = implementation.operations
    return {op: operations[op] for op in ORDER if op in operations}


def operation_results(implementation: Implementation, op: str) -> list[ProbeResult]:
    """Every probe of one operation."""
    from harness.probing.diagnose_backward import backward_results
    from harness.probing.diagnose_transposed import transposed_backward_results, transposed_results
    from harness.probing.layout_probe import layout_results

    rank, function = op_rank(op), implementation.operations[op]
    if op.startswith("conv_transpose"):
        if op.endswith("_backward"):
            results = transposed_backward_results(function, rank)
        else:
            results = transposed_results(function, rank)
    elif op.endswith("_backward"):
        results = backward_results(function, rank)
    else:
        results = [run_probe(function, probe) for probe in probes_for(rank)]
    return results + layout_results(function, implementation.tensor_operation(op), rank, op)


def diagnose(implementation: Implementation) -> Diagnosis:
    """Probe every operation the implementation defines (`probed_operations`), each at its rank;
    the counterexample is the failing probe showing the most causes, about one of them where one
    is, the smallest among those, shrunk. No operation to probe is a HarnessError (exit 2),
    never "matches"."""
    from harness.cases.errors import HarnessError

    name = implementation.name
    operations = probed_operations(implementation)
    results = [r for op in operations for r in operation_results(implementation, op)]
    results = reconciled(results)
    if not results:
        raise HarnessError(
            f"implementation '{name}': defines no operation diagnose can probe "
            "(conv1d/2d/3d, conv_transpose1d/2d/3d or their _backward)"
        )
    causes = order_causes(c for r in results for c in r.causes)
    verdict = verdict_of(results)
    counterexample = None
    failing = [r for r in results if r.status == verdict] if verdict != "matches" else []
    if failing:
        smallest = min(failing, key=_counterexample_order)
        forward = smallest.quantity == "output" and not smallest.case.transposed
        if smallest.status == "diverges" and forward:
            smallest = shrink(operations[smallest.probe.op], smallest)
        if forward:
            counterexample = counterexample_dict(smallest, name)
        else:  # a backward or transposed probe: its configuration, as a case
            counterexample = quantity_counterexample(smallest, name)
    return Diagnosis(name, verdict, causes, results, counterexample)


__all__ = [
    "Diagnosis",
    "counterexample_dict",
    "diagnose",
    "human_lines",
    "run_probe",
    "simpler_forms",
    "verdict_of",
]
