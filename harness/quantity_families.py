"""Bug families of every quantity: why a gradient or a transposed output diverges, in the
quantity's own words.

A family member of a quantity is that quantity computed from the forward convolution read with a
family change (harness.quantity_changes, computed by harness.quantity_readings): grad_input and
a transposed output are the adjoint of the misread forward (their size follows the reading where
an implementation sizes its output from the parameters it uses), grad_weight the correlation of
grad_output with the input as the misread forward pairs them (the batch as depth), a transposed
convolution's grad_input the misread forward convolution itself (harness.families' search on that
convolution). On each reading the value families are fitted as harness.families.fit_values does
for the forward: `depth_sum` (the channel sum the quantity does: over the grad_output channels of
a group for grad_input, over the input channels of a group for a transposed output, over the
batch for grad_weight), `bias` (a transposed output's bias) and `conjugation` (complex operands
read conjugated where torch does not, or plain where torch conjugates). grad_bias has its own
value families (averaged, one image, scaled, channels reversed, conjugated).

The explanation with the fewest families wins, an exact one over one that needs narrower
arithmetic (`precision`); the search computes at most SEARCH_BUDGET readings, on a sample of a
large case's quantity, and a reading that raises is skipped.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from harness.baseline import Baseline
from harness.case import Case
from harness.causes import CAUSES
from harness.compare import Tolerance, compare, precision_models
from harness.data import CaseArrays
from harness.explanation import as_called
from harness.families import (
    FamilyExplanation,
    fit_values,
)
from harness.family_changes import GROUP_MAPS, Change
from harness.orientations import axes_phrase, orientations
from harness.quantity_changes import convolution_changes, quantity_label, transposed_changes
from harness.quantity_readings import (
    QuantityReading,
    correlate_partials,
    gather_partials,
    grad_input_partials,
    inverse_orientation,
    oriented,
    spread_partials,
    transposed_size,
)
from harness.readings import _same_pads

SEARCH_BUDGET = 300  # readings computed per explanation
SHAPE_BUDGET = 60_000  # combinations of changes whose shape is checked per explanation
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


def _conjugation(label: str, first: str, second: str, torch_conjugates: str, a, b):
    """Operand pairs (a, b) and their conjugation changes: torch's first; `torch_conjugates`
    names which operand torch reads conjugated ('' none, 'a', 'b')."""
    options: list[tuple[tuple, tuple[Change, ...]]] = [((a, b), ())]
    has_a = np.iscomplexobj(a) and bool(np.any(np.imag(a)))
    has_b = np.iscomplexobj(b) and bool(np.any(np.imag(b)))

    def read(name: str, torch_conj: bool) -> str:
        return (
            f"{name} where torch reads conj({name})"
            if torch_conj
            else f"conj({name}) where torch reads {name}"
        )

    if has_b:
        words = f"{label} reads {read(second, torch_conjugates == 'b')}"
        options.append(((a, np.conj(b)), (Change("conjugation", {}, words),)))
    if has_a:
        words = f"{label} reads {read(first, torch_conjugates == 'a')}"
        options.append(((np.conj(a), b), (Change("conjugation", {}, words),)))
    if has_a and has_b:
        words = f"{label} is the complex conjugate of torch's (both operands conjugated)"
        options.append(((np.conj(a), np.conj(b)), (Change("conjugation", {}, words),)))
    return options


def _targets(case: Case, count: int, groups: int, size: int) -> list[int]:
    """Every channel of a small quantity; a few per group (first, last) of a large one."""
    if size <= SAMPLE_ELEMENTS:
        return list(range(count))
    per = count // groups
    chosen = sorted({0, groups // 2, groups - 1})
    return sorted({g * per + k for g in chosen for k in {0, per - 1}})


def _with_fields(base: QuantityReading, case: Case, combo, same: bool) -> QuantityReading:
    fields: dict = {}
    for change in combo:
        fields.update(change.fields)
    if same and "pads" not in fields:
        fields["pads"] = _same_pads(case, fields)
    return replace(base, **fields)


def convolution_problem(case: Case, arrays: CaseArrays, g, quantity: str, prepadded: bool):
    """grad_input or grad_weight of a convolution case."""
    called, called_arrays = (case, arrays)
    if prepadded:
        called, called_arrays = as_called(case, arrays)
    x, w = called_arrays.input64, called_arrays.weight64
    label = quantity_label(case, quantity)
    families = list(convolution_changes(called, quantity).values())
    base = QuantityReading.of_case(called)
    groups, n = case.groups, case.input_shape[0]
    size = math.prod(case.input_shape if quantity == "grad_input" else case.weight_shape)
    size *= max(case.reduction_length, 1)
    if quantity == "grad_input":
        targets = _targets(case, case.input_shape[1], groups, size)
        images = list(range(n)) if size <= SAMPLE_ELEMENTS else [0]
        padded_sizes = called.input_shape[2:]

        og = case.output_shape[1] // groups
        interleaved = np.arange(case.output_shape[1]).reshape(og, groups).T.reshape(-1)

        def compute(reading, operands):
            a, k = operands
            if reading.groups_map == "interleaved_grad_output":  # a's channel j*groups + g
                a = a[:, interleaved]
                reading = replace(reading, groups_map="torch")
            part = grad_input_partials(a, k, reading, padded_sizes, groups, targets, images)
            if prepadded:  # the harness folds the padded input's gradient back
                from harness.gradients import fold_padding

                n_, t, j = part.shape[:3]
                flat = fold_padding(
                    part.reshape(n_, t * j, *padded_sizes),
                    case.pads,
                    case.input_shape[2:],
                    case.padding_mode,
                )
                part = flat.reshape(n_, t, j, *case.input_shape[2:])
            return part

        return Problem(
            case,
            quantity,
            base,
            families,
            _conjugation(label, "grad_output", "w", "b", g, np.conj(w)),
            compute,
            lambda reading: tuple(case.input_shape),
            lambda array: array[images][:, targets],
            depth_words=("input channel", "grad_output channel"),
            channels=(targets, case.input_shape[1] // groups, "input channel"),
        )
    rows = _targets(case, case.weight_shape[0], groups, size)
    cg = case.weight_shape[1]

    def compute_weight(reading, operands):
        a, b = operands
        kernel = oriented(case.kernel, reading.orientation)
        part = correlate_partials(a, b, kernel, reading, groups, cg, rows)
        return _unoriented(part, reading.orientation)

    return Problem(
        case,
        quantity,
        base,
        families,
        _conjugation(label, "grad_output", "x", "b", g, np.conj(x)),
        compute_weight,
        lambda reading: tuple(case.weight_shape),
        lambda array: array[rows],
        depth_words=("input channel", "image"),
    )


def _unoriented(part: np.ndarray, orientation: str) -> np.ndarray:
    """A weight gradient of the kernel as read, returned in the weight's orientation."""
    if orientation == "identity":
        return part
    from harness.orientations import orient

    r, cg, n, *kernel = part.shape
    back = orient(part.reshape(r, cg * n, *kernel), inverse_orientation(len(kernel), orientation))
    return back.reshape(r, cg, n, *back.shape[2:])


