"""The search behind every quantity's explanation: readings x fitted values, fewest families
first, in the quantity's own words.

A family member of a quantity is that quantity computed from the forward convolution read with a
family change (the changes: harness.explaining.quantity_changes; the quantities under a reading:
harness.explaining.quantity_readings; each quantity's Problem:
harness.explaining.quantity_problems). On each reading the value families are fitted as
harness.explaining.families.fit_values does for the forward: `depth_sum` (the channel sum the
quantity does: over the grad_output channels of a group for grad_input, over the input channels of a
group for a transposed output, over the batch for grad_weight; or one channel of each group never
computed), `bias` (a transposed output's bias) and, as a family of its own, `conjugation` (complex
operands read conjugated where torch does not, or plain where torch conjugates).

The explanation with the fewest families wins, an exact one over one that needs narrower
arithmetic (`precision`): readings changing k families with torch's operands, then readings
changing k - 1 with conjugated operands, for k = 0, 1, 2, 3. Readings that compute the same thing
are tried once; the search computes the quantity at most SEARCH_BUDGET times, on a sample of a
large case's quantity; a reading that raises is skipped.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from harness.cases.case import Case
from harness.cases.causes import CAUSES
from harness.explaining.families import FamilyExplanation, fit_values
from harness.explaining.family_changes import Change, with_same_pads
from harness.explaining.quantity_changes import quantity_label
from harness.explaining.quantity_readings import QuantityReading
from harness.explaining.readings import _same_pads
from harness.explaining.torch_values import TorchValues, torch_sum
from harness.verdicts.baseline import Baseline
from harness.verdicts.compare import Tolerance, compare, precision_models

SEARCH_BUDGET = 300  # computations of the quantity per explanation
SHAPE_BUDGET = 8_000  # combinations of changes whose shape is checked per explanation
MAX_FITTED_CHANNELS = 256  # summed channels fitted one weight each (depth), at most
SAMPLE_ELEMENTS = 200_000  # quantity elements x reduction length above which a sample is searched


@dataclass
class Problem:
    """One quantity's search: its readings, operands and how a reading's partials are made."""

    case: Case
    quantity: str
    base: QuantityReading
    families: list[list[Change]]
    operands: list[tuple[tuple, tuple[Change, ...]]]  # (operands, conjugation changes)
    compute: Callable  # (reading, operands) -> partials shaped like fit_values' `part`
    shape_of: Callable  # reading -> the quantity's full shape
    sample: Callable  # array of the quantity's full shape -> the sampled part
    bias: np.ndarray | None = None
    outputs: list[int] | None = None
    depth_words: tuple[str, str] = ("input channel", "input channel")
    channels: tuple[list[int], int, str] | None = None  # (sampled channels, per group, name)


def _with_fields(base: QuantityReading, case: Case, combo, same: bool) -> QuantityReading:
    fields: dict = {}
    for change in combo:
        fields.update(change.fields)
    if same and "pads" not in fields:
        fields["pads"] = _same_pads(case, fields)
    return replace(base, **fields)


def _sampled(tol: Tolerance, sample, shape, observed_shape) -> Tolerance:
    """The tolerance on the sample; the loosest element's where the shapes differ."""
    atol = np.asarray(tol.atol)
    if atol.shape == tuple(shape) == tuple(observed_shape):
        atol = sample(atol)
    else:
        atol = np.asarray(float(np.max(atol, initial=0.0)))
    return replace(tol, atol=atol, exact=None)


def _readings(problem: Problem, observed_shape, size: int, seen: set, budget: list):
    """The readings changing `size` families that give the observed shape, each distinct
    computation once (`seen`): with zero padding, only a transposed output depends on the pads
    after each axis (the others read zeros past the end, or crop them away). budget[0]: the
    combinations of changes still to be checked."""
    same = problem.case.padding == "same" and not problem.case.transposed
    families = [f for f in problem.families if f]
    after_matters = problem.quantity == "output"
    for chosen in itertools.combinations(families, size):
        for combo in itertools.product(*chosen):
            budget[0] -= 1
            if budget[0] < 0:
                return
            try:
                reading = _with_fields(problem.base, problem.case, combo, same)
                if tuple(problem.shape_of(reading)) != tuple(observed_shape):
                    continue
            except Exception:
                continue
            if same and not any("pads" in c.fields for c in combo):
                combo = with_same_pads(problem.case, combo, reading.pads)
            key = reading
            if reading.mode == "zeros" and not after_matters:
                key = replace(reading, pads=reading.pads[0::2], phase_fill=False)
            if key in seen:
                continue
            seen.add(key)
            yield reading, combo


