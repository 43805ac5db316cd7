"""`conv-harness explain CASE --quantity grad_input|grad_weight|grad_bias --at ...`: one element
of a gradient computed by hand, next to torch's autograd value, at any spatial rank (written below
for 2-D; in 1-D the grids are rows, in 3-D one grid per depth slice, as harness.reporting.explain
shows).

grad_input[n, c, p, q] is a TRUE convolution: for each output channel o of c's group, the
zero-upsampled grad_output (zeros between its rows and columns for the stride) around (p, q) is
multiplied elementwise by the kernel rotated 180 degrees, and the products summed; the flip is
printed, so the difference from the forward pass's cross-correlation shows. grad_weight[o, c, u,
v] is a correlation of the input (under tap u, v at every output position) with grad_output,
summed over the batch and positions; grad_bias[o] the sum of grad_output over batch and positions.
For padding modes other than zeros, padded positions that read the input add their gradient to
it too (the fold); the by-hand part shows the zero-padding terms and the totals say so.
`--plot` draws the gradient map as explain --plot draws an output (harness.reporting.explain_plot).
"""

from __future__ import annotations

import numpy as np

from harness.cases.case import Case
from harness.cases.data import materialize
from harness.cases.errors import HarnessError
from harness.computations import gradients, reference
from harness.computations.operations import torch_conv2d_backward
from harness.reporting.explain import number, product_lines
from harness.running.backward import grad_output_arrays

INPUT_POSITIONS = {1: ("p",), 2: ("p", "q"), 3: ("p", "q", "r")}
KERNEL_TAPS = {1: ("u",), 2: ("u", "v"), 3: ("t", "u", "v")}
FLIPPED = {1: "reversed", 2: "rotated 180", 3: "flipped on D, H, W"}


def gradient_form(quantity: str, rank: int) -> str:
    """The names of an index into a gradient: n,c,p,q for a 2-D grad_input."""
    names = {
        "grad_input": ("n", "c", *INPUT_POSITIONS[rank]),
        "grad_weight": ("o", "c", *KERNEL_TAPS[rank]),
        "grad_bias": ("o",),
    }[quantity]
    return ",".join(names)


def parse_gradient_index(text: str | None, case: Case, quantity: str) -> tuple[int, ...]:
    shape = {
        "grad_input": case.input_shape,
        "grad_weight": case.weight_shape,
        "grad_bias": case.weight_shape[:1],
    }[quantity]
    if quantity == "grad_bias" and case.bias is None:
        raise HarnessError(f"case '{case.id}' has no bias, so no grad_bias")
    if text is None:
        return (0,) * len(shape)
    try:
        index = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise HarnessError(
            f"--at '{text}': expected integers {gradient_form(quantity, case.rank)}"
        ) from None
    if len(index) != len(shape) or any(not 0 <= k < s for k, s in zip(index, shape, strict=True)):
        raise HarnessError(
            f"--at '{text}': not an index into {quantity} of shape {list(shape)} "
            f"({gradient_form(quantity, case.rank)})"
        )
    return index


def explain_gradient_lines(case: Case, quantity: str, at: tuple[int, ...]) -> list[str]:
    if case.transposed:
        raise HarnessError(f"--quantity explains the gradients of a {case.forward_op} case")
    arrays = materialize(case)
    g, g64 = grad_output_arrays(case)
    x, w, b = arrays.input64, arrays.weight64, arrays.bias64
    params = (case.stride, case.pads, case.dilation, case.groups, case.padding_mode)
    exact = dict(
        zip(
            ("grad_input", "grad_weight", "grad_bias"),
            gradients.conv2d_backward(g64, x, w, b, *params),
            strict=True,
        )
    )
    torch_values = dict(
        zip(
            ("grad_input", "grad_weight", "grad_bias"),
            torch_conv2d_backward(
                g64, x, w, b, case.stride, case.pads, case.dilation, case.groups, case.padding_mode
            ),
            strict=True,
        )
    )
    lines = [
        f"case {case.id}: {quantity}[{','.join(map(str, at))}] for grad_output of shape "
        f"{list(g.shape)} ({'given' if case.grad_output is not None else 'drawn'})",
        "",
    ]
    if quantity == "grad_input":
        lines += _grad_input_lines(case, g64, w, at)
    elif quantity == "grad_weight":
        lines += _grad_weight_lines(case, g64, x, at)
    else:
        (o,) = at
        lines.append(
            f"sum of grad_output[:, {o}] over batch and positions "
            f"({g64[:, o].size} terms) = {number(g64[:, o].sum())}"
        )
    if case.padding_mode != "zeros" and quantity == "grad_input":
        lines.append(
            f"{case.padding_mode} padding: padded positions that read this input "
            "position add their gradient too (folded back)"
        )
    exact_kind = "complex128" if np.iscomplexobj(exact[quantity]) else "float64"
    lines.append(f"total (reference, {exact_kind}): {number(exact[quantity][at])}")
    lines.append(f"torch autograd ({exact_kind}): {number(torch_values[quantity][at])}")
    return lines


