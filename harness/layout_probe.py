"""diagnose's memory-layout probe: does an implementation that takes torch tensors give the same
result when its tensors are laid out otherwise (harness.layouts)?

One probe per rank of conv{r}d: integer data (every correct output exact), a batch of 2 and 3
input channels, so channels_last and a channel slice both move the memory an implementation that
ignores strides would read. Each layout's output is compared with the same implementation's
contiguous output, not with torch: a wrong result on contiguous tensors is the other probes'.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.baseline import compute_baseline
from harness.calling import call_implementation, layout_function
from harness.cases import case_from_dict
from harness.compare import compare
from harness.data import materialize
from harness.probes import Probe, ProbeResult

PROBED_LAYOUTS = ("channels_last", "channel_slice")


def layout_probe(rank: int) -> Probe:
    spatial = (5, 4, 3)[:rank] if rank < 3 else (4, 3, 3)
    kernel = (3, 2, 2)[:rank]
    ints = {"init": "integers", "low": -3, "high": 4}
    fields = {
        "op": f"conv{rank}d",
        "input": {"shape": [2, 3, *spatial], **ints, "seed": 11},
        "weight": {"shape": [4, 3, *kernel], **ints, "seed": 12},
        "bias": {"shape": [4], **ints, "seed": 13},
        "layouts": list(PROBED_LAYOUTS),
    }
    text = (
        "the same convolution with its tensors channels_last and as a slice of a wider channel "
        "axis gives exactly the contiguous result"
    )
    return Probe("layout", "layout", fields, text, f"conv{rank}d")


def layout_results(func: Callable, rank: int, name: str = "") -> list[ProbeResult]:
    """The layout probe of conv{rank}d for an implementation (named `name`) that takes tensors;
    none for one that takes NumPy arrays."""
    tensors = layout_function(func, name)
    if tensors is None:
        return []
    probe = layout_probe(rank)
    name = "layout" if rank == 2 else f"conv{rank}d_layout"
    raw = {
        "id": f"probe_{name}",
        "description": probe.description,
        "tags": ["diagnose", "layout"],
        **probe.fields,
    }
    case = case_from_dict(raw, source="<diagnose>")
    arrays = materialize(case)
    tolerance = compute_baseline(case, arrays).tolerance
    contiguous = call_implementation(tensors, case, arrays)
    if contiguous.output is None:
        status = "unsupported" if contiguous.status == "unsupported" else "error"
        return [ProbeResult(probe, case, status, contiguous.message, message=contiguous.message)]
    differing, failed = [], []
    worst = 0.0
    for layout in PROBED_LAYOUTS:
        outcome = call_implementation(tensors, case, arrays, layout=layout)
        if outcome.output is None:
            failed.append(f"{layout}: {outcome.message}")
            continue
        metrics = compare(outcome.output, contiguous.output, tolerance)
        if not metrics.agree:
            differing.append(layout)
            worst = max(worst, metrics.max_abs_diff or 0.0)
    if differing:
        finding = f"results depend on the memory layout ({', '.join(differing)})"
        return [
            ProbeResult(
                probe,
                case,
                "diverges",
                finding,
                causes=["layout"],
                max_abs_diff=worst,
                quantity="layout",
            )
        ]
    if failed:
        message = "; ".join(failed)
        return [ProbeResult(probe, case, "error", f"fails in a layout: {message}", message=message)]
    finding = f"same result in every layout tried ({', '.join(PROBED_LAYOUTS)}), as torch"
    return [ProbeResult(probe, case, "ok", finding, max_abs_diff=0.0)]