def transposed_problem(case: Case, arrays: CaseArrays, g, quantity: str):
    """A transposed case's output or grad_weight."""
    x, w = arrays.input64, arrays.weight64
    label = quantity_label(case, quantity)
    groups, n = case.groups, case.input_shape[0]
    if quantity == "output":
        size = math.prod(case.output_shape) * max(case.reduction_length, 1)
        targets = _targets(case, case.output_shape[1], groups, size)
        images = list(range(n)) if size <= SAMPLE_ELEMENTS else [0]

        def compute(reading, operands):
            a, k = operands
            if reading.groups_map == "swapped_axes":
                k = np.swapaxes(k, 0, 1)
                reading = replace(reading, groups_map="torch")
            sizes = transposed_size(reading, case.input_shape[2:], case.kernel)
            return spread_partials(a, k, reading, sizes, groups, targets, images)

        def shape_of(reading):
            return (
                n,
                case.output_shape[1],
                *transposed_size(reading, case.input_shape[2:], case.kernel),
            )

        return Problem(
            case,
            quantity,
            QuantityReading.of_transposed(case),
            list(transposed_changes(case).values()),
            _conjugation(label, "x", "w", "", x, w),
            compute,
            shape_of,
            lambda array: array[images][:, targets],
            bias=arrays.bias64,
            outputs=targets,
            channels=(targets, case.output_shape[1] // groups, "output channel"),
        )
    # grad_weight[c, o, t] = sum_n,i conj(x)[n, c, i] * gp[n, group(c)*Og + o, i*s + t*d]
    pads = tuple(v for p in case.pads[0::2] for v in (p, p))
    base = replace(QuantityReading.of_transposed(case), pads=pads)
    if quantity == "grad_input":  # the forward convolution of grad_output, sized like x
        return _transposed_grad_input(case, arrays, g, base, label)
    found = convolution_changes(_as_forward(case, pads), quantity, label)
    found["padding"] += output_padding_first(case, base, label)
    families = list(found.values())
    size = math.prod(case.weight_shape) * n * math.prod(case.input_shape[2:])
    rows = _targets(case, case.weight_shape[0], groups, size)
    og = case.weight_shape[1]

    def compute_weight(reading, operands):
        a, b = operands
        kernel = oriented(case.kernel, reading.orientation)
        part = correlate_partials(a, b, kernel, reading, groups, og, rows)
        return _unoriented(part, reading.orientation)

    return Problem(
        case,
        quantity,
        base,
        [f for f in families if f and f[0].cause != "boundary"],
        _conjugation(label, "x", "grad_output", "a", np.conj(x), g),
        compute_weight,
        lambda reading: tuple(case.weight_shape),
        lambda array: array[rows],
        depth_words=("input channel", "image"),
    )


def _transposed_grad_input(case: Case, arrays: CaseArrays, g, base, label: str) -> Problem:
    """grad_input[n, c, i] = sum_o,t gp[n, group(c)*Og + o, i*s + t*d] * conj(w)[c, o, t]."""
    w = arrays.weight64
    groups, n = case.groups, case.input_shape[0]
    size = math.prod(case.input_shape) * max(case.weight_shape[1] * math.prod(case.kernel), 1)
    rows = _targets(case, case.input_shape[1], groups, size)
    images = list(range(n)) if size <= SAMPLE_ELEMENTS else [0]
    sizes = case.input_shape[2:]
    families = convolution_changes(_as_forward(case, base.pads), "grad_weight", label)
    families["orientation"] = [  # the kernel as the forward reads it, not returned oriented
        replace(c, finding=f"{label}: {orientations(case.rank)[c.fields['orientation']].words}")
        for c in families["orientation"]
    ]
    families["groups"] = [
        replace(c, finding=f"{label}: {GROUP_MAPS[c.fields['groups_map']]}")
        for c in families["groups"]
    ]
    families["padding"] += output_padding_first(case, base, label)

    def compute(reading, operands):
        a, k = operands
        return gather_partials(a, k, reading, sizes, groups, rows, images)

    return Problem(
        case,
        "grad_input",
        base,
        [f for key, f in families.items() if f and key != "boundary"],
        _conjugation(label, "grad_output", "w", "b", g, np.conj(w)),
        compute,
        lambda reading: tuple(case.input_shape),
        lambda array: array[images][:, rows],
        depth_words=("input channel", "grad_output channel"),
    )


def output_padding_first(case: Case, base: QuantityReading, label: str) -> list[Change]:
    """A transposed gradient read as if output_padding's extra elements came first: grad_output
    read op positions late, its first op positions never reached (on one axis, or every axis)."""
    extras, names = case.output_padding, case.axis_names
    axes = [a for a, op in enumerate(extras) if op]
    choices = [[a] for a in axes] + ([axes] if len(axes) > 1 else [])
    changes = []
    for chosen in choices:
        pads = list(base.pads)
        lead = [0] * case.rank
        for a in chosen:
            pads[2 * a] -= extras[a]
            lead[a] = extras[a]
        where = "" if case.rank == 1 else f" on {axes_phrase(names, chosen)}"
        words = f"{label}: reads grad_output as if output_padding came first{where}"
        changes.append(Change("padding", {"pads": tuple(pads), "lead": tuple(lead)}, words))
    return changes


def _as_forward(case: Case, pads) -> Case:
    """The forward convolution a transposed case's gradients derive from (its changes' words)."""
    return replace(case, op=f"conv{case.rank}d", padding=tuple(pads), padding_mode="zeros")


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
            key = reading
            if reading.mode == "zeros" and not after_matters:
                key = replace(reading, pads=reading.pads[0::2], phase_fill=False)
            if key in seen:
                continue
            seen.add(key)
            yield reading, combo


def search(
    problem: Problem, value: np.ndarray, baseline: Baseline, budget: int
) -> FamilyExplanation | None:
    """The reading and fitted values with the fewest families that reproduce `value`: readings
    of `size` changed families with torch's operands, then readings of one family fewer with
    conjugated operands (conjugation the size-th family), for size 0, 1, 2, 3; at most `budget`
    computations of the quantity."""
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
                        return None if best is None else best[1]
                    best = _try(
                        problem,
                        reading,
                        operands,
                        (*combo, *conjugated),
                        observed,
                        allowed,
                        tolerances,
                        best,
                    )
    return None if best is None else best[1]


def _try(problem, reading, operands, changes, observed, allowed, tolerances, best):
    """The best explanation so far after fitting the values of one reading."""
    try:
        part = problem.compute(reading, operands)
        if part.shape[2] > MAX_FITTED_CHANNELS:  # too many to fit one by one: summed
            part = part.sum(axis=2, keepdims=True)
        if part.shape[:2] + part.shape[3:] != observed.shape:
            return best
        for fit_output, fitted in _fits(problem, part, observed, allowed):
            found = _agreeing((*changes, *fitted), fit_output, observed, tolerances, best)
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


def _agreeing(changes, output, observed, tolerances, best):
    causes = {c.cause for c in changes}
    for name, tol in tolerances:
        if not changes and not name:
            continue
        cost = (len(causes) + (1 if name else 0), bool(name))
        if len(causes) > 3 or (best is not None and cost >= best[0]):
            continue
        if compare(observed, output, tol).agree:
            ordered = sorted(changes, key=lambda c: list(CAUSES).index(c.cause))
            return cost, FamilyExplanation(tuple(ordered), name)
    return None
