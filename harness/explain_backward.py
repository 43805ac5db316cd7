"""`conv-harness explain CASE --quantity grad_input|grad_weight|grad_bias --at ...`: one element
of a gradient computed by hand, next to torch's autograd value.

grad_input[n, c, p, q] is a TRUE convolution: for each output channel o of c's group, the
zero-upsampled grad_output (zeros between its rows and columns for the stride) around (p, q) is
multiplied elementwise by the kernel rotated 180 degrees, and the products summed; the flip is
printed, so the difference from the forward pass's cross-correlation shows. grad_weight[o, c, u,
v] is a correlation of the input (under tap u, v at every output position) with grad_output,
summed over the batch and positions; grad_bias[o] the sum of grad_output over batch and positions.
For padding modes other than zeros, padded positions that read the input add their gradient to
it too (the fold); the by-hand part shows the zero-padding terms and the totals say so.
"""

from __future__ import annotations

import numpy as np

from harness import gradients, reference
from harness.backward import grad_output_arrays
from harness.case import Case
from harness.data import materialize
from harness.errors import HarnessError
from harness.explain import grid, number, side_by_side
from harness.operations import torch_conv2d_backward

SHAPES = {"grad_input": "n,c,p,q", "grad_weight": "o,c,u,v", "grad_bias": "o"}


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
        raise HarnessError(f"--at '{text}': expected integers {SHAPES[quantity]}") from None
    if len(index) != len(shape) or any(not 0 <= k < s for k, s in zip(index, shape, strict=True)):
        raise HarnessError(
            f"--at '{text}': not an index into {quantity} of shape {list(shape)} "
            f"({SHAPES[quantity]})"
        )
    return index


def explain_gradient_lines(case: Case, quantity: str, at: tuple[int, ...]) -> list[str]:
    if case.transposed:
        raise HarnessError("--quantity explains the gradients of a conv2d case")
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
    lines.append(f"total (reference, float64): {number(exact[quantity][at])}")
    lines.append(f"torch autograd (float64): {number(torch_values[quantity][at])}")
    return lines


def _grad_input_lines(case: Case, g64, w, at) -> list[str]:
    n, c, p, q = at
    c_out, cg, kh, kw = w.shape
    og = c_out // case.groups
    group, channel = c // cg, c % cg
    (sh, sw), (dh, dw) = case.stride, case.dilation
    top, _, left, _ = case.pads
    ho, wo = g64.shape[2:]
    upsampled = np.zeros((g64.shape[0], c_out, (ho - 1) * sh + 1, (wo - 1) * sw + 1))
    upsampled[:, :, ::sh, ::sw] = g64
    rows = p + top - (kh - 1 - np.arange(kh)) * dh
    cols = q + left - (kw - 1 - np.arange(kw)) * dw
    lines = [
        f"input channel {c} is channel {channel} of group {group}: output channels "
        f"{group * og}..{group * og + og - 1} send gradient back through it",
        "",
    ]
    total = 0.0
    for o in range(group * og, group * og + og):
        patch = np.zeros((kh, kw))
        for a, r in enumerate(rows):
            for bb, col in enumerate(cols):
                if 0 <= r < upsampled.shape[2] and 0 <= col < upsampled.shape[3]:
                    patch[a, bb] = upsampled[n, o, r, col]
        kernel = w[o, channel, ::-1, ::-1]
        products = patch * kernel
        total += float(products.sum())
        lines += side_by_side(
            [
                grid(f"grad_output[{n},{o}] upsampled", patch),
                grid(f"W[{o},{channel}] rotated 180", kernel),
                grid("products", products),
            ]
        )
        lines.append(f"  sum (output channel {o}) = {number(products.sum())}")
    lines.append(
        f"sum over output channels: {number(total)} (a true convolution: the kernel "
        "rotated 180 degrees, unlike the forward pass)"
    )
    return lines


def _grad_weight_lines(case: Case, g64, x, at) -> list[str]:
    o, c, u, v = at
    cg = case.weight_shape[1]
    og = case.weight_shape[0] // case.groups
    source = (o // og) * cg + c
    (sh, sw), (dh, dw) = case.stride, case.dilation
    xp = reference.pad(x, case.pads, case.padding_mode)
    ho, wo = g64.shape[2:]
    taps = xp[
        :,
        source,
        u * dh : u * dh + (ho - 1) * sh + 1 : sh,
        v * dw : v * dw + (wo - 1) * sw + 1 : sw,
    ]
    lines = [f"tap ({u},{v}) of kernel slice W[{o},{c}] reads input channel {source}", ""]
    total = 0.0
    for n in range(g64.shape[0]):
        products = taps[n] * g64[n, o]
        total += float(products.sum())
        lines += side_by_side(
            [
                grid(f"input under the tap, image {n}", taps[n]),
                grid(f"grad_output[{n},{o}]", g64[n, o]),
                grid("products", products),
            ]
        )
        lines.append(f"  sum (image {n}) = {number(products.sum())}")
    lines.append(f"sum over the batch: {number(total)}")
    return lines


def plot_gradient(case: Case, quantity: str, at: tuple[int, ...], path: str) -> str:
    """Heatmaps of the reference's gradient map containing `at` (an (n, c) map of grad_input, an
    (o, c) kernel slice of grad_weight, grad_bias as one row), torch autograd's, and their
    difference. Returns a summary line."""
    from matplotlib.ticker import MaxNLocator

    from harness.explain import _pyplot, check_plot_arguments

    check_plot_arguments(path, "torch")
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
    from pathlib import Path

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    except Exception as error:
        raise HarnessError(f"--plot {path}: matplotlib could not write it: {error}") from None
    finally:
        plt.close(figure)
    return f"plot written to {path}: greatest |torch - reference| {abs(difference).max():.3g}"
