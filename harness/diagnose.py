"""`conv-harness diagnose module[:function]`: does an implementation match torch's conv1d, conv2d
and conv3d, and if not, which semantic does it get wrong, at which rank?

Every operation the implementation defines is probed (harness.registry.operations_of): a plug-in
module's conv1d, conv2d and conv3d (and their backward passes and transposed convolutions,
harness.diagnose_backward), a `module:function` as the operation its name says (conv2d unless
named otherwise), each at its own rank, and the verdict is given overall and per rank. Each rank
runs a fixed set of small probes (harness.probes), each built so that one property shows (kernel
orientation along every axis, depth summation, group mapping, 'same' padding side, padding axes,
stride phase, dilation spacing, bias, rounding). Probes use small integer data, so every
correct output is exact and a counterexample reads well; the precision probe uses random normal
data with a longer reduction. A diverging output is explained by the bug families
(harness.explanation), fewest first, so several bugs at once are named together, a flip along
one axis is named with its axis ("kernel flipped along D only"), and an output of the wrong shape
is still attributed (ignored dilation gives a larger output).
Probes the implementation refuses with NotImplementedError are reported as unsupported; a result
that breaks the output contract (harness.runner.output_contract) makes the probe an error, as it
makes the row an error in `run`.
The smallest diverging probe, shrunk further (batch, then each spatial axis), is the
counterexample, in the case file format and of the probe's rank (its `op` named at ranks 1 and 3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from harness.baseline import compute_baseline
from harness.calling import call_implementation
from harness.cases import Case, torch_rejection
from harness.compare import compare
from harness.data import materialize
from harness.errors import CaseFileError
from harness.explanation import Explanation, explain_output, order_causes
from harness.implementations import harness_pads_first
from harness.probes import Probe, ProbeResult, as_torch, op_rank, probe_case, probes_for


def verdict_of(results: list[ProbeResult]) -> str:
    """diverges when a probe diverges, else error when one fails, else matches."""
    if any(r.status == "diverges" for r in results):
        return "diverges"
    if any(r.status == "error" for r in results):
        return "error"
    return "matches"


@dataclass
class Diagnosis:
    impl: str
    verdict: str  # matches | diverges | error
    causes: list[str]
    results: list[ProbeResult]
    counterexample: dict | None

    @property
    def ranks(self) -> list[dict]:
        """Per spatial rank probed: its operations, verdict and causes."""
        summaries = []
        for rank in sorted({r.probe.rank for r in self.results}):
            results = [r for r in self.results if r.probe.rank == rank]
            operations = list(dict.fromkeys(r.probe.op for r in results))
            causes = order_causes(c for r in results for c in r.causes)
            summary = {"rank": rank, "operations": operations, "verdict": verdict_of(results)}
            summaries.append({**summary, "causes": causes, "probes": len(results)})
        return summaries

    def as_json(self) -> dict:
        return {
            "impl": self.impl,
            "verdict": self.verdict,
            "causes": self.causes,
            "ranks": self.ranks,
            "properties": {
                r.probe.label: {
                    "op": r.probe.op,
                    "rank": r.probe.rank,
                    "status": r.status,
                    "finding": r.finding,
                    "causes": r.causes,
                    "max_abs_diff": r.max_abs_diff,
                    "message": r.message,
                }
                for r in self.results
            },
            "counterexample": self.counterexample,
        }


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
        return f"{as_torch(probe)}; this probe differs through another cause: " + "; ".join(others)
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


def simpler_forms(case: Case) -> list[tuple[dict, str]]:
    """Overrides that ask less of an implementation, with what they give up, in order:
    equal stride and dilation on every axis, explicit pads instead of a padding string,
    float32 instead of another dtype."""
    forms = []
    every = "both axes" if case.rank == 2 else "every axis"
    for key in ("stride", "dilation"):
        value = getattr(case, key)
        if len(set(value)) > 1:
            forms.append(({key: max(value)}, f"{key} {max(value)} on {every}"))
    if isinstance(case.padding, str):
        pads = list(case.pads)
        forms.append(({"padding": pads}, f"explicit pads {pads} instead of '{case.padding}'"))
    if case.dtype != "float32":
        forms.append(({"dtype": "float32"}, f"float32 ({case.dtype} is not supported)"))
    return forms


def run_probe(func: Callable, probe: Probe, case: Case | None = None) -> ProbeResult:
    """Run one probe. A probe the implementation refuses (NotImplementedError or an exception)
    is retried in simpler forms (harness.diagnose.simpler_forms), one more at a time, so a
    restricted implementation is still diagnosed on every property it supports."""
    case = case or probe_case(probe)
    result = _run_probe_once(func, probe, case)
    if probe.optional and (
        result.status == "error"
        or result.contract
        or (result.status == "diverges" and set(result.causes) <= {"unknown"})
    ):  # e.g. real-only code given complex data (imaginary parts dropped): no cause explains it
        result.status = "unsupported"
        result.finding = f"{case.dtype} is not handled as complex numbers ({result.finding})"
        result.contract = ""
        result.causes = []
        return result
    if result.status not in ("unsupported", "error") or result.contract:
        return result
    overrides: dict = {}
    given_up = []
    for change, words in simpler_forms(case):
        overrides.update(change)
        given_up.append(words)
        try:
            simpler = probe_case(probe, overrides)
        except CaseFileError:
            continue
        if torch_rejection(simpler) is not None:
            continue
        retry = _run_probe_once(func, probe, simpler)
        if retry.status not in ("unsupported", "error"):
            retry.finding += f" (with {', '.join(given_up)}; as given: {result.message})"
            return retry
    return result


def _run_probe_once(func: Callable, probe: Probe, case: Case) -> ProbeResult:
    arrays = materialize(case)
    reference_result = compute_baseline(case, arrays)
    outcome = call_implementation(func, case, arrays)
    if outcome.output is None:
        status = "unsupported" if outcome.status == "unsupported" else "error"
        return ProbeResult(probe, case, status, outcome.message, message=outcome.message)
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


def counterexample_dict(result: ProbeResult, impl: str) -> dict:
    """The diverging probe as a self-contained case (literal arrays, torch's output expected)."""
    from harness.cases import TensorSpec

    case = result.case
    arrays = materialize(case)
    baseline = compute_baseline(case, arrays).output

    def literal(array: np.ndarray):
        values = array.tolist()
        return _plain(values)

    raw: dict = {
        "id": "counterexample_" + _slug(impl) + "_" + _slug(result.probe.label),
        "description": (
            f"Found by `conv-harness diagnose {impl}` "
            f"({'+'.join(result.causes) or result.status}): {result.probe.description}."
        ),
        "tags": ["counterexample", *[c for c in result.causes if c]],
    }
    if case.rank != 2:  # a literal of fewer than 5 axes does not say its rank
        raw["op"] = case.op
    small = all(
        not isinstance(t, TensorSpec) or np.prod(t.shape) <= 400 for t in (case.input, case.weight)
    )
    for name, array in (
        ("input", arrays.input64),
        ("weight", arrays.weight64),
        ("bias", arrays.bias64),
    ):
        if array is None:
            continue
        spec = getattr(case, name)
        raw[name] = (
            literal(array)
            if small
            else (spec.model_dump(exclude_none=True) if isinstance(spec, TensorSpec) else spec)
        )
    for key in ("stride", "dilation"):
        value = getattr(case, key)
        if set(value) != {1}:
            raw[key] = list(value) if len(set(value)) > 1 else value[0]
    if case.padding != "valid" and any(case.pads):
        raw["padding"] = case.padding if isinstance(case.padding, str) else _padding(case.padding)
    if case.padding_mode != "zeros":
        raw["padding_mode"] = case.padding_mode
    if case.groups != 1:
        raw["groups"] = case.groups
    if case.dtype != "float64":
        raw["dtype"] = case.dtype
    if (
        small
        and case.dtype == "float64"
        and np.all(np.isfinite(baseline))
        and np.array_equal(baseline, np.round(baseline))
    ):
        raw["expected"] = literal(baseline)
    return raw


def _padding(pads):
    """Flat (before, after) per axis in the shortest form a case file reads the same: one int,
    one value per axis, or the flat list."""
    befores, afters = list(pads[0::2]), list(pads[1::2])
    if len(set(pads)) == 1:
        return pads[0]
    if befores == afters:
        return befores
    return list(pads)


def _plain(values):
    if isinstance(values, list):
        return [_plain(v) for v in values]
    if isinstance(values, complex):  # a case file's complex literal: "1+2j"
        real, imag = _plain(values.real), _plain(values.imag)
        return f"{real}{'+' if imag >= 0 else '-'}{abs(imag)}j"
    return int(values) if float(values).is_integer() else float(values)


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "impl"


def probed_operations(name: str, func: Callable) -> dict[str, Callable]:
    """The operations of `name` that diagnose probes, rank by rank: conv{r}d, conv{r}d_backward
    (its own, or autograd through a conv{r}d that takes tensors) and conv_transpose{r}d."""
    from harness.registry import operations_of

    operations = operations_of(name, func)
    order = [
        f"{stem}{rank}d{suffix}"
        for rank in (1, 2, 3)
        for stem, suffix in (("conv", ""), ("conv", "_backward"), ("conv_transpose", ""))
    ]
    return {op: operations[op] for op in order if op in operations}


def diagnose(name: str, func: Callable) -> Diagnosis:
    """Probe every operation the implementation defines (`probed_operations`), each at its rank;
    the counterexample is the failing probe showing the most causes, the smallest among those,
    shrunk."""
    from harness.diagnose_backward import backward_results, transposed_results
    from harness.layout_probe import layout_results

    operations = probed_operations(name, func)
    results = []
    for op, function in operations.items():
        rank = op_rank(op)
        if op.endswith("_backward"):
            results += backward_results(function, rank)
        elif op.startswith("conv_transpose"):
            results += transposed_results(function, rank)
        else:
            results += [run_probe(function, probe) for probe in probes_for(rank)]
        results += layout_results(function, rank, name, op)
    causes = order_causes(c for r in results for c in r.causes)
    verdict = verdict_of(results)
    counterexample = None
    failing = [r for r in results if r.status == verdict] if verdict != "matches" else []
    if failing:
        # the probe showing the most causes at once, the smallest among those
        smallest = min(failing, key=lambda r: (-len(r.causes), _cost(r.case)))
        forward = smallest.quantity == "output" and not smallest.case.transposed
        if smallest.status == "diverges" and forward:
            smallest = shrink(operations[smallest.probe.op], smallest)
        if forward:
            counterexample = counterexample_dict(smallest, name)
        else:  # a backward or transposed probe: its configuration, as a case
            counterexample = {
                "id": "counterexample_" + _slug(name) + "_" + _slug(smallest.probe.label),
                "description": f"Found by `conv-harness diagnose {name}` "
                f"({'+'.join(smallest.causes) or smallest.status}): {smallest.probe.description}.",
                "tags": ["counterexample", *smallest.causes],
                **{k: v for k, v in smallest.case.raw.items() if k not in ("id", "description")},
            }
    return Diagnosis(name, verdict, causes, results, counterexample)


def _torch_names(ranks) -> str:
    """torch.nn.functional.conv2d, or torch.nn.functional.conv1d, conv2d and conv3d."""
    names = [f"conv{rank}d" for rank in ranks]
    listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)
    return "torch.nn.functional." + listed


