"""Retrying a probe an implementation refuses: the simpler forms of a probe's case, each asking
less of the implementation than the one before, and the loop that tries them.

A probe that raises (NotImplementedError or any exception) or returns nothing usable is tried
again with one more simplification at a time (`simpler_forms`): equal stride and dilation on every
axis, explicit pads instead of a padding string, float32 instead of another dtype, no bias, one
group. The first form that runs is judged, and its finding says what was given up and what the
probe as given raised ("with stride 3 on both axes; as given: raised ValueError: ..."), so only
what was observed is reported; the complex probe is never retried (complex_unsupported). Used by
every operation's probes (harness.probing.diagnose for conv{r}d,
harness.probing.diagnose_quantities for the backward and transposed probes).
"""

from __future__ import annotations

from collections.abc import Callable

from harness.cases.errors import CaseFileError
from harness.cases.loading import Case, TensorSpec, torch_rejection
from harness.probing.probes import ProbeResult

FAILED = ("unsupported", "error")


def _one_group(case: Case) -> tuple[dict, str] | None:
    """groups=1 with the weight widened to every channel, where the weight is drawn from a spec
    (a literal weight keeps its groups)."""
    if case.groups == 1 or not isinstance(case.weight, TensorSpec):
        return None
    shape = list(case.weight_shape)
    shape[1] *= case.groups  # (C_out, C_in/g, ...) -> C_in; transposed (C_in, C_out/g) -> C_out
    weight = {**case.weight.model_dump(exclude_none=True), "shape": shape}
    return {"groups": 1, "weight": weight}, f"groups 1 instead of {case.groups}"


def simpler_forms(case: Case) -> list[tuple[dict, str]]:
    """Overrides that ask less of an implementation, with what they give up, in order:
    equal stride and dilation on every axis, explicit pads instead of a padding string,
    float32 instead of another dtype, no bias, one group."""
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
    if case.bias is not None:
        forms.append(({"bias": None}, "no bias"))
    one_group = _one_group(case)
    if one_group is not None:
        forms.append(one_group)
    return forms


def all_failed(results: list[ProbeResult]) -> bool:
    """Nothing of the probe ran: every result unsupported or an error, none a broken contract."""
    return bool(results) and all(r.status in FAILED and not r.contract for r in results)


def retried(
    attempt: Callable[[dict], list[ProbeResult] | None],
    case: Case,
    first: list[ProbeResult],
) -> list[ProbeResult]:
    """`first` (the results of the probe as given), or those of the first simpler form
    (`attempt(overrides)`; None when that form is not a valid case) that ran: each simplification
    alone first, then more of them together. A retried result says what the probe as given did
    and what was given up; one that agrees says only that (it did not show the property given
    up)."""
    if not all_failed(first):
        return first
    forms = simpler_forms(case)
    tries = [[form] for form in forms] + [forms[:k] for k in range(2, len(forms) + 1)]
    refused = first[0].message or first[0].finding
    for chosen in tries:
        overrides: dict = {}
        for change, _ in chosen:
            overrides.update(change)
        results = attempt(overrides)
        if results is None or all_failed(results):
            continue
        given_up = ", ".join(words for _, words in chosen)
        for result in results:
            observed = "agrees with torch" if result.status == "ok" else result.finding
            result.finding = f"refused as given ({refused}); retried with {given_up}: {observed}"
            result.retried = given_up
        return results
    return first


def complex_unsupported(results: list[ProbeResult], case: Case) -> list[ProbeResult]:
    """The complex probe's results, never retried (a simpler form in float32 shows nothing about
    complex numbers): `unsupported` where real-only code shows itself, as `run`'s rows say
    (harness.computations.calling.complex_refusal: it raised, NotImplementedError included, returned
    a real array or dropped every imaginary part), or where it diverges by no known cause; a known
    cause (a conjugated kernel) still diverges."""
    for result in results:
        unexplained = result.status == "diverges" and set(result.causes) <= {"unknown"}
        if result.status in FAILED or result.contract or unexplained:
            result.status = "unsupported"
            words = f"{case.dtype} is not handled as complex numbers"
            if not result.finding.startswith((words, "complex numbers not supported")):
                result.finding = f"{words} ({result.finding})"
            result.contract, result.causes = "", []
    return results


def valid(case: Case) -> bool:
    """A case torch accepts (a simpler form may not be: a padding string with a stride)."""
    return torch_rejection(case) is None


__all__ = [
    "CaseFileError",
    "all_failed",
    "complex_unsupported",
    "retried",
    "simpler_forms",
    "valid",
]
