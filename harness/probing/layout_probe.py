"""diagnose's memory-layout probes: does an implementation that takes torch tensors give the same
result when its tensors are laid out otherwise (harness.cases.layouts)?

Per rank, on integer data (every correct result exact), each probe's result in a layout is
compared with the same implementation's contiguous result, not with torch (a wrong result on
contiguous tensors is the other probes'):
- conv{r}d `layout`: input and weight channels_last, and a slice of a wider channel axis;
- conv{r}d `weight_layout`: the weight alone channels_last, transposed in storage (2-D and 3-D)
  and strided, the input contiguous;
- conv{r}d `size1_strides`: a depthwise convolution (one input channel per group) of a batch of
  1, its size-1 axes given stride 1 through as_strided (the weight's alone, then both), the
  strides torch 1.12 gave a one-channel channels_last weight;
- conv_transpose{r}d `layout`: input alone and weight alone channels_last, both sliced from wider
  channel axes, the weight transposed in storage;
- conv{r}d_backward / conv_transpose{r}d_backward `gradient_layout`: grad_output channels_last,
  sliced and strided, the input (its gradients) and the weight channels_last, and everything
  channels_last; each gradient compared with its contiguous value.
A probe whose results differ names the layouts (and gradients) that change them: cause `layout`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from harness.cases.case import Case
from harness.cases.data import materialize
from harness.cases.layouts import GRADIENT_ROLES, applicable
from harness.cases.loading import case_from_dict
from harness.computations.calling import call_implementation
from harness.computations.layout_operations import in_layout
from harness.probing.probes import Probe, ProbeResult
from harness.running.backward import (
    call_backward,
    grad_output_arrays,
    gradient_baselines,
    transposed_gradient_baselines,
)
from harness.running.transposed import transposed_baseline
from harness.verdicts.baseline import compute_baseline
from harness.verdicts.compare import compare

PROBED_LAYOUTS = ("channels_last", "channel_slice")
WEIGHT_LAYOUTS = ("channels_last_weight", "transposed_weight", "strided_weight")
SIZE1_LAYOUTS = ("unit_strides_weight", "unit_strides")
TRANSPOSED_LAYOUTS = (
    "channels_last_input",
    "channels_last_weight",
    "channel_slice",
    "transposed_weight",
)
GRADIENT_LAYOUTS = (
    "channels_last_grad_output",
    "channel_slice_grad_output",
    "strided_grad_output",
    "channels_last_input",
    "channels_last_weight",
    "channels_last",
)
INTS = {"init": "integers", "low": -3, "high": 4}


def _spatial(rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(input sizes, kernel) of a probe at this rank: every axis of its own size."""
    spatial = (5, 4, 3)[:rank] if rank < 3 else (4, 3, 3)
    return spatial, (3, 2, 2)[:rank]


def _tensor(shape, seed: int) -> dict:
    return {"shape": list(shape), **INTS, "seed": seed}


def layout_probe(rank: int) -> Probe:
    spatial, kernel = _spatial(rank)
    fields = {
        "op": f"conv{rank}d",
        "input": _tensor([2, 3, *spatial], 11),
        "weight": _tensor([4, 3, *kernel], 12),
        "bias": _tensor([4], 13),
        "layouts": list(PROBED_LAYOUTS),
    }
    text = (
        "the same convolution with its tensors channels_last and as a slice of a wider channel "
        "axis gives exactly the contiguous result"
    )
    return Probe("layout", "layout", fields, text, f"conv{rank}d")


def weight_layout_probe(rank: int) -> Probe:
    spatial, kernel = _spatial(rank)
    fields = {
        "op": f"conv{rank}d",
        "input": _tensor([2, 3, *spatial], 21),
        "weight": _tensor([4, 3, *kernel], 22),
        "bias": _tensor([4], 23),
        "layouts": list(WEIGHT_LAYOUTS),
    }
    text = (
        "the same convolution with only its weight channels_last, transposed in storage or "
        "strided gives exactly the contiguous result"
    )
    return Probe("weight_layout", "layout", fields, text, f"conv{rank}d")


def size1_probe(rank: int) -> Probe:
    spatial, kernel = _spatial(rank)
    fields = {
        "op": f"conv{rank}d",
        "input": _tensor([1, 3, *spatial], 31),
        "weight": _tensor([6, 1, *kernel], 32),
        "bias": _tensor([6], 33),
        "groups": 3,
        "layouts": list(SIZE1_LAYOUTS),
    }
    text = (
        "a depthwise convolution of one image whose size-1 axes have stride 1 (the weight's, "
        "then the input's too) gives exactly the contiguous result"
    )
    return Probe("size1_strides", "layout", fields, text, f"conv{rank}d")


def transposed_layout_probe(rank: int) -> Probe:
    spatial, kernel = _spatial(rank)
    fields = {
        "op": f"conv_transpose{rank}d",
        "input": _tensor([2, 3, *spatial], 41),
        "weight": _tensor([3, 2, *kernel], 42),
        "bias": _tensor([2], 43),
        "stride": 2,
        "layouts": list(TRANSPOSED_LAYOUTS),
    }
    text = (
        "the same transposed convolution with its input or weight channels_last, sliced from "
        "wider channel axes or its weight transposed in storage gives exactly the contiguous result"
    )
    return Probe("layout", "layout", fields, text, f"conv_transpose{rank}d")


