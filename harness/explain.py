"""`conv-harness explain`: one output element computed by hand, step by step.

For out[n, o, i, j]: the receptive field in every input channel of the group (from the padded
input, rows i*sH + u*dH, columns j*sW + v*dW), the kernel slice W[o, c], the grid of elementwise
products, the per-channel sums, the depth sum plus bias, the same number as one dot product of the
flattened field and kernel, torch's value, and what the flipped kernel (true convolution) gives.
Plain text, readable in a terminal and in a log.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness import reference
from harness.cases import Case
from harness.data import materialize
from harness.errors import HarnessError

MAX_CHANNELS_SHOWN = 8
MAX_VECTOR_SHOWN = 27


def number(value: float) -> str:
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


def parse_index(text: str | None, case: Case) -> tuple[int, int, int, int]:
    if text is None:
        return (0, 0, 0, 0)
    try:
        index = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise HarnessError(f"--at '{text}': expected four integers n,o,i,j") from None
    shape = case.output_shape
    if len(index) != 4 or any(not 0 <= k < s for k, s in zip(index, shape, strict=True)):
        raise HarnessError(
            f"--at '{text}': not an index into the output of case '{case.id}', whose shape is "
            f"{list(shape)} (n,o,i,j)"
        )
    return index


def explain_lines(case: Case, at: tuple[int, int, int, int]) -> list[str]:
    from harness.implementations import torch_conv2d
    from harness.mutations import Semantics, mutated_output

    arrays = materialize(case)
    n, o, i, j = at
    x, w, b = arrays.input64, arrays.weight64, arrays.bias64
    c_out, cg, kh, kw = w.shape
    og = c_out // case.groups
    group = o // og
    (sh, sw), (dh, dw) = case.stride, case.dilation
    xp = reference.pad(x, case.pads, case.padding_mode)
    rows = i * sh + np.arange(kh) * dh
    cols = j * sw + np.arange(kw) * dw
    top, _, left, _ = case.pads

    lines = [
        f"case {case.id} ({case.file}): input {list(case.input_shape)}, weight "
        f"{list(case.weight_shape)}, stride {list(case.stride)}, padding {case.padding_label} "
        f"({case.padding_mode}), dilation {list(case.dilation)}, groups {case.groups}, "
        f"{case.dtype}",
        f"output element out[n={n}, o={o}, i={i}, j={j}] of an output of shape "
        f"{list(case.output_shape)}",
        f"output channel {o} is in group {group}: it reads input channels "
        f"{group * cg}..{group * cg + cg - 1} and sums over them (depth summation)",
        f"receptive field: input rows {_span(rows - top)}, columns {_span(cols - left)} "
        f"(negative or past the edge = padding)",
        "",
    ]
    field_vectors, kernel_vectors, channel_sums = [], [], []
    for c in range(cg):
        channel = group * cg + c
        patch = xp[n, channel][np.ix_(rows, cols)]
        kernel = w[o, c]
        with np.errstate(invalid="ignore", over="ignore"):
            products = patch * kernel
            channel_sums.append(float(products.sum()))
        field_vectors.append(patch.ravel())
        kernel_vectors.append(kernel.ravel())
        if c < MAX_CHANNELS_SHOWN:
            lines += side_by_side(
                [
                    grid(f"input channel {channel} field", patch),
                    grid(f"kernel W[{o},{c}]", kernel),
                    grid("products", products),
                ]
            )
            lines.append(f"  sum of products (channel {channel}) = {number(channel_sums[-1])}")
            lines.append("")
    if cg > MAX_CHANNELS_SHOWN:
        lines.append(
            f"... {cg - MAX_CHANNELS_SHOWN} more channels not shown; their sums: "
            + ", ".join(number(s) for s in channel_sums[MAX_CHANNELS_SHOWN:])
        )
    bias = 0.0 if b is None else float(b[o])
    depth_sum = float(np.sum(channel_sums))
    total = depth_sum + bias
    field_flat = np.concatenate(field_vectors)
    kernel_flat = np.concatenate(kernel_vectors)
    with np.errstate(invalid="ignore", over="ignore"):
        dot = float(field_flat @ kernel_flat) + bias
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
        dtype=np.float64,
    )
    flipped = mutated_output(case, arrays, Semantics(flip=True))
    torch_value, flipped_value = float(torch_out[at]), float(flipped[at])
    lines.append(f"torch F.conv2d ({case.dtype}): {number(torch_value)}")
    note = "same value here" if np.isclose(flipped_value, total, equal_nan=True) else "differs"
    symmetric = np.array_equal(w, w[:, :, ::-1, ::-1])
    if symmetric:
        note += ": every kernel slice equals its 180-degree rotation, so flipping cannot show"
    lines.append(
        f"flipped kernel (true convolution, as scipy.signal.convolve2d): "
        f"{number(flipped_value)} ({note})"
    )
    return lines


def _span(positions: np.ndarray) -> str:
    step = int(positions[1] - positions[0]) if positions.size > 1 else 1
    return f"{int(positions[0])}..{int(positions[-1])}" + (f" step {step}" if step != 1 else "")


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise HarnessError(
            "--plot needs matplotlib, which is not installed: pip install 'conv-harness[plot]'"
        ) from None
    return plt


def plot_formats() -> list[str]:
    """The file extensions matplotlib writes with the Agg backend (png, pdf, svg, ...)."""
    _pyplot()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    formats = sorted(FigureCanvasAgg.get_supported_filetypes())
    first = [f for f in ("png", "pdf", "svg") if f in formats]
    return first + [f for f in formats if f not in first]


def check_plot_arguments(path: str, versus: str) -> None:
    """Fail fast, as one line, on a plot file matplotlib cannot write (judged by its extension)
    and on a --versus that names neither a mutation nor an implementation."""
    from harness.mutations import MUTATIONS
    from harness.naming import PLUGIN_FORMS, is_plugin_name, suggest
    from harness.peers import PEERS
    from harness.registry import BUILTINS, get_implementation

    implementations = [*BUILTINS, *PEERS]
    if versus in implementations or is_plugin_name(versus):
        get_implementation(versus)  # an unavailable peer or a broken plug-in says why
    elif versus not in MUTATIONS:
        raise HarnessError(
            f"--versus '{versus}': neither a mutation nor an implementation"
            + suggest(versus, [*MUTATIONS, *implementations])
            + f"; mutations: {', '.join(MUTATIONS)}; implementations: "
            + f"{', '.join(implementations)}, or a plug-in as {PLUGIN_FORMS}"
        )
    formats = plot_formats()
    extension = Path(path).suffix.lower().removeprefix(".")
    if extension not in formats:
        what = f"unsupported format '.{extension}'" if extension else "no file extension"
        raise HarnessError(
            f"--plot {path}: {what}; matplotlib writes {', '.join(formats)} "
            "(named by the extension, e.g. plot.png)"
        )


def plot_comparison(case: Case, at: tuple[int, int, int, int], versus: str, path: str) -> str:
    """Heatmaps of the baseline output map, another output (an implementation or a mutation)
    and their difference, side by side, with the worst position marked. Returns a summary."""
    check_plot_arguments(path, versus)
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    from harness.baseline import compute_baseline
    from harness.calling import call_implementation
    from harness.mutations import MUTATIONS
    from harness.registry import get_implementation
    from harness.variants import variant_output

    arrays = materialize(case)
    reference_result = compute_baseline(case, arrays)
    baseline = reference_result.output
    if versus in MUTATIONS:
        other = variant_output(case, arrays, MUTATIONS[versus], baseline)
        label = f"mutation {versus}"
    else:
        outcome = call_implementation(get_implementation(versus), case, arrays)
        if outcome.output is None:
            raise HarnessError(f"--versus {versus}: {outcome.status}: {outcome.message}")
        other, label = outcome.output, f"implementation {versus}"
    n, o = at[0], at[1]
    base_map = baseline[n, o]
    other_map = (
        other[n, o] if other.ndim == 4 and n < other.shape[0] and o < other.shape[1] else None
    )
    figure, axes = plt.subplots(1, 3, figsize=(13, 4.2), constrained_layout=True)
    panels = [("baseline: reference, float64", base_map), (label, other_map)]
    difference = None
    if other_map is not None and other_map.shape == base_map.shape:
        difference = other_map - base_map
        panels.append((f"difference: {versus} - baseline", difference))
    else:
        panels.append(("difference: shapes differ", None))
    worst = None
    worst_value = 0.0
    if difference is not None and np.isfinite(difference).any():
        magnitude = np.where(np.isfinite(difference), np.abs(difference), -1)
        worst = np.unravel_index(int(np.argmax(magnitude)), difference.shape)
        worst_value = float(abs(difference[worst]))
    for axis, (title, data) in zip(axes, panels, strict=True):
        axis.set_title(title, fontsize=10)
        if data is None:
            shape = (
                "" if other_map is None else f"{list(other_map.shape)} vs {list(base_map.shape)}"
            )
            axis.text(0.5, 0.5, f"no common shape\n{shape}", ha="center", va="center")
            axis.set_axis_off()
            continue
        cmap = "coolwarm" if data is difference else "viridis"
        if data is difference:
            limit = float(np.nanmax(np.abs(np.asarray(data)))) or 1.0
            image = axis.imshow(data, cmap=cmap, vmin=-limit, vmax=limit)
        else:
            image = axis.imshow(data, cmap=cmap)
        figure.colorbar(image, ax=axis, shrink=0.8)
        axis.set_xlabel("j")
        axis.set_ylabel("i")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # i, j are indices
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))
        if worst is not None:
            axis.plot(worst[1], worst[0], marker="x", color="red", markersize=12, mew=2.5)
    figure.suptitle(
        f"{case.id}: output map n={n}, o={o}"
        + (
            ""
            if worst is None
            else f"  (worst |difference| {worst_value:.3g} at i={worst[0]}, j={worst[1]}, marked x)"
        ),
        fontsize=11,
    )
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    except Exception as error:  # e.g. pgf without LaTeX, a folder not writable
        raise HarnessError(
            f"--plot {path}: matplotlib could not write it: {type(error).__name__}: {error}"
        ) from None
    finally:
        plt.close(figure)
    if worst is None:
        return f"plot written to {path}"
    return (
        f"plot written to {path}: worst |difference| {worst_value:.6g} at "
        f"(n={n}, o={o}, i={worst[0]}, j={worst[1]})"
    )
