"""Why a gradient or a transposed output diverges: the cause(s) a backward or transposed row
names (the body of harness.running.backward.explain_quantity_output).

In order: NaN/Inf reaching more or fewer elements while every finite value agrees (`nan`); the
bug families of the quantity (harness.explaining.quantity_families over
harness.explaining.quantity_problems; grad_bias through its own value families below), fewest
families first, with or without narrower arithmetic; a fixed variant row that reproduces it (the
variant rows a case shows); a shape no family gives (`shape`); rounding-shaped differences
(`precision`); else `unknown`. A failure inside the search skips what failed and never escapes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from harness.cases.case import Case
from harness.explaining.explanation import Explanation, nan_spread
from harness.explaining.families import FamilyExplanation
from harness.explaining.family_changes import Change
from harness.explaining.quantity_changes import quantity_label
from harness.explaining.quantity_families import SEARCH_BUDGET, search
from harness.explaining.quantity_problems import convolution_problem, transposed_problem
from harness.explaining.torch_values import identical_values
from harness.verdicts.baseline import Baseline, rounded
from harness.verdicts.compare import compare, precision_models


def explain_quantity_value(
    value: np.ndarray, baseline: Baseline, quantity: str, variants, context=None
) -> Explanation:
    """Explain a diverging quantity (output of a transposed case, grad_input, grad_weight,
    grad_bias); `context` carries the case, its arrays, the exact grad_output and whether the
    harness padded the input first (harness.running.backward.QuantityContext)."""
    spread = nan_spread(value, baseline)
    if spread is not None:  # the forward output's rule (harness.explaining.explanation.nan_spread)
        return Explanation(fallback="nan", arithmetic=spread)
    family = None
    if context is not None:
        try:
            family = explain_by_quantity_families(value, baseline, quantity, context)
        except Exception:  # the search never loses the row: fall back below
            family = None
    if family is not None:
        if family.changes:
            return Explanation(family)
        return Explanation(fallback="precision", arithmetic=family.arithmetic)
    tol = baseline.tolerance
    if value.shape != baseline.output.shape:  # the loosest element's allowance everywhere
        tol = replace(tol, atol=np.asarray(float(np.max(tol.atol, initial=0.0))), exact=None)
    for name, target, cause, output in variants:
        if target == quantity and output is not None and output.shape == value.shape:
            if identical_values(np.asarray(output), baseline.exact):
                continue  # the variant is torch's own values on this case: it names nothing
            if compare(value, rounded(output, baseline.dtype), tol).agree:
                return Explanation(FamilyExplanation((Change(cause, {}, name),)))
    if value.shape != baseline.output.shape:
        return Explanation(fallback="shape")
    k = baseline.magnitudes.reduction_length
    for model in precision_models(baseline.dtype, k):
        if compare(value, baseline.output, baseline.tolerance_for(model)).agree:
            return Explanation(fallback="precision", arithmetic=model.name)
    return Explanation(fallback="unknown")


def equally_cheap_explanations(
    value: np.ndarray, baseline: Baseline, quantity: str, context
) -> list[FamilyExplanation]:
    """Every family explanation of a quantity's value as cheap as the one explain_quantity_value
    names (that one first), where families read alike on this case (a shift of one at stride 1
    is a stride phase or one less padding before): for a caller that weighs several cases, as
    diagnose's probes are. Empty when no family explains it."""
    ties: list = []
    try:
        explain_by_quantity_families(value, baseline, quantity, context, ties=ties)
    except Exception:  # never raises: no alternatives then
        return []
    return ties


def explain_by_quantity_families(
    value: np.ndarray,
    baseline: Baseline,
    quantity: str,
    context,
    budget: int = SEARCH_BUDGET,
    ties=None,
) -> FamilyExplanation | None:
    """The families (fewest first) that reproduce a quantity's value, or None; `ties` as
    harness.explaining.quantity_families.search."""
    case, arrays, g = context.case, context.arrays, context.grad_output
    value = np.asarray(value)
    if value.ndim != baseline.output.ndim:
        return None
    if quantity == "grad_bias":
        found = grad_bias_families(case, g, value, baseline)
        if ties is not None and found is not None:
            ties.append(found)
        return found
    if case.transposed:
        problem = transposed_problem(case, arrays, g, quantity)
    else:
        prepadded = bool(getattr(context, "prepadded", False))
        problem = convolution_problem(case, arrays, g, quantity, prepadded)
    return search(problem, value, baseline, budget, ties)


def grad_bias_families(case: Case, g, value, baseline: Baseline) -> FamilyExplanation | None:
    """grad_bias read as other sums of grad_output: averaged, of one image, scaled, reversed,
    conjugated (`bias`, `conjugation`)."""
    if g is None or value.shape != baseline.output.shape:
        return None
    label = quantity_label(case, "grad_bias")
    spatial = tuple(range(2, g.ndim))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        total = g.sum(axis=(0, *spatial))
        positions = max(1, int(np.prod(g.shape[2:])))
        n = g.shape[0]
        candidates = [
            ("bias", total / positions, "averaged over the positions instead of summed"),
            ("bias", total / (positions * max(n, 1)), "averaged over batch and positions"),
            ("bias", total / max(n, 1), "averaged over the batch instead of summed"),
            ("bias", total[::-1], "channels in reverse order"),
            ("bias", 0 * total, "not computed (zeros)"),
            ("bias", 2 * total, "summed twice"),
            ("bias", -total, "negated"),
            ("bias", 0.5 * total, "halved"),
        ]
        if n > 1:
            candidates.insert(
                3, ("bias", g[0].sum(axis=tuple(a - 1 for a in spatial)), "of image 0 only")
            )
            candidates.insert(
                4,
                (
                    "bias",
                    g[-1].sum(axis=tuple(a - 1 for a in spatial)),
                    f"of the last image ({n - 1}) only",
                ),
            )
        if np.iscomplexobj(g) and np.any(np.imag(g)):
            candidates.append(
                (
                    "conjugation",
                    np.conj(total),
                    "sums conj(grad_output) where torch sums grad_output",
                )
            )
    narrower = precision_models(baseline.dtype, baseline.magnitudes.reduction_length)[:1]
    models = [("", baseline.tolerance)] + [(m.name, baseline.tolerance_for(m)) for m in narrower]
    # a candidate that sums as torch does on this case (one channel reversed, one image's
    # average) names no difference
    candidates = [c for c in candidates if not identical_values(np.asarray(c[1]), total)]
    for name, tol in models:  # one step narrower at most: a few values fit loose allowances
        for cause, output, words in candidates:
            if compare(value, rounded(output, baseline.dtype), tol).agree:
                return FamilyExplanation((Change(cause, {}, f"{label} {words}"),), name)
    return None
