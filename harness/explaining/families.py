"""Bug families: explaining an output by the reading and values that reproduce it.

A cause of the vocabulary (harness.cases.causes) is a family of ways one semantic can be misapplied,
with parameters, for convolutions of any spatial rank (the findings name the axes). Geometric
families (kernel orientation, padding, stride, dilation, groups, boundary) are readings of the
configuration (harness.explaining.readings); value families are fitted, not enumerated: for a
reading, the per-input-channel partial outputs P_c and the bias b are combined as sum_c alpha_c P_c
+ beta B by least squares, and the fit is snapped to what an implementation would do:
- depth (`depth_sum`): alpha all 1/C (averages), one-hot (one channel), 0/1 (a subset summed);
- bias (`bias`): beta 0 (missing), any other factor (scaled, added twice), or B the bias laid
  along a spatial axis or in reverse channel order.
Complex operands are also tried conjugated (`conjugation`): the kernel (x * conj(w), as
scipy.signal.correlate), the input (conj(x) * w, as np.vdot(patch, kernel)) or both.
A fitted candidate explains the output when it reproduces it within the case's tolerance, or
within narrower arithmetic's (`precision`, harness.verdicts.compare). The explanation with the
fewest families wins (up to three, counting the fitted ones and narrower arithmetic), an exact one
over one that needs narrower arithmetic. Large cases are searched on a sample of the output (the
first image, a few output channels per group), so the answer does not depend on the case's size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from harness.cases.case import Case
from harness.cases.causes import CAUSES
from harness.cases.data import CaseArrays
from harness.explaining.readings import Change, partials, readings
from harness.explaining.torch_values import TorchValues, torch_reading
from harness.verdicts.baseline import Baseline
from harness.verdicts.compare import Tolerance, compare, precision_models, rounding_scale

SEARCH_BUDGET = 300  # readings computed per explanation


SAMPLE_ELEMENTS = 200_000  # output elements x K above which the search runs on a sample


@dataclass(frozen=True)
class Fit:
    """The value families fitted for one reading: the reproduction and what it took."""

    output: np.ndarray
    changes: tuple[Change, ...]


def _depth_change(alpha: np.ndarray) -> Change | None:
    """The depth finding for channel weights alpha (None for torch's plain sum)."""
    cg = alpha.size
    if np.array_equal(alpha, np.ones(cg)):
        return None
    if np.allclose(alpha, 1.0 / cg):
        return Change(
            "depth_sum", {}, "averages the input channels of each group instead of summing them"
        )
    kept = [int(c) for c in np.flatnonzero(alpha)]
    if not kept:
        return Change(
            "depth_sum", {}, "adds up none of the input channels (a channel loop that never runs)"
        )
    if len(kept) == 1:
        return Change("depth_sum", {}, f"uses only input channel {kept[0]} of each group's {cg}")
    dropped = [c for c in range(cg) if c not in kept]
    if len(dropped) <= 3:
        return Change(
            "depth_sum", {}, f"leaves out input channel(s) {dropped} of each group's {cg}"
        )
    return Change("depth_sum", {}, f"sums only input channels {kept} of each group's {cg}")


def _snap_alpha(alpha: np.ndarray) -> np.ndarray | None:
    """A fitted alpha as what an implementation would use: all 1, all 1/C, or 0/1 per channel."""
    cg = alpha.size
    if cg == 1:
        nearest = float(np.round(alpha[0]))
        return (
            np.full(1, nearest)
            if nearest in (0.0, 1.0) and abs(alpha[0] - nearest) < 0.02
            else None
        )
    if np.allclose(alpha, 1.0 / cg, atol=0.02 / cg):
        return np.full(cg, 1.0 / cg)
    snapped = np.round(alpha)
    if np.allclose(alpha, snapped, atol=0.02) and set(snapped.tolist()) <= {0.0, 1.0}:
        return snapped
    return None


def _structured_alphas(cg: int) -> list[np.ndarray]:
    """The depth bugs to try when the sample cannot determine one weight per channel."""
    alphas = [np.ones(cg), np.zeros(cg)]
    if cg > 1:
        alphas.append(np.full(cg, 1.0 / cg))
        eye = np.eye(cg)
        alphas += list(eye) + list(1.0 - eye)
    return alphas


def _as_real_rows(values: np.ndarray) -> np.ndarray:
    """Real rows for a least-squares fit: complex rows become their real then imaginary parts."""
    if np.iscomplexobj(values):
        return np.concatenate([values.real, values.imag])
    return values


NICE_FACTORS = (1.0, 0.0, 2.0, 0.5, -1.0, 3.0)


def _snap_beta(beta: float, scale: float = 0.0) -> float:
    """A fitted bias factor as what an implementation would use: a nice factor when within
    1e-3 of one, or within `scale` of it relatively (the rounding one step narrower than the
    case dtype can cause, harness.verdicts.compare.rounding_scale: a factor of 0.998, or 1.05 where
    bfloat16 sums 18 products, is rounding, not a scaled bias); else three significant digits."""
    for nice in NICE_FACTORS:
        if abs(beta - nice) < max(1e-3, scale * abs(nice)):
            return nice
    return float(f"{beta:.3g}")


def _bias_layouts(case: Case, bias: np.ndarray, outputs: list[int], shape) -> list:
    """(B laid out over the sampled output, words) for torch's layout and the wrong ones."""
    rank = len(shape) - 2
    per_channel = (None, slice(None), *((None,) * rank))
    layouts = [(np.broadcast_to(bias[outputs][per_channel], shape), "")]
    layouts.append(
        (
            np.broadcast_to(bias[::-1][outputs][per_channel], shape),
            "bias applied in reverse channel order",
        )
    )
    for axis, name in enumerate(case.axis_names):
        if shape[2 + axis] == bias.size:
            along: list[slice | None] = [None] * (rank + 2)
            along[2 + axis] = slice(None)
            layouts.append((np.broadcast_to(bias[tuple(along)], shape), f"bias added along {name}"))
    return layouts


def fit_values(
    case: Case,
    part: np.ndarray,
    bias: np.ndarray | None,
    outputs: list[int],
    observed: np.ndarray,
    allowed: np.ndarray,
) -> Iterator[Fit]:
    """Candidate reproductions of `observed` (sampled like `part`) from the partial outputs.

    For each bias layout, the channel weights alpha and the bias factor beta are fitted by least
    squares weighted by 1 / allowed (so elements with a large allowance, next to a large bias,
    do not drown the others); when the sample has too few elements to determine one weight per
    channel, the structured depth bugs are ranked by their residual instead.
    """
    n, k, cg, *spatial = part.shape
    shape = (n, k, *spatial)
    finite = np.isfinite(observed) & np.isfinite(part).all(axis=2) & np.isfinite(allowed)
    if not finite.any():  # nothing to fit (every value NaN/Inf): the reading as it is
        yield Fit(part.sum(axis=2), ())
        return
    weights = 1.0 / np.maximum(allowed[finite], np.finfo(float).tiny)
    # complex values: the real and imaginary parts are equations of their own (alpha, beta real)
    columns = _as_real_rows(np.moveaxis(part, 2, -1)[finite] * weights[:, None])
    target = _as_real_rows(observed[finite] * weights)
    layouts = [(None, "")] if bias is None else _bias_layouts(case, bias, outputs, shape)
    scale = rounding_scale(case.dtype, case.reduction_length)
    determined = target.size >= 2 * (cg + 1)
    for layout, words in layouts:
        column = None if layout is None else _as_real_rows(layout[finite] * weights)
        alphas: list[np.ndarray] = []
        shared = False  # one set of channel weights fits every output
        if determined:
            design = columns if column is None else np.column_stack([columns, column])
            snapped = _snap_alpha(np.linalg.lstsq(design, target, rcond=None)[0][:cg])
            if snapped is not None:
                alphas.append(snapped)
                shared = True
        ranked: list[tuple[float, int, np.ndarray]] = []
        for alpha in _structured_alphas(cg):
            residual = target - columns @ alpha
            beta = 0.0 if column is None else _least_squares_factor(column, residual)
            misfit = residual - (0.0 if column is None else beta * column)
            ranked.append((float(misfit @ misfit), len(ranked), alpha))
        alphas += [alpha for _, _, alpha in sorted(ranked, key=lambda r: r[:2])[:2]]
        if determined and not shared and layout is None:
            per_output = _per_output_fit(part, observed, finite, weights)
            if per_output is not None:
                yield per_output
        seen: list[np.ndarray] = []
        for alpha in alphas:
            if any(np.array_equal(alpha, other) for other in seen):
                continue
            seen.append(alpha)
            axes = "ijl"[: len(spatial)]
            output = np.einsum(f"nkc{axes},c->nk{axes}", part, alpha)
            depth = _depth_change(alpha)
            changes = [] if depth is None else [depth]
            if layout is None or column is None:
                yield Fit(output, tuple(changes))
                continue
            residual = target - columns @ alpha
            fitted = _snap_beta(_least_squares_factor(column, residual), scale)
            if fitted not in NICE_FACTORS and target.size < 8 * (cg + 1):
                fitted = 1.0  # too few elements to tell an odd bias factor from anything else
            for beta in dict.fromkeys((1.0, fitted)):  # the bias as given first
                bias_change = (
                    [Change("bias", {}, _bias_words(beta, words))] if beta != 1.0 or words else []
                )
                yield Fit(output + beta * layout, (*changes, *bias_change))


def _per_output_fit(part, observed, finite, weights) -> Fit | None:
    """Channel weights fitted output channel by output channel, for a sum that leaves a channel
    out in some groups only (a loop bound wrong for the last group, say): a Fit when every
    sampled output's weights snap, and they differ, else None."""
    _, k, cg, *spatial = part.shape
    if k < 2:
        return None
    alphas = []
    for o in range(k):
        rows = finite[:, o]
        if int(rows.sum()) < cg + 1:
            return None
        w = weights_of(finite, weights, o)
        design = _as_real_rows(np.moveaxis(part[:, o], 1, -1)[rows] * w[:, None])
        target = _as_real_rows(observed[:, o][rows] * w)
        snapped = _snap_alpha(np.linalg.lstsq(design, target, rcond=None)[0])
        if snapped is None:
            return None
        alphas.append(snapped)
    table = np.array(alphas)
    if (table == table[0]).all():
        return None
    axes = "ijl"[: len(spatial)]
    output = np.einsum(f"nkc{axes},kc->nk{axes}", part, table)
    ones = np.ones(cg)
    changed = [o for o in range(k) if not np.array_equal(table[o], ones)]
    words = "; ".join(
        f"sampled output {o}: {(_depth_change(table[o]) or Change('', {})).finding}"
        for o in changed[:3]
    )
    more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
    return Fit(
        output,
        (Change("depth_sum", {}, f"sums other channels for some outputs only: {words}{more}"),),
    )


def weights_of(finite: np.ndarray, weights: np.ndarray, o: int) -> np.ndarray:
    """The fit weights (1 / allowed) of output channel o's finite elements."""
    full = np.zeros(finite.shape)
    full[finite] = weights
    return full[:, o][finite[:, o]]


def _least_squares_factor(column: np.ndarray, target: np.ndarray) -> float:
    norm = float(column @ column)
    return float(column @ target) / norm if norm else 1.0


def _bias_words(beta: float, layout_words: str) -> str:
    scale = {
        0.0: "bias not added",
        2.0: "bias added twice",
        3.0: "bias added three times",
        -1.0: "bias subtracted",
    }.get(beta, f"bias scaled by {beta:g}")
    if not layout_words:
        return scale
    return layout_words if beta == 1.0 else f"{layout_words}, {scale}"


@dataclass(frozen=True)
class FamilyExplanation:
    """The changes that reproduce an output: one per family, in vocabulary order."""

    changes: tuple[Change, ...]
    arithmetic: str = ""  # the narrower arithmetic it also took, if any

    @property
    def causes(self) -> list[str]:
        present = {c.cause for c in self.changes} | ({"precision"} if self.arithmetic else set())
        return [c for c in CAUSES if c in present]

    @property
    def findings(self) -> list[str]:
        words = [c.finding for c in self.changes]
        if self.arithmetic:
            words.append(f"rounding as of {self.arithmetic} arithmetic")
        return words


def sample_plan(case: Case, observed_shape) -> tuple[list[int], list[int]]:
    """(images, output channels) the search computes: everything, or a sample of large cases."""
    n, c_out = case.output_shape[:2]
    size = int(np.prod(observed_shape)) * max(case.reduction_length, 1)
    if size <= SAMPLE_ELEMENTS:
        return list(range(n)), list(range(c_out))
    og = c_out // case.groups
    per_group = sorted({0, og - 1})
    groups = sorted({0, case.groups - 1, case.groups // 2})
    outputs = sorted({g * og + k for g in groups for k in per_group})
    return [0], outputs


def explain_by_families(
    case: Case,
    arrays: CaseArrays,
    observed: np.ndarray,
    baseline: Baseline,
    budget: int = SEARCH_BUDGET,
) -> FamilyExplanation | None:
    """The reading and fitted values with the fewest families that reproduce `observed`."""
    if observed.ndim != case.rank + 2 or observed.shape[:2] != tuple(case.output_shape[:2]):
        return None
    if observed.size == 0 or not (
        np.isfinite(observed).any() or np.isfinite(baseline.output).any()
    ):  # no values (an empty batch or axis, or NaN/Inf everywhere): its shape is all there is
        return shape_only(case, observed.shape)
    images, outputs = sample_plan(case, observed.shape)
    x = arrays.input64[images]
    sample = observed[images][:, outputs]
    models = [("", baseline.tolerance)] + [
        (model.name, baseline.tolerance_for(model))
        for model in precision_models(baseline.dtype, case.reduction_length)
    ]
    tolerances = [
        (name, _sampled_tolerance(tol, images, outputs, observed.shape)) for name, tol in models
    ]
    allowed = (
        tolerances[0][1].rtol * np.abs(baseline.output[images][:, outputs]) + tolerances[0][1].atol
        if sample.shape == baseline.output[images][:, outputs].shape
        else np.ones(sample.shape)
    )
    best = None  # ((families, uses narrower arithmetic), explanation)
    tried = 0
    torch_values = TorchValues(
        lambda: torch_reading(case, x, arrays.weight64, arrays.bias64, outputs)
    )
    for reading, combo in readings(case, observed.shape):
        if best is not None and (len(combo), False) >= best[0]:
            break  # readings only get more complex from here
        tried += 1
        if tried > budget:
            break
        for data, kernel, conjugated in _operands(x, arrays.weight64):
            try:
                part = partials(case, data, kernel, reading, outputs)
            except ValueError:
                break
            fits = fit_values(case, part, arrays.bias64, outputs, sample, allowed)
            for fit in fits:
                changes = (*combo, *conjugated, *fit.changes)
                found = _first_agreeing(changes, fit, sample, tolerances, best, torch_values)
                if found is not None:
                    best = found
    return None if best is None else best[1]


def _engaged(case: Case, cause: str) -> bool:
    """Whether the case uses the parameter a family misapplies (a stride above 1, say)."""
    return {
        "padding": any(case.pads) or case.padding == "same",
        "stride": max(case.stride) > 1,
        "dilation": max(case.dilation) > 1,
    }.get(cause, True)


def shape_only(case: Case, observed_shape) -> FamilyExplanation | None:
    """An output without values (an empty batch or axis, or NaN/Inf everywhere, as torch's) is
    reproduced by every reading of its shape: the simplest one (fewest families), preferring
    readings that misapply a parameter the case sets (a dilation of 2 ignored rather than a pad
    added to a 'valid' case)."""
    simplest: list[tuple] = []
    for _, combo in readings(case, observed_shape):
        if not combo or (simplest and len(combo) > len(simplest[0])):
            if simplest:
                break
            continue
        simplest.append(combo)
    if not simplest:
        return None
    combo = next((c for c in simplest if all(_engaged(case, x.cause) for x in c)), simplest[0])
    return FamilyExplanation(tuple(sorted(combo, key=lambda c: list(CAUSES).index(c.cause))))


CONJUGATED = Change(
    "conjugation",
    {},
    "conjugates the complex kernel: sums x * conj(w), as scipy.signal.correlate and a Hermitian "
    "dot product (np.vdot) do, where torch multiplies plainly",
)


INPUT_CONJUGATED = Change(
    "conjugation",
    {},
    "conjugates the complex input: sums conj(x) * w, as np.vdot(patch, kernel) does (it "
    "conjugates its first argument), where torch multiplies plainly",
)
BOTH_CONJUGATED = Change(
    "conjugation",
    {},
    "conjugates input and kernel: sums conj(x) * conj(w), the conjugate of torch's products",
)


def _operands(x: np.ndarray, weight: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, tuple]]:
    """(input, kernel, changes): as torch reads them and, for complex values, with the kernel,
    the input or both conjugated (family `conjugation`)."""
    operands: list[tuple[np.ndarray, np.ndarray, tuple]] = [(x, weight, ())]
    complex_kernel = np.iscomplexobj(weight) and bool(np.any(weight.imag))
    complex_input = np.iscomplexobj(x) and bool(np.any(x.imag))
    if complex_kernel:
        operands.append((x, np.conj(weight), (CONJUGATED,)))
    if complex_input:
        operands.append((np.conj(x), weight, (INPUT_CONJUGATED,)))
    if complex_kernel and complex_input:
        operands.append((np.conj(x), np.conj(weight), (BOTH_CONJUGATED,)))
    return operands


def _first_agreeing(changes, fit, sample, tolerances, best, torch_values):
    """(cost, explanation) when the fit reproduces the sample more cheaply than `best`; never
    one whose changes compute what torch computes on this case (they name no difference)."""
    causes = {c.cause for c in changes}
    for name, tol in tolerances:
        if not changes and not name:
            continue  # torch's own reading in the case's arithmetic: no explanation
        cost = (len(causes) + (1 if name else 0), bool(name))
        if len(causes) > 3 or (best is not None and cost >= best[0]):
            continue
        if compare(sample, fit.output, tol).agree:
            if changes and torch_values.same(fit.output):
                return None  # a family member identical to torch's semantics here
            ordered = sorted(changes, key=lambda c: list(CAUSES).index(c.cause))
            return cost, FamilyExplanation(tuple(ordered), name)
    return None


def _sampled_tolerance(tol: Tolerance, images, outputs, shape) -> Tolerance:
    """The tolerance restricted to the sample; the loosest element's where shapes differ."""
    atol = np.asarray(tol.atol)
    if atol.ndim == len(shape) and atol.shape == tuple(shape):
        atol = atol[images][:, outputs]
    else:
        atol = np.asarray(float(np.max(atol, initial=0.0)))
    return replace(tol, atol=atol, exact=None)
