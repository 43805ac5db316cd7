"""`conv-harness explain`: one output element computed by hand, step by step, at any spatial rank.

For out[n, o, i] (1-D), out[n, o, i, j] (2-D) or out[n, o, i, j, k] (3-D): the receptive field in
every input channel of the group (from the padded input: along each axis, positions
out_position*stride + tap*dilation), the kernel slice W[o, c], the elementwise products (a row in
1-D, a grid in 2-D, one grid per depth slice of the kernel in 3-D, whose sums add up to the
channel's sum), the per-channel sums, the depth sum over input channels plus bias, the same number
as one dot product of the flattened field and kernel (for complex values next to the Hermitian
dot product, which conjugates the kernel), torch's value, and what the flipped kernel
(true convolution) gives; in 3-D also the kernel flipped along one axis only (D, H or W). Plain
text, readable in a terminal and in a log. `--plot` is harness.reporting.explain_plot's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.cases.data import materialize
from harness.cases.errors import HarnessError
from harness.cases.loading import Case
from harness.computations import reference
from harness.reporting.explain_plot import (
    POSITION_NAMES,
    check_plot_path,
    plot_comparison,
    versus_problem,
)

__all__ = [
    "check_plot_path",
    "explain_lines",
    "parse_index",
    "plot_comparison",
    "versus_problem",
]

MAX_CHANNELS_SHOWN = 8
MAX_VECTOR_SHOWN = 27
MAX_SLICES_SHOWN = 6  # depth slices of a 3-D kernel shown as grids
AXIS_WORDS = {1: ("positions",), 2: ("rows", "columns"), 3: ("depths", "rows", "columns")}
COUNTS = {3: "three", 4: "four", 5: "five"}
CONVOLVE = {1: "numpy.convolve", 2: "scipy.signal.convolve2d", 3: "scipy.signal.convolve"}
SYMMETRIC = {
    1: "every kernel equals its reversal",
    2: "every kernel slice equals its 180-degree rotation",
    3: "every kernel equals its flip along D, H and W",
}


def number(value: float | complex) -> str:
    """A value as short as it reads exactly: 3, 0.25, 1.5e-07; complex ones as 3+2j, -1.5j."""
    if isinstance(value, (complex, np.complexfloating)):
        if value.imag == 0:
            return number(float(value.real))
        imag = number(float(abs(value.imag))) + "j"
        if value.real == 0:
            return ("-" if value.imag < 0 else "") + imag
        return f"{number(float(value.real))}{'-' if value.imag < 0 else '+'}{imag}"
    if value != value:
        return "nan"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def grid(title: str, values: np.ndarray) -> list[str]:
    cells = [[number(v) for v in row] for row in values]
    width = max((len(c) for row in cells for c in row), default=1)
    lines = [title]
    lines += ["  " + " ".join(c.rjust(width) for c in row) for row in cells]
    return lines


def side_by_side(blocks: list[list[str]], gap: int = 4) -> list[str]:
    widths = [max(len(line) for line in block) for block in blocks]
    height = max(len(block) for block in blocks)
    lines = []
    for k in range(height):
        parts = [
            (block[k] if k < len(block) else "").ljust(width)
            for block, width in zip(blocks, widths, strict=True)
        ]
        lines.append((" " * gap).join(parts).rstrip())
    return lines


def vector(values: np.ndarray) -> str:
    shown = [number(v) for v in values[:MAX_VECTOR_SHOWN]]
    more = (
        f", ... ({values.size - MAX_VECTOR_SHOWN} more)" if values.size > MAX_VECTOR_SHOWN else ""
    )
    return "[" + ", ".join(shown) + more + "]"


def index_form(rank: int) -> str:
    """The names of an output index: n,o,i,j in 2-D."""
    return ",".join(("n", "o", *POSITION_NAMES[rank]))


def parse_index(text: str | None, case: Case) -> tuple[int, ...]:
    """--at as an index into the case's output (rank + 2 integers); all zeros without one."""
    size = case.rank + 2
    if text is None:
        return (0,) * size
    form = index_form(case.rank)
    try:
        index = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise HarnessError(f"--at '{text}': expected {COUNTS[size]} integers {form}") from None
    shape = case.output_shape
    if len(index) != size or any(not 0 <= k < s for k, s in zip(index, shape, strict=True)):
        raise HarnessError(
            f"--at '{text}': not an index into the output of case '{case.id}', whose shape is "
            f"{list(shape)} ({form})"
        )
    return index


