"""Each quantity's search problem: the readings it is searched over
(harness.explaining.quantity_changes), how one reading's partial sums are computed
(harness.explaining.quantity_readings), its operands as torch reads them and conjugated, and the
sample a large case is searched on.

- a convolution's grad_input: the adjoint of the misread forward applied to grad_output (folded
  back through the padding the harness applied first, where it did), per grad_output channel;
- a convolution's grad_weight: grad_output correlated with the input as the misread forward
  pairs them, per image (the batch as depth), returned in the weight's orientation;
- a transposed output: the adjoint of its misread forward applied to x, sized as the reading
  says, per input channel, with the bias;
- a transposed convolution's grad_input: its misread forward applied to grad_output at the
  input's size; its grad_weight: x correlated with grad_output, per image.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from harness.cases.case import Case
from harness.cases.data import CaseArrays
from harness.explaining.explanation import as_called
from harness.explaining.family_changes import GROUP_MAPS, Change
from harness.explaining.orientations import axes_phrase, orientations
from harness.explaining.quantity_changes import (
    convolution_changes,
    quantity_label,
    transposed_changes,
)
from harness.explaining.quantity_families import SAMPLE_ELEMENTS, Problem
from harness.explaining.quantity_readings import (
    QuantityReading,
    correlate_partials,
    gather_partials,
    grad_input_partials,
    oriented,
    spread_partials,
    transposed_size,
    unread_kernel,
)


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
                from harness.computations.gradients import fold_padding

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
    r, cg, n, *kernel = part.shape
    back = unread_kernel(part.reshape(r, cg * n, *kernel), orientation)
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
            if reading.groups_map == "swapped_axes":  # each group's block stored (C_out/g, C_in/g)
                c_in, og = k.shape[:2]
                blocks = k.reshape(groups, og, c_in // groups, *k.shape[2:])
                k = np.swapaxes(blocks, 1, 2).reshape(k.shape)
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
        if c.fields["orientation"] in orientations(case.rank)
        else replace(c, finding=c.finding.replace("returned through", "reads"))
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
