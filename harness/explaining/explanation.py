"""Why an output diverges from the baseline: the cause(s) a report row and a diagnosis name.

In order: NaN/Inf reaching more or fewer elements while every finite value agrees (`nan`); the
bug families (harness.explaining.families) that reproduce the output, fewest first, with or without
narrower arithmetic; a different shape no family gives (`shape`); rounding-shaped differences,
consistent with one step narrower arithmetic than the case dtype (`precision`,
harness.verdicts.compare.precision_models); else `unknown`. Every spatial rank (conv1d, conv2d,
conv3d) is explained the same way; the findings name the axis a bug lives on ("kernel flipped along
D only").
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from harness.cases.causes import CAUSES
from harness.cases.data import CaseArrays
from harness.cases.loading import Case, TensorSpec
from harness.computations import reference
from harness.explaining.families import FamilyExplanation, explain_by_families
from harness.verdicts.baseline import Baseline
from harness.verdicts.compare import compare, precision_models


def order_causes(causes) -> list[str]:
    """Distinct causes in vocabulary order."""
    present = set(causes)
    return [c for c in CAUSES if c in present]


@dataclass(frozen=True)
class Explanation:
    """The families that reproduce an output, or a fallback cause when none does."""

    family: FamilyExplanation | None = None
    fallback: str | None = None  # shape | nan | precision | unknown
    arithmetic: str = ""  # for `precision`: the narrower arithmetic that fits

    @property
    def causes(self) -> list[str]:
        if self.family is not None:
            return self.family.causes
        if self.fallback == "nan" and self.arithmetic:  # a NaN spread, the rest rounding
            return ["precision", "nan"]
        return [self.fallback] if self.fallback else []

    @property
    def cause(self) -> str:
        return "+".join(self.causes)

    @property
    def findings(self) -> list[str]:
        if self.family is not None:
            return self.family.findings
        if self.fallback == "precision":
            return [f"differs by rounding as of {self.arithmetic} arithmetic"]
        if self.fallback == "nan":
            words = ["propagates NaN/Inf to more (or fewer) elements than torch"]
            if self.arithmetic:
                words.append(f"rounding as of {self.arithmetic} arithmetic elsewhere")
            return words
        return []


def as_called(case: Case, arrays: CaseArrays) -> tuple[Case, CaseArrays]:
    """The case as an implementation receives it when the harness pads first: the padded input
    with padding 0 (its bugs read that call, not the case's padding mode)."""
    padded = reference.pad(arrays.input64, case.pads, case.padding_mode)
    spec = TensorSpec(shape=list(padded.shape), init="zeros")
    called = replace(case, input=spec, padding=(0,) * (2 * case.rank), padding_mode="zeros")
    return called, replace(arrays, input64=padded)


def explain_output(
    case: Case, arrays: CaseArrays, output: np.ndarray, baseline: Baseline, prepadded: bool = False
) -> Explanation:
    """Explain a diverging output of `case` against its baseline; `prepadded` when the harness
    padded the input before the call (harness.computations.implementations.harness_pads_first)."""
    expected = baseline.output
    spread = nan_spread(output, baseline)
    if spread is not None:
        return Explanation(fallback="nan", arithmetic=spread)
    if prepadded:
        case, arrays = as_called(case, arrays)
    family = explain_by_families(case, arrays, output, baseline)
    if family is not None:
        if family.changes:
            return Explanation(family)
        return Explanation(fallback="precision", arithmetic=family.arithmetic)
    if output.shape != expected.shape:
        return Explanation(fallback="shape")
    arithmetic = narrower_arithmetic(output, baseline)
    if arithmetic is not None:
        return Explanation(fallback="precision", arithmetic=arithmetic)
    return Explanation(fallback="unknown")


def nan_spread(output: np.ndarray, baseline: Baseline) -> str | None:
    """Whether NaN/Inf reach more (or fewer) elements than torch's, not other ones, while every
    finite value agrees: NaN propagated differently (a zero tap times NaN, a skipped zero tap).
    '' when the finite values agree within the case's tolerance, the narrower arithmetic's name
    when only within its rounding (a NaN spread computed in float32 for a float64 case), None
    when NaN/Inf do not merely spread (NaN/Inf that move to other elements are left to the
    families: a flipped kernel moves them). Every quantity (forward output, gradients,
    transposed output) is judged by this one rule."""
    expected = baseline.output
    if output.shape != expected.shape:
        return None
    observed_special, expected_special = ~np.isfinite(output), ~np.isfinite(expected)
    special = observed_special | expected_special
    if not special.any():
        return None
    finite_observed = np.where(special, 0.0, output)
    finite_expected = np.where(special, 0.0, expected)
    models = [("", baseline.tolerance)] + [
        (model.name, baseline.tolerance_for(model))
        for model in precision_models(baseline.dtype, baseline.magnitudes.reduction_length)
    ]
    arithmetic = next(
        (name for name, tol in models if compare(finite_observed, finite_expected, tol).agree),
        None,
    )
    if arithmetic is None or not _spread(output, expected, observed_special, expected_special):
        return None
    return arithmetic


def _spread(output, expected, observed_special, expected_special) -> bool:
    """NaN/Inf at a superset (or a subset) of torch's elements, no infinity of the other sign."""
    if np.array_equal(observed_special, expected_special) and np.array_equal(
        output[observed_special], expected[expected_special], equal_nan=True
    ):
        return False  # torch's very NaN/Inf, where torch has them: nothing spread
    both = observed_special & expected_special
    comparable = np.isnan(output) | np.isnan(expected) | (output == expected)
    if (both & ~comparable).any():
        return False  # an infinity of the other sign: moved, not spread
    more = (observed_special | ~expected_special).all()
    fewer = (expected_special | ~observed_special).all()
    return bool(more or fewer)


def explain_divergence(
    case: Case, arrays: CaseArrays, output: np.ndarray, baseline: Baseline, prepadded: bool = False
) -> str:
    """Cause(s) of a divergence, joined with '+' in vocabulary order; 'unknown' if none fits."""
    return explain_output(case, arrays, output, baseline, prepadded).cause


def narrower_arithmetic(output: np.ndarray, baseline: Baseline) -> str | None:
    """The narrower arithmetic whose rounding explains every element of `output`, or None:
    rounding-shaped for the case dtype and K, never a fixed fraction of the output's size."""
    expected = baseline.output
    if output.shape != expected.shape:
        return None
    if (np.isfinite(output) != np.isfinite(expected)).any():
        return None
    for model in precision_models(baseline.dtype, baseline.magnitudes.reduction_length):
        if compare(output, expected, baseline.tolerance_for(model)).agree:
            return model.name
    return None