def human_lines(diagnosis: Diagnosis) -> list[str]:
    from harness.yaml_io import dump_yaml

    ranks = diagnosis.ranks
    if diagnosis.verdict == "matches":
        head = f"{diagnosis.impl}: matches {_torch_names(s['rank'] for s in ranks)} on every probe"
        unsupported = [
            r.probe.label
            for r in diagnosis.results
            if r.status == "unsupported" and not r.probe.optional  # listed below only
        ]
        if unsupported:
            head += f" it supports (unsupported: {', '.join(unsupported)})"
    elif diagnosis.verdict == "diverges":
        diverging = [s["rank"] for s in ranks if s["verdict"] == "diverges"]
        head = f"{diagnosis.impl}: diverges from {_torch_names(diverging)}: " + ", ".join(
            diagnosis.causes
        )
    elif any(r.contract for r in diagnosis.results):
        broken = next(r for r in diagnosis.results if r.contract)
        head = (
            f"{diagnosis.impl}: breaks conv{broken.probe.rank}d's output contract: "
            f"{broken.contract}"
        )
    else:
        head = f"{diagnosis.impl}: could not be checked: it fails on the probes"
    lines = [head]
    if len(ranks) > 1:  # a verdict per rank
        for s in ranks:
            causes = f": {', '.join(s['causes'])}" if s["causes"] else ""
            lines.append(
                f"  rank {s['rank']} ({', '.join(s['operations'])}; {s['probes']} probes): "
                f"{s['verdict']}{causes}"
            )
    lines.append("")
    width = max((len(r.probe.label) for r in diagnosis.results), default=0)
    for r in diagnosis.results:
        arrow = f" -> {'+'.join(r.causes)}" if r.causes else ""
        label = {"unsupported": "unsupported: ", "error": "error: "}.get(r.status, "")
        lines.append(f"{r.probe.label + ':':<{width + 1}} {label}{r.finding}{arrow}")
    if diagnosis.counterexample:
        lines += ["", "smallest counterexample (save it with --save-case FILE):", ""]
        lines += dump_yaml({"cases": [diagnosis.counterexample]}).rstrip().splitlines()
    return lines