def product_lines(titles, field, kernel, products, slice_titles=None) -> list[str]:
    """A field, a kernel and their elementwise products side by side: one row each in 1-D, a
    grid each in 2-D; in 3-D a grid each per slice along the first axis (titled by
    `slice_titles(u)`, else "..., depth u"), each slice followed by its sum."""
    if field.ndim < 3:
        arrays = [a if a.ndim == 2 else a[None, :] for a in (field, kernel, products)]
        return side_by_side([grid(t, a) for t, a in zip(titles, arrays, strict=True)])
    lines = []
    for u in range(min(field.shape[0], MAX_SLICES_SHOWN)):
        words = slice_titles(u) if slice_titles else [f"{t}, depth {u}" for t in titles]
        grids = [grid(t, a[u]) for t, a in zip(words, (field, kernel, products), strict=True)]
        lines += side_by_side(grids)
        lines.append(f"  sum of depth slice {u} = {number(products[u].sum())}")
    if field.shape[0] > MAX_SLICES_SHOWN:
        rest = [number(products[u].sum()) for u in range(MAX_SLICES_SHOWN, field.shape[0])]
        lines.append(f"  ... {len(rest)} more depth slices; their sums: {', '.join(rest)}")
    return lines


def empty_batch_line(case: Case, quantity: str) -> str:
    """What explain says of an empty batch's output or grad_input: it has no element."""
    shape = case.output_shape if quantity == "output" else case.input_shape
    return (
        f"case {case.id} ({case.file}): the batch is empty (N = 0): its {quantity} has shape "
        f"{list(shape)} and no element to explain (grad_weight and grad_bias, sums over the "
        "batch, are exactly 0: --quantity grad_weight or grad_bias shows them)"
    )


