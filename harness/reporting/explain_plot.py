"""`conv-harness explain CASE --plot FILE`: the baseline output beside another output (an
implementation or a mutation) and their difference, for a case of any spatial rank.

One (n, o) output map is drawn: in 1-D as lines (baseline and the other output on one axis, the
difference on a second), in 2-D as three heatmaps side by side, in 3-D as rows of depth slices
(baseline, other, difference; one column per output depth, at most MAX_SLICES around the largest
difference). The largest |difference| is marked with an x. matplotlib (the `plot` extra) is
imported only here, and only when a plot is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.cases.data import materialize
from harness.cases.errors import HarnessError
from harness.cases.loading import Case
from harness.computations.implementation import Implementation

POSITION_NAMES = {1: ("i",), 2: ("i", "j"), 3: ("i", "j", "k")}  # output positions per rank
MAX_SLICES = 6  # depth slices drawn for a 3-D output


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


def check_plot_path(path: str) -> None:
    """Fail fast, as one line, on a plot file matplotlib cannot write (judged by its extension)."""
    formats = plot_formats()
    extension = Path(path).suffix.lower().removeprefix(".")
    if extension not in formats:
        what = f"unsupported format '.{extension}'" if extension else "no file extension"
        raise HarnessError(
            f"--plot {path}: {what}; matplotlib writes {', '.join(formats)} "
            "(named by the extension, e.g. plot.png)"
        )


def versus_problem(versus: str, implementations: Sequence[str]) -> str:
    """The one line for a --versus that names neither a mutation nor an implementation
    (`implementations`: the names shipped with the harness)."""
    from harness.cases.naming import PLUGIN_FORMS, suggest
    from harness.explaining.mutations import MUTATIONS

    return (
        f"--versus '{versus}': neither a mutation nor an implementation"
        + suggest(versus, [*MUTATIONS, *implementations])
        + f"; mutations: {', '.join(MUTATIONS)}; implementations: "
        + f"{', '.join(implementations)}, or a plug-in as {PLUGIN_FORMS}"
    )


def _other_output(case: Case, arrays, baseline: np.ndarray, versus: str | Implementation):
    """The output --versus (a mutation's name or a resolved implementation) gives on this case,
    and its label."""
    from harness.computations.calling import call_implementation
    from harness.explaining.mutations import MUTATIONS
    from harness.running.variants import variant_output

    if isinstance(versus, str):
        return variant_output(case, arrays, MUTATIONS[versus], baseline), f"mutation {versus}"
    func = versus.operation(case.op) or (versus.operation("conv2d") if case.rank == 2 else None)
    if func is None:
        raise HarnessError(f"--versus {versus.name}: it defines no {case.op} for case '{case.id}'")
    outcome = call_implementation(func, case, arrays)
    if outcome.output is None:
        raise HarnessError(f"--versus {versus.name}: {outcome.status}: {outcome.message}")
    return outcome.output, f"implementation {versus.name}"


def plot_comparison(
    case: Case, at: tuple[int, ...], versus: str | Implementation, path: str
) -> str:
    """Draw the baseline's (n, o) output map, another output's (`versus`: a mutation's name or an
    implementation) and their difference (lines in 1-D, heatmaps in 2-D, rows of depth slices in
    3-D), the worst position marked. Returns a summary."""
    check_plot_path(path)
    plt = _pyplot()
    from harness.verdicts.baseline import compute_baseline

    arrays = materialize(case)
    baseline = compute_baseline(case, arrays).output
    other, label = _other_output(case, arrays, baseline, versus)
    shown = versus if isinstance(versus, str) else versus.name
    n, o = at[0], at[1]
    base_map = baseline[n, o]
    other_map = (
        other[n, o]
        if other.ndim == baseline.ndim and n < other.shape[0] and o < other.shape[1]
        else None
    )
    difference = None
    if other_map is not None and other_map.shape == base_map.shape:
        difference = other_map - base_map
    worst = None
    worst_value = 0.0
    if difference is not None and np.isfinite(difference).any():
        magnitude = np.where(np.isfinite(difference), np.abs(difference), -1)
        worst = tuple(int(k) for k in np.unravel_index(int(np.argmax(magnitude)), difference.shape))
        worst_value = float(abs(difference[worst]))
    titles = ("baseline: reference, float64", label, f"difference: {shown} - baseline")
    if np.iscomplexobj(base_map):  # complex maps: real parts drawn, the difference's modulus
        titles = (
            "baseline: reference, complex128 (real part)",
            f"{label} (real part)",
            f"|{shown} - baseline| (modulus)",
        )
        base_map = base_map.real
        other_map = None if other_map is None else np.real(other_map)
        difference = None if difference is None else np.abs(difference)
    figure = DRAW[case.rank](plt, (base_map, other_map, difference), titles, worst)
    names = POSITION_NAMES[case.rank]
    where = (
        "" if worst is None else ", ".join(f"{a}={k}" for a, k in zip(names, worst, strict=True))
    )
    figure.suptitle(
        f"{case.id}: output map n={n}, o={o}"
        + (
            ""
            if worst is None
            else f"  (worst |difference| {worst_value:.3g} at {where}, marked x)"
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
        f"plot written to {path}: worst |difference| {worst_value:.6g} at (n={n}, o={o}, {where})"
    )


def _no_common_shape(axis, base_map, other_map) -> None:
    shape = "" if other_map is None else f"{list(other_map.shape)} vs {list(base_map.shape)}"
    axis.text(0.5, 0.5, f"no common shape\n{shape}", ha="center", va="center")
    axis.set_axis_off()


def _integer_ticks(axis, which: str = "xy") -> None:
    from matplotlib.ticker import MaxNLocator

    if "x" in which:
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # positions are indices
    if "y" in which:
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))


def draw_lines(plt, maps, titles, worst):
    """1-D: the first two maps as lines over position i, the third (their difference) below."""
    base_map, other_map, difference = maps
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), constrained_layout=True)
    positions = np.arange(base_map.shape[0])
    top.plot(positions, base_map, marker="o", label=titles[0])
    if other_map is not None:
        top.plot(np.arange(other_map.shape[0]), other_map, marker="s", ls="--", label=titles[1])
    top.set_title("output along i", fontsize=10)
    top.legend(fontsize=9)
    if difference is None:
        _no_common_shape(bottom, base_map, other_map)
    else:
        bottom.axhline(0.0, color="grey", lw=0.8)
        bottom.plot(positions, difference, marker="o", color="tab:red")
        bottom.set_title(titles[2], fontsize=10)
        if worst is not None:
            bottom.plot(worst[0], difference[worst], marker="x", color="black", ms=12, mew=2.5)
    for axis in (top, bottom):
        if axis.axison:
            axis.set_xlabel("i")
            _integer_ticks(axis, "x")
    return figure


def draw_heatmaps(plt, maps, titles, worst):
    """2-D: three heatmaps side by side."""
    base_map, other_map, difference = maps
    figure, axes = plt.subplots(1, 3, figsize=(13, 4.2), constrained_layout=True)
    if difference is None:
        titles = (*titles[:2], "difference: shapes differ")
    for axis, title, data in zip(axes, titles, maps, strict=True):
        axis.set_title(title, fontsize=10)
        if data is None:
            _no_common_shape(axis, base_map, other_map)
            continue
        if data is difference:
            limit = float(np.nanmax(np.abs(np.asarray(data)))) or 1.0
            image = axis.imshow(data, cmap="coolwarm", vmin=-limit, vmax=limit)
        else:
            image = axis.imshow(data, cmap="viridis")
        figure.colorbar(image, ax=axis, shrink=0.8)
        axis.set_xlabel("j")
        axis.set_ylabel("i")
        _integer_ticks(axis)
        if worst is not None:
            axis.plot(worst[1], worst[0], marker="x", color="red", markersize=12, mew=2.5)
    return figure


def draw_depth_slices(plt, maps, titles, worst):
    """3-D: one row per map (baseline, other, difference), one column per output depth i, each
    a heatmap over (j, k) on the row's common colour scale."""
    base_map, other_map, difference = maps
    depth = base_map.shape[0]
    centre = worst[0] if worst is not None else 0
    first = min(max(0, centre - MAX_SLICES // 2), max(0, depth - MAX_SLICES))
    shown = list(range(first, min(depth, first + MAX_SLICES)))
    width = max(9.0, 2.6 * len(shown) + 2.0)
    figure = plt.figure(figsize=(width, 8.0), constrained_layout=True)
    for row, title, data in zip(figure.subfigures(3, 1), titles, maps, strict=True):
        row.suptitle(title, fontsize=10)
        axes = row.subplots(1, len(shown), squeeze=False)[0]
        if data is None or data.shape != base_map.shape:
            _no_common_shape(axes[0], base_map, other_map)
            for axis in axes[1:]:
                axis.set_axis_off()
            continue
        values = np.asarray(data)[shown]
        finite = values[np.isfinite(values)]
        if data is difference:
            limit = (float(np.abs(finite).max()) if finite.size else 0.0) or 1.0
            scale = {"cmap": "coolwarm", "vmin": -limit, "vmax": limit}
        else:
            low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            scale = {"cmap": "viridis", "vmin": low, "vmax": high}
        for axis, i in zip(axes, shown, strict=True):
            image = axis.imshow(data[i], **scale)
            axis.set_title(f"depth i={i}", fontsize=9)
            axis.set_xlabel("k")
            axis.set_ylabel("j")
            _integer_ticks(axis)
            if worst is not None and worst[0] == i:
                axis.plot(worst[2], worst[1], marker="x", color="red", markersize=12, mew=2.5)
        row.colorbar(image, ax=axes[-1], shrink=0.8)
    return figure


DRAW = {1: draw_lines, 2: draw_heatmaps, 3: draw_depth_slices}