def gradient_layout_probe(op: str) -> Probe:
    """The probe of a backward operation (conv{r}d_backward or conv_transpose{r}d_backward)."""
    forward = op.removesuffix("_backward")
    base = (transposed_layout_probe if forward.startswith("conv_transpose") else layout_probe)(
        int(forward[-2])
    )
    fields = {**base.fields, "layouts": list(GRADIENT_LAYOUTS)}
    text = (
        "the same gradients with grad_output channels_last, sliced or strided, with the input "
        "or the weight channels_last, or all of them, are exactly the contiguous ones"
    )
    return Probe("gradient_layout", "layout", fields, text, op)


def _probe_case(probe: Probe, backward: bool = False) -> Case:
    bare = probe.op == "conv2d" and probe.property == "layout"  # its id from before the others
    raw = {
        "id": "probe_layout" if bare else f"probe_{probe.op}_{probe.property}",
        "description": probe.description,
        "tags": ["diagnose", "layout"],
        **probe.fields,
    }
    case = case_from_dict(raw, source="<diagnose>")
    if backward:  # an integer grad_output too: every gradient exact
        case = case_from_dict({**raw, "grad_output": _tensor(case.output_shape, 99)}, "<diagnose>")
    return case


def _shapes(case: Case):
    bias = None if case.bias is None else (case.output_shape[1],)
    return case.input_shape, case.weight_shape, bias


def layout_results(
    func: Callable, tensors: Callable | None, rank: int, op: str | None = None
) -> list[ProbeResult]:
    """The layout probes of operation `op` (conv{rank}d when None, as diagnose always called it;
    conv_transpose{rank}d, conv{rank}d_backward or conv_transpose{rank}d_backward), `func`, for
    an implementation that takes tensors (`tensors`: the function taking them,
    Implementation.tensor_operation); none for one that takes NumPy arrays (None)."""
    op = op or f"conv{rank}d"
    if tensors is None:
        return []
    if op.endswith("_backward"):
        return [_gradient_result(func, tensors, gradient_layout_probe(op))]
    if op.startswith("conv_transpose"):
        return [_output_result(tensors, transposed_layout_probe(rank))]
    probes = (layout_probe(rank), weight_layout_probe(rank), size1_probe(rank))
    return [_output_result(tensors, probe) for probe in probes]


def _layouts_of(case: Case, grad_output: Sequence[int] | None = None) -> list[str]:
    return [layout for layout in case.layouts if applicable(layout, _shapes(case), grad_output)]


def _output_result(tensors: Callable, probe: Probe) -> ProbeResult:
    case = _probe_case(probe)
    arrays = materialize(case)
    baseline = transposed_baseline(case, arrays) if case.transposed else None
    tolerance = (baseline or compute_baseline(case, arrays)).tolerance
    contiguous = call_implementation(tensors, case, arrays)
    if contiguous.output is None:
        status = "unsupported" if contiguous.status == "unsupported" else "error"
        return ProbeResult(probe, case, status, contiguous.message, message=contiguous.message)
    differing, failed = [], []
    worst = 0.0
    layouts = _layouts_of(case)
    for layout in layouts:
        outcome = call_implementation(tensors, case, arrays, layout=layout)
        if outcome.output is None:
            failed.append(f"{layout}: {outcome.message}")
            continue
        metrics = compare(outcome.output, contiguous.output, tolerance)
        if not metrics.agree:
            differing.append(layout)
            worst = _worst(worst, metrics.max_abs_diff)
    return _verdict(probe, case, layouts, differing, failed, worst)


def _gradient_result(func: Callable, tensors: Callable, probe: Probe) -> ProbeResult:
    case = _probe_case(probe, backward=True)
    arrays = materialize(case)
    g, g64 = grad_output_arrays(case)
    by_kind = transposed_gradient_baselines if case.transposed else gradient_baselines
    baselines = by_kind(case, arrays, g64)
    contiguous = call_backward(func, case, arrays, g, None)
    if contiguous.status is not None:
        status = "unsupported" if contiguous.status == "unsupported" else "error"
        return ProbeResult(probe, case, status, contiguous.message, message=contiguous.message)
    differing, failed = [], []
    worst = 0.0
    layouts = _layouts_of(case, case.output_shape)
    for layout in layouts:
        result = call_backward(in_layout(tensors, layout, GRADIENT_ROLES), case, arrays, g, None)
        if result.status is not None:
            failed.append(f"{layout}: {result.message}")
            continue
        changed = []
        for quantity, baseline in baselines.items():
            value, reference = result.values.get(quantity), contiguous.values.get(quantity)
            if value is None or reference is None:
                continue
            metrics = compare(value, reference, baseline.tolerance)
            if not metrics.agree:
                changed.append(quantity)
                worst = _worst(worst, metrics.max_abs_diff)
        if changed:
            differing.append(f"{'+'.join(changed)} in {layout}")
    return _verdict(probe, case, layouts, differing, failed, worst)


def _worst(worst: float, difference: float | None) -> float:
    """The largest finite difference so far (NaN reached by a misread slice is no size)."""
    if difference is None or not np.isfinite(difference):
        return worst
    return max(worst, difference)


def _verdict(
    probe: Probe,
    case: Case,
    layouts: Sequence[str],
    differing: list[str],
    failed: list[str],
    worst: float,
) -> ProbeResult:
    if differing:
        finding = f"results depend on the memory layout ({', '.join(differing)})"
        return ProbeResult(
            probe,
            case,
            "diverges",
            finding,
            causes=["layout"],
            max_abs_diff=worst,
            quantity="layout",
        )
    if failed:
        message = "; ".join(failed)
        return ProbeResult(probe, case, "error", f"fails in a layout: {message}", message=message)
    finding = f"same result in every layout tried ({', '.join(layouts)}), as torch"
    return ProbeResult(probe, case, "ok", finding, max_abs_diff=0.0)