def search(
    problem: Problem, value: np.ndarray, baseline: Baseline, budget: int, ties=None
) -> FamilyExplanation | None:
    """The reading and fitted values with the fewest families that reproduce `value`: readings
    of `size` changed families with torch's operands, then readings of one family fewer with
    conjugated operands (conjugation the size-th family), for size 0, 1, 2, 3; at most `budget`
    computations of the quantity. `ties` (a list), when given, receives the first explanation
    and every other one as cheap that the search met (where families read alike)."""
    full = baseline.output.shape
    observed = problem.sample(value)
    models = [("", baseline.tolerance)] + [
        (m.name, baseline.tolerance_for(m))
        for m in precision_models(baseline.dtype, baseline.magnitudes.reduction_length)
    ]
    tolerances = [(name, _sampled(tol, problem.sample, full, value.shape)) for name, tol in models]
    expected = problem.sample(baseline.output) if value.shape == full else None
    allowed = (
        tolerances[0][1].rtol * np.abs(expected) + tolerances[0][1].atol
        if expected is not None and expected.shape == observed.shape
        else np.ones(observed.shape)
    )
    best = None
    computed = 0
    plain, conjugated_options = problem.operands[0], problem.operands[1:]
    torch_values = TorchValues(
        lambda: torch_sum(
            problem.case,
            problem.compute(problem.base, plain[0]),
            problem.bias,
            problem.outputs or [],
        )
    )
    seen: dict[int, set] = {0: set(), 1: set()}
    shapes = [SHAPE_BUDGET]
    for size in range(4):
        if best is not None and size >= best[0][0]:
            break
        passes = [(size, [plain], seen[0])]
        if size >= 1 and conjugated_options:
            passes.append((size - 1, conjugated_options, seen[1]))
        for families, options, tried in passes:
            for reading, combo in _readings(problem, value.shape, families, tried, shapes):
                for operands, conjugated in options:
                    computed += 1
                    if computed > budget:
                        return _ended(best, ties)
                    found = _try(
                        problem,
                        reading,
                        operands,
                        (*combo, *conjugated),
                        observed,
                        allowed,
                        tolerances,
                        best,
                        ties,
                        torch_values,
                    )
                    if found is not best and ties is not None:
                        ties[:] = [t for t in ties if t[0] == found[0]]
                    best = found
    return _ended(best, ties)


def _ended(best, ties) -> FamilyExplanation | None:
    if best is None:
        return None
    if ties is not None:
        ties[:] = [best[1]] + [t[1] for t in ties if t[0] == best[0]]
    return best[1]


def _try(
    problem, reading, operands, changes, observed, allowed, tolerances, best, ties, torch_values
):
    """The best explanation so far after fitting the values of one reading."""
    try:
        part = problem.compute(reading, operands)
        if part.shape[2] > MAX_FITTED_CHANNELS:  # too many to fit one by one: summed
            part = part.sum(axis=2, keepdims=True)
        if part.shape[:2] + part.shape[3:] != observed.shape:
            return best
        for fit_output, fitted in _fits(problem, part, observed, allowed):
            found = _agreeing(
                (*changes, *fitted), fit_output, observed, tolerances, best, ties, torch_values
            )
            if found is not None:
                best = found
    except Exception:  # a reading the quantity cannot take: skipped
        return best
    return best


def _fits(problem: Problem, part, observed, allowed):
    if part.shape[2] == 0:  # nothing to sum (an empty batch): the sum is zero
        yield part.sum(axis=2), ()
        return
    yield from _dropped_channels(problem, part)
    for fit in fit_values(
        problem.case, part, problem.bias, problem.outputs or [], observed, allowed
    ):
        old, new = problem.depth_words
        changes = tuple(
            replace(
                c,
                finding=f"{quantity_label(problem.case, problem.quantity)} "
                + c.finding.replace(old, new).replace(
                    "each group's", "the batch's" if new == "image" else "each group's"
                ),
            )
            if c.cause == "depth_sum"
            else replace(
                c, finding=f"{quantity_label(problem.case, problem.quantity)}: {c.finding}"
            )
            for c in fit.changes
        )
        yield fit.output, changes


def _dropped_channels(problem: Problem, part):
    """The quantity with one channel of each group never computed (zero, or only the bias)."""
    if problem.channels is None:
        return
    targets, per, name = problem.channels
    total = part.sum(axis=2)
    rank = part.ndim - 3
    if problem.bias is not None:
        total = total + problem.bias[targets].reshape(1, -1, *(1,) * rank)
    label = quantity_label(problem.case, problem.quantity)
    for m in range(per if per > 1 else 0):
        dropped = np.array([t % per == m for t in targets])
        if not dropped.any():
            continue
        out = total.copy()
        out[:, dropped] = (
            0
            if problem.bias is None
            else problem.bias[np.array(targets)[dropped]].reshape(1, -1, *(1,) * rank)
        )
        rest = "only the bias there" if problem.bias is not None else "left zero"
        words = f"{label} leaves out {name} {m} of each group's {per} ({rest})"
        yield out, (Change("depth_sum", {}, words),)


def _agreeing(changes, output, observed, tolerances, best, ties=None, torch_values=None):
    """(cost, explanation) when the fit reproduces the sample more cheaply than `best`; one as
    cheap is added to `ties` (when given) instead; never one whose changes compute what torch
    computes on this case (`torch_values`: harness.explaining.families.TorchValues)."""
    causes = {c.cause for c in changes}
    for name, tol in tolerances:
        if not changes and not name:
            continue
        cost = (len(causes) + (1 if name else 0), bool(name))
        tie = ties is not None and best is not None and cost == best[0]
        if len(causes) > 3 or (best is not None and cost >= best[0] and not tie):
            continue
        if compare(observed, output, tol).agree:
            if changes and torch_values is not None and torch_values.same(output):
                return None  # a family member identical to torch's semantics here
            ordered = sorted(changes, key=lambda c: list(CAUSES).index(c.cause))
            found = (cost, FamilyExplanation(tuple(ordered), name))
            if tie and ties is not None:
                ties.append(found)
                return None
            return found
    return None