def _grad_input_lines(case: Case, g64, w, at) -> list[str]:
    n, c, *position = at
    c_out, cg, *kernel = w.shape
    og = c_out // case.groups
    group, channel = c // cg, c % cg
    rank = case.rank
    sizes = [(size - 1) * s + 1 for size, s in zip(g64.shape[2:], case.stride, strict=True)]
    upsampled = np.zeros((g64.shape[0], c_out, *sizes), dtype=g64.dtype)
    conjugate = np.iscomplexobj(w)  # torch's gradient of complex values reads conj(W)
    every_stride = (slice(None), slice(None), *(slice(None, None, s) for s in case.stride))
    upsampled[every_stride] = g64
    # the upsampled grad_output positions under the rotated kernel's taps, per axis
    reads = [
        p + before - (k - 1 - np.arange(k)) * d
        for p, before, k, d in zip(position, case.pads[0::2], kernel, case.dilation, strict=True)
    ]
    inside = [(r >= 0) & (r < size) for r, size in zip(reads, sizes, strict=True)]
    lines = [
        f"input channel {c} is channel {channel} of group {group}: output channels "
        f"{group * og}..{group * og + og - 1} send gradient back through it",
        "",
    ]
    total = 0.0
    for o in range(group * og, group * og + og):
        patch = np.zeros(kernel, dtype=upsampled.dtype)
        patch[np.ix_(*(np.flatnonzero(k) for k in inside))] = upsampled[n, o][
            np.ix_(*(r[k] for r, k in zip(reads, inside, strict=True)))
        ]
        flipped = np.flip(np.conj(w[o, channel]) if conjugate else w[o, channel])
        products = patch * flipped
        total = total + products.sum()
        titles = (
            f"grad_output[{n},{o}] upsampled",
            f"{'conj ' if conjugate else ''}W[{o},{channel}] {FLIPPED[rank]}",
            "products",
        )
        lines += product_lines(titles, patch, flipped, products)
        lines.append(f"  sum (output channel {o}) = {number(products.sum())}")
    flip_words = "rotated 180 degrees" if rank == 2 else FLIPPED[rank].replace("on", "along")
    conjugated = " and conjugated, as torch's gradient of complex values" if conjugate else ""
    lines.append(
        f"sum over output channels: {number(total)} (a true convolution: the kernel "
        f"{flip_words}{conjugated}, unlike the forward pass)"
    )
    return lines


def _grad_weight_lines(case: Case, g64, x, at) -> list[str]:
    o, c, *tap = at
    cg = case.weight_shape[1]
    og = case.weight_shape[0] // case.groups
    source = (o // og) * cg + c
    xp = reference.pad(x, case.pads, case.padding_mode)
    windows = (
        slice(None),
        source,
        *(
            slice(u * d, u * d + (size - 1) * s + 1, s)
            for u, d, size, s in zip(tap, case.dilation, g64.shape[2:], case.stride, strict=True)
        ),
    )
    taps = xp[windows]
    lines = [
        f"tap ({','.join(map(str, tap))}) of kernel slice W[{o},{c}] reads input channel {source}",
        "",
    ]
    total = 0.0
    conjugate = np.iscomplexobj(taps)  # torch's gradient of complex values reads conj(x)
    for n in range(g64.shape[0]):
        read = np.conj(taps[n]) if conjugate else taps[n]
        products = read * g64[n, o]
        total = total + products.sum()
        titles = (
            f"{'conj of the ' if conjugate else ''}input under the tap, image {n}",
            f"grad_output[{n},{o}]",
            "products",
        )
        lines += product_lines(titles, read, g64[n, o], products)
        lines.append(f"  sum (image {n}) = {number(products.sum())}")
    lines.append(f"sum over the batch: {number(total)}")
    return lines


def plot_gradient(case: Case, quantity: str, at: tuple[int, ...], path: str) -> str:
    """The reference's gradient map containing `at` (an (n, c) map of grad_input, an (o, c)
    kernel slice of grad_weight, grad_bias as one row), torch autograd's, and their difference:
    heatmaps in 2-D (and for grad_bias), lines in 1-D, rows of depth slices in 3-D. Returns a
    summary line."""
    from matplotlib.ticker import MaxNLocator

    from harness.reporting.explain_plot import DRAW, _pyplot, check_plot_path

    check_plot_path(path)
    plt = _pyplot()
    arrays = materialize(case)
    _, g64 = grad_output_arrays(case)
    x, w, b = arrays.input64, arrays.weight64, arrays.bias64
    params = (case.stride, case.pads, case.dilation, case.groups, case.padding_mode)
    names = ("grad_input", "grad_weight", "grad_bias")
    ours = dict(zip(names, gradients.conv2d_backward(g64, x, w, b, *params), strict=True))
    theirs = dict(zip(names, torch_conv2d_backward(g64, x, w, b, *params), strict=True))
    if quantity == "grad_bias":
        mine, other = ours[quantity][None, :], theirs[quantity][None, :]
    else:
        mine, other = ours[quantity][at[0], at[1]], theirs[quantity][at[0], at[1]]
    difference = other - mine
    if np.iscomplexobj(difference):  # complex gradients: real parts drawn, |difference|
        mine, other, difference = np.real(mine), np.real(other), np.abs(difference)
    if quantity != "grad_bias" and case.rank != 2:
        titles = tuple(
            f"{quantity}: {t}"
            for t in ("reference (float64)", "torch autograd", "torch - reference")
        )
        figure = DRAW[case.rank](plt, (mine, other, difference), titles, None)
        return _save(plt, figure, path, difference)
    figure, axes = plt.subplots(1, 3, figsize=(13, 4.2), constrained_layout=True)
    panels = (
        ("reference (float64)", mine),
        ("torch autograd", other),
        ("torch - reference", difference),
    )
    for axis, (title, data) in zip(axes, panels, strict=True):
        axis.set_title(f"{quantity}: {title}", fontsize=10)
        image = axis.imshow(data, cmap="coolwarm" if data is difference else "viridis")
        figure.colorbar(image, ax=axis, shrink=0.8)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(plt, figure, path, difference)


def _save(plt, figure, path: str, difference) -> str:
    from pathlib import Path

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    except Exception as error:
        raise HarnessError(f"--plot {path}: matplotlib could not write it: {error}") from None
    finally:
        plt.close(figure)
    return f"plot written to {path}: greatest |torch - reference| {abs(difference).max():.3g}"