def explain_lines(case: Case, at: tuple[int, ...]) -> list[str]:
    from harness.computations.implementations import torch_conv2d  # any spatial rank, by the arrays

    arrays = materialize(case)
    rank = case.rank
    n, o, *position = at
    x, w, b = arrays.input64, arrays.weight64, arrays.bias64
    scalar: Any = complex if np.iscomplexobj(w) else float  # one value of the case's kind
    c_out, cg, *kernel_size = w.shape
    og = c_out // case.groups
    group = o // og
    xp = reference.pad(x, case.pads, case.padding_mode)
    taps = [
        p * s + np.arange(k) * d
        for p, s, k, d in zip(position, case.stride, kernel_size, case.dilation, strict=True)
    ]
    befores = case.pads[0::2]
    element = ", ".join(
        f"{name}={k}" for name, k in zip(index_form(rank).split(","), at, strict=True)
    )
    field = ", ".join(
        f"{word} {_span(t - before)}"
        for word, t, before in zip(AXIS_WORDS[rank], taps, befores, strict=True)
    )
    lines = [
        f"case {case.id} ({case.file}): input {list(case.input_shape)}, weight "
        f"{list(case.weight_shape)}, stride {list(case.stride)}, padding {case.padding_label} "
        f"({case.padding_mode}), dilation {list(case.dilation)}, groups {case.groups}, "
        f"{case.dtype}",
        f"output element out[{element}] of an output of shape {list(case.output_shape)}",
        f"output channel {o} is in group {group}: it reads input channels "
        f"{group * cg}..{group * cg + cg - 1} and sums over them (depth summation)",
        f"receptive field: input {field} (negative or past the edge = padding)",
        "",
    ]
    patches, channel_sums = [], []
    for c in range(cg):
        channel = group * cg + c
        patch = xp[n, channel][np.ix_(*taps)]
        kernel = w[o, c]
        with np.errstate(invalid="ignore", over="ignore"):
            products = patch * kernel
            channel_sums.append(scalar(products.sum()))
        patches.append(patch)
        if c < MAX_CHANNELS_SHOWN:
            depths = taps[0] - befores[0]

            def slice_titles(u, channel=channel, c=c, depths=depths):
                return (
                    f"input channel {channel}, depth {depths[u]} field",
                    f"kernel W[{o},{c},{u}] (depth tap {u})",
                    "products",
                )

            titles = (f"input channel {channel} field", f"kernel W[{o},{c}]", "products")
            lines += product_lines(titles, patch, kernel, products, slice_titles)
            slices = f" (the sum of its {patch.shape[0]} depth slices)" if rank == 3 else ""
            lines.append(
                f"  sum of products (channel {channel}) = {number(channel_sums[-1])}{slices}"
            )
            lines.append("")
    if cg > MAX_CHANNELS_SHOWN:
        lines.append(
            f"... {cg - MAX_CHANNELS_SHOWN} more channels not shown; their sums: "
            + ", ".join(number(s) for s in channel_sums[MAX_CHANNELS_SHOWN:])
        )
    bias = scalar(0.0) if b is None else scalar(b[o])
    depth_sum = scalar(np.sum(channel_sums))
    total = depth_sum + bias
    field_flat = np.concatenate([p.ravel() for p in patches])
    kernel_flat = w[o].ravel()
    with np.errstate(invalid="ignore", over="ignore"):
        dot = scalar(field_flat @ kernel_flat) + bias
    sums_text = " + ".join(number(s) for s in channel_sums[:MAX_CHANNELS_SHOWN])
    if cg > MAX_CHANNELS_SHOWN:
        sums_text += " + ..."
    lines.append(
        f"depth sum over {cg} channel{'s' if cg > 1 else ''}: {sums_text} = {number(depth_sum)}"
    )
    if b is None:
        lines.append(f"no bias: {number(total)}")
    else:
        lines.append(f"plus bias b[{o}] = {number(bias)}: {number(total)}")
    lines.append(f"as one dot product of the flattened field and kernel ({field_flat.size} terms):")
    lines.append(f"  {vector(field_flat)}")
    lines.append(f"  . {vector(kernel_flat)}")
    lines.append(f"  = {number(dot - bias)}  (+ bias {number(bias)} = {number(dot)})")
    if scalar is complex:
        lines += hermitian_lines(field_flat, kernel_flat, bias, dot)

    torch_out = np.asarray(
        torch_conv2d(
            np.array(arrays.input),
            np.array(arrays.weight),
            None if arrays.bias is None else np.array(arrays.bias),
            case.stride,
            case.padding,
            case.dilation,
            case.groups,
            case.padding_mode,
        ),
        dtype=np.complex128 if scalar is complex else np.float64,
    )
    lines.append(f"torch F.conv{rank}d ({case.dtype}): {number(scalar(torch_out[at]))}")

    def with_kernel(flipped: np.ndarray) -> tuple[float | complex, str]:
        """This element computed with W[o] flipped, and whether that shows."""
        with np.errstate(invalid="ignore", over="ignore"):
            value = (
                scalar(sum(scalar((p * k).sum()) for p, k in zip(patches, flipped, strict=True)))
                + bias
            )
        return value, "same value here" if np.isclose(value, total, equal_nan=True) else "differs"

    spatial = tuple(range(1, rank + 1))
    flipped_value, note = with_kernel(np.flip(w[o], spatial))
    if np.array_equal(w, np.flip(w, tuple(a + 1 for a in spatial))):
        note += f": {SYMMETRIC[rank]}, so flipping cannot show"
    lines.append(
        f"flipped kernel (true convolution, as {CONVOLVE[rank]}): {number(flipped_value)} ({note})"
    )
    if rank == 3:  # a flip along one axis only: what a port that reversed one loop computes
        for axis, name in zip(spatial, case.axis_names, strict=True):
            value, note = with_kernel(np.flip(w[o], axis))
            lines.append(f"kernel flipped along {name} only: {number(value)} ({note})")
    return lines


def hermitian_lines(field: np.ndarray, kernel: np.ndarray, bias: complex, dot: complex) -> list:
    """For complex values: the sum of products above next to the Hermitian dot product."""
    with np.errstate(invalid="ignore", over="ignore"):
        hermitian = complex(np.vdot(kernel, field)) + bias
    if not np.isclose(hermitian, dot, equal_nan=True):
        note = "differs: what scipy.signal.correlate and a conjugating implementation give"
    elif np.any(kernel.imag):
        note = "same value here"
    else:
        note = "same value here: the kernel is real"
    return [
        "  complex values: that is the plain sum of products x * w, torch's (no conjugation)",
        "as a Hermitian dot product, np.vdot(kernel, field) = sum of conj(w) * x:",
        f"  . {vector(np.conj(kernel))}  (the kernel conjugated)",
        f"  = {number(hermitian - bias)}  (+ bias {number(bias)} = {number(hermitian)}; {note})",
    ]


def _span(positions: np.ndarray) -> str:
    step = int(positions[1] - positions[0]) if positions.size > 1 else 1
    return f"{int(positions[0])}..{int(positions[-1])}" + (f" step {step}" if step != 1 else "")
