"""Bug families of every quantity: gradients and transposed outputs named by the family that
reproduces them, at ranks 1, 2 and 3.

The plug-ins (tests/data/quantity_bugs_loops.py: plain Python loops over positions, channels and
taps; tests/data/quantity_bugs_torch.py: torch called with one misread argument) are written
unlike the engine (vectorised tap loops); the engine itself is checked against torch autograd and
F.conv_transposeNd at torch's reading.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.cases import case_from_dict
from harness.cases.case import Case
from harness.computations.registry import get_implementation, implementation
from harness.explaining.quantity_readings import (
    QuantityReading,
    correlate_partials,
    grad_input_partials,
    spread_partials,
    transposed_size,
)
from harness.running.runner import RunOptions, run_case

DATA = Path(__file__).parent / "data"
LOOPS = str(DATA / "quantity_bugs_loops.py")
TORCH = str(DATA / "quantity_bugs_torch.py")
SIZES = {1: [9], 2: [6, 7], 3: [4, 4, 5]}
KERNELS = {1: [3], 2: [2, 3], 3: [2, 2, 3]}


def one_axis(rank: int, value: int, rest: int = 1) -> list[int]:
    """`value` on the last axis, `rest` on the others (a bug on W only, L in 1-D)."""
    return [rest] * (rank - 1) + [value]


def make_case(rank, transposed=False, dtype="float64", groups=3, **fields) -> Case:
    spatial, kernel = SIZES[rank], KERNELS[rank]
    if transposed:
        c_in, c_out = 2 * groups, 2 * groups
        weight = [c_in, 2, *kernel]
    else:
        c_in, c_out = 2 * groups, 3 * groups
        weight = [c_out, 2, *kernel]
    raw = {
        "id": "quantity_family",
        "op": f"conv_transpose{rank}d" if transposed else f"conv{rank}d",
        "input": {"shape": [2, c_in, *spatial], "init": "normal", "seed": 11},
        "weight": {"shape": weight, "init": "normal", "seed": 12},
        "bias": {"shape": [c_out], "init": "normal", "seed": 13},
        "groups": groups,
        "dtype": dtype,
        **fields,
    }
    return case_from_dict(raw)


def rows(module: str, function: str, case: Case) -> dict:
    name = f"{module}:{function}"
    options = RunOptions(variants=False, backward=True)
    return {
        r.quantity: r
        for r in run_case(case, [implementation(name, get_implementation(name))], options)
    }


def conv_case(rank, dtype="float64", **fields):
    """groups 3, stride 3 and dilation 2 on the last axis, padding 1."""
    defaults = {"stride": one_axis(rank, 3), "dilation": one_axis(rank, 2), "padding": 1}
    return make_case(rank, dtype=dtype, **{**defaults, **fields})


def transposed_case(rank, dtype="float64", **fields):
    """groups 3, stride 3 and dilation 2 on the last axis, padding 1, output_padding 2 there."""
    defaults = {
        "stride": one_axis(rank, 3),
        "dilation": one_axis(rank, 2),
        "padding": 1,
        "output_padding": one_axis(rank, 2, 0),
    }
    return make_case(rank, transposed=True, dtype=dtype, **{**defaults, **fields})


# (plug-in bug, complex case, quantity, cause)
BACKWARD_BUGS = [
    ("gi_drop_channel", False, "grad_input", "depth_sum"),
    ("gi_dilation", False, "grad_input", "dilation"),
    ("gi_phase", False, "grad_input", "stride"),
    ("gi_no_flip", False, "grad_input", "kernel_flip"),
    ("gi_no_conj", True, "grad_input", "conjugation"),
    ("gw_groups", False, "grad_weight", "groups"),
    ("gw_dilation", False, "grad_weight", "dilation"),
    ("gw_batch0", False, "grad_weight", "depth_sum"),
    ("gw_flip_one_axis", False, "grad_weight", "kernel_flip"),
    ("gw_no_conj", True, "grad_weight", "conjugation"),
    ("gb_mean", False, "grad_bias", "bias"),
    ("gb_first_image", False, "grad_bias", "bias"),
]


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize(("bug", "complex_case", "quantity", "cause"), BACKWARD_BUGS)
def test_a_convolution_backward_bug_is_named_by_its_family(
    rank, bug, complex_case, quantity, cause
):
    case = conv_case(rank, "complex128" if complex_case else "float64")
    found = rows(LOOPS, f"{bug}_conv{rank}d_backward", case)
    assert (found[quantity].status, found[quantity].cause) == ("unexpected_divergence", cause)
    others = {q for q in ("grad_input", "grad_weight", "grad_bias") if q != quantity}
    assert {found[q].status for q in others} == {"ok"}


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_grad_input_ignoring_the_padding_is_padding(rank):
    # stride 1: a shift of grad_input is no stride phase here
    case = conv_case(rank, stride=one_axis(rank, 1))
    found = rows(LOOPS, f"gi_padding_ignored_conv{rank}d_backward", case)
    assert found["grad_input"].cause == "padding"


TRANSPOSED_BUGS = [
    ("dilation_ignored", False, "dilation"),
    ("output_padding_ignored", False, "padding"),
    ("output_padding_before", False, "padding"),
    ("output_padding_zeros", False, "padding"),
    ("groups_interleaved", False, "groups"),
    ("drop_channel", False, "depth_sum"),
    ("phase", False, "stride"),
    ("flip_one_axis", False, "kernel_flip"),
    ("conj_weight", True, "conjugation"),
    ("bias_missing", False, "bias"),
]


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize(("bug", "complex_case", "cause"), TRANSPOSED_BUGS)
def test_a_transposed_convolution_bug_is_named_by_its_family(rank, bug, complex_case, cause):
    # padding 2: a shift by one position is no padding change here (it is with padding 1: all
    # the padding cropped at the end, or output_padding 1 put first, equal a phase of 1)
    case = transposed_case(rank, "complex128" if complex_case else "float64", padding=2)
    found = rows(LOOPS, f"{bug}_conv_transpose{rank}d", case)
    assert (found["output"].status, found["output"].cause) == ("unexpected_divergence", cause)


TRANSPOSED_BACKWARD_BUGS = [
    ("gi_dilation", False, "grad_input", "dilation"),
    ("gi_no_conj", True, "grad_input", "conjugation"),
    ("gw_groups", False, "grad_weight", "groups"),
]


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize(("bug", "complex_case", "quantity", "cause"), TRANSPOSED_BACKWARD_BUGS)
def test_a_transposed_backward_bug_is_named_by_its_family(rank, bug, complex_case, quantity, cause):
    case = transposed_case(rank, "complex128" if complex_case else "float64")
    found = rows(LOOPS, f"tb_{bug}_conv_transpose{rank}d_backward", case)
    assert (found[quantity].status, found[quantity].cause) == ("unexpected_divergence", cause)
    others = {q for q in ("grad_input", "grad_weight", "grad_bias") if q != quantity}
    assert {found[q].status for q in others} == {"ok"}


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_correct_loop_implementations_are_ok(rank):
    for case, function in [
        (conv_case(rank, "complex128"), f"correct_conv{rank}d_backward"),
        (transposed_case(rank), f"correct_conv_transpose{rank}d"),
        (transposed_case(rank, "complex128"), f"tb_correct_conv_transpose{rank}d_backward"),
    ]:
        found = rows(LOOPS, function, case)
        computed = {q: r.status for q, r in found.items() if r.status != "unsupported"}
        assert computed
        assert set(computed.values()) == {"ok"}, computed


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_torch_with_one_argument_misread(rank):
    groups = rows(TORCH, f"reversed_groups_conv{rank}d_backward", conv_case(rank))
    assert (groups["grad_input"].cause, groups["grad_weight"].cause) == ("groups", "groups")
    conj = rows(TORCH, f"conjugated_kernel_conv{rank}d_backward", conv_case(rank, "complex128"))
    assert conj["grad_input"].cause == "conjugation"
    dilation = rows(TORCH, f"no_dilation_conv_transpose{rank}d", transposed_case(rank))
    assert dilation["output"].cause == "dilation"
    extra = rows(TORCH, f"no_output_padding_conv_transpose{rank}d", transposed_case(rank))
    assert extra["output"].cause == "padding"
    narrow = rows(TORCH, f"float32_conv{rank}d_backward", conv_case(rank))
    assert {narrow[q].cause for q in ("grad_input", "grad_weight")} == {"precision"}


def test_a_transposed_kernel_in_2d_is_kernel_flip_on_both_gradients():
    case = make_case(2, groups=1, padding=1, weight={"shape": [3, 2, 3, 3], "init": "normal"})
    found = rows(TORCH, "transposed_kernel_conv2d_backward", case)
    assert (found["grad_input"].cause, found["grad_weight"].cause) == ("kernel_flip", "kernel_flip")


def test_findings_are_in_the_quantity_words():
    from harness.cases.data import materialize
    from harness.explaining.quantity_explain import explain_quantity_value
    from harness.running.backward import QuantityContext, grad_output_arrays, gradient_baselines

    case = conv_case(2)
    arrays = materialize(case)
    _, g64 = grad_output_arrays(case)
    baselines = gradient_baselines(case, arrays, g64)
    loops = _load(LOOPS)
    _, grad_weight, _ = loops.gw_groups_conv2d_backward(
        g64,
        arrays.input64,
        arrays.weight64,
        arrays.bias64,
        stride=case.stride,
        padding=1,
        dilation=case.dilation,
        groups=3,
    )
    context = QuantityContext(case, arrays, g64)
    found = explain_quantity_value(
        grad_weight, baselines["grad_weight"], "grad_weight", [], context
    )
    assert found.findings == ["grad_weight: reads input group o % groups (not o // (C_out/groups))"]
    shifted = loops.gi_phase_conv2d_backward(
        g64,
        arrays.input64,
        arrays.weight64,
        None,
        stride=case.stride,
        padding=1,
        dilation=case.dilation,
        groups=3,
    )[0]
    found = explain_quantity_value(shifted, baselines["grad_input"], "grad_input", [], context)
    assert found.findings == ["grad_input: zeros of the stride inserted 1 position late on W only"]


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_a_padding_mode_the_harness_pads_first(rank):
    # the plug-in gets the reflect-padded input and padding 0; grad_input is folded back
    case = conv_case(rank, padding_mode="reflect", stride=one_axis(rank, 2))
    found = rows(LOOPS, f"gi_dilation_conv{rank}d_backward", case)
    assert found["grad_input"].cause == "dilation"
    found = rows(LOOPS, f"gw_groups_conv{rank}d_backward", case)
    assert found["grad_weight"].cause == "groups"


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_a_wrong_padding_mode_in_the_backward_is_boundary(rank):
    case = conv_case(rank, padding_mode="reflect", stride=one_axis(rank, 2), padding=2)
    found = rows(TORCH, f"wrong_boundary_conv{rank}d_backward", case)
    assert (found["grad_input"].cause, found["grad_weight"].cause) == ("boundary", "boundary")


def test_an_empty_batch_is_explained_without_a_fault():
    case = make_case(2, groups=3, padding=1, input={"shape": [0, 6, 5, 5], "init": "normal"})
    for bug in ("gi_no_flip", "gw_groups", "gb_first_image"):
        found = rows(LOOPS, f"{bug}_conv2d_backward", case)
        assert {r.status for q, r in found.items() if q != "output"} == {"ok"}


def _load(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("quantity_bugs_loops_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- the engine at torch's reading equals torch ----

GEOMETRIES = [  # (groups, stride, dilation, padding, output_padding) on the last axis
    (1, 1, 1, 0, 0),
    (3, 3, 2, 1, 2),
    (2, 2, 3, 2, 1),
]


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_the_engine_at_torchs_reading_is_torch(rank, geometry, dtype):
    groups, s, d, p, op = geometry
    stride, dilation = tuple(one_axis(rank, s, 2)), tuple(one_axis(rank, d))
    padding = tuple(one_axis(rank, p, 1))
    generator = torch.Generator().manual_seed(rank * 10 + s)
    x = torch.randn(2, 2 * groups, *SIZES[rank], dtype=dtype, generator=generator)
    w = torch.randn(3 * groups, 2, *KERNELS[rank], dtype=dtype, generator=generator)
    x.requires_grad_()
    w.requires_grad_()
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[rank]
    y = conv(x, w, None, stride, padding, dilation, groups)
    g = torch.randn(y.shape, dtype=dtype, generator=generator)
    grad_x, grad_w = torch.autograd.grad(y, (x, w), g)
    xn, wn, gn = x.detach().numpy(), w.detach().numpy(), g.numpy()
    pads = tuple(v for q in padding for v in (q, q))
    reading = QuantityReading("identity", pads, stride, (0,) * rank, dilation, "torch", "zeros")
    grad_input = grad_input_partials(
        gn, np.conj(wn), reading, SIZES[rank], groups, range(2 * groups)
    )
    np.testing.assert_allclose(grad_input.sum(axis=2), grad_x.numpy(), atol=1e-12)
    grad_weight = correlate_partials(
        gn, np.conj(xn), tuple(KERNELS[rank]), reading, groups, 2, range(3 * groups)
    )
    np.testing.assert_allclose(grad_weight.sum(axis=2), grad_w.numpy(), atol=1e-12)
    # conv_transpose of x (C_in = 2*groups) with a (C_in, 2, *k) weight
    wt = torch.randn(2 * groups, 2, *KERNELS[rank], dtype=dtype, generator=generator)
    extra = tuple(one_axis(rank, op, 0))
    transpose = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[rank]
    out = transpose(x.detach(), wt, None, stride, padding, extra, groups, dilation)
    pads_t = tuple(v for q, e in zip(padding, extra, strict=True) for v in (q, q - e))
    reading_t = QuantityReading("identity", pads_t, stride, (0,) * rank, dilation, "torch", "zeros")
    size = transposed_size(reading_t, SIZES[rank], KERNELS[rank])
    assert size == tuple(out.shape[2:])
    spread = spread_partials(xn, wt.numpy(), reading_t, size, groups, range(2 * groups))
    np.testing.assert_allclose(spread.sum(axis=2), out.numpy(), atol=1e-12)


def _conv_context(rank=2):
    from harness.cases.data import materialize
    from harness.running.backward import QuantityContext, grad_output_arrays, gradient_baselines

    case = conv_case(rank)
    arrays = materialize(case)
    _, g64 = grad_output_arrays(case)
    return gradient_baselines(case, arrays, g64), QuantityContext(case, arrays, g64)


def test_nan_reaching_more_elements_is_nan_and_an_unexplained_shape_is_shape():
    from harness.explaining.quantity_explain import explain_quantity_value

    baselines, context = _conv_context()
    grad_input = baselines["grad_input"].exact.copy()
    grad_input[0, 0, 0, 0] = np.nan
    found = explain_quantity_value(grad_input, baselines["grad_input"], "grad_input", [], context)
    assert found.causes == ["nan"]
    cropped = baselines["grad_input"].exact[:, :, 1:]  # one row short: no reading gives it
    found = explain_quantity_value(cropped, baselines["grad_input"], "grad_input", [], context)
    assert found.causes == ["shape"]


def test_a_fixed_variant_never_wins_over_a_family():
    # the variant says kernel_flip, but the value is the family's groups bug
    from harness.explaining.quantity_explain import explain_quantity_value

    baselines, context = _conv_context()
    loops = _load(LOOPS)
    case, arrays, g64 = context.case, context.arrays, context.grad_output
    _, grad_weight, _ = loops.gw_groups_conv2d_backward(
        g64,
        arrays.input64,
        arrays.weight64,
        None,
        stride=case.stride,
        padding=1,
        dilation=case.dilation,
        groups=3,
    )
    variants = [("claimed", "grad_weight", "kernel_flip", grad_weight)]
    found = explain_quantity_value(
        grad_weight, baselines["grad_weight"], "grad_weight", variants, context
    )
    assert found.causes == ["groups"]


def test_equally_cheap_explanations_name_both_readings_of_a_shift():
    # stride 1 and padding 1: grad_input read one position late is one less padding before
    # or a stride phase of one; the first is the one named, both are listed
    from harness.cases.data import materialize
    from harness.explaining.quantity_explain import (
        equally_cheap_explanations,
        explain_quantity_value,
    )
    from harness.running.backward import QuantityContext, grad_output_arrays, gradient_baselines

    case = conv_case(2, stride=[1, 1])
    arrays = materialize(case)
    _, g64 = grad_output_arrays(case)
    baselines = gradient_baselines(case, arrays, g64)
    loops = _load(LOOPS)
    grad_input = loops.gi_phase_conv2d_backward(
        g64,
        arrays.input64,
        arrays.weight64,
        None,
        stride=1,
        padding=1,
        dilation=case.dilation,
        groups=3,
    )[0]
    context = QuantityContext(case, arrays, g64)
    named = explain_quantity_value(grad_input, baselines["grad_input"], "grad_input", [], context)
    assert named.causes == ["padding"]
    found = equally_cheap_explanations(grad_input, baselines["grad_input"], "grad_input", context)
    assert found[0].causes == ["padding"]
    assert ["stride"] in [f.causes for f in found]


def test_a_kernel_transposed_in_memory_is_kernel_flip():
    # non-square kernels (2x3, 2x2x3): no symmetry of the kernel's box gives it
    found = rows(LOOPS, "memory_transposed_conv2d_backward", conv_case(2, stride=[1, 2]))
    assert (found["grad_input"].cause, found["grad_weight"].status) == ("kernel_flip", "ok")
    found = rows(LOOPS, "memory_transposed_conv_transpose3d", transposed_case(3, padding=2))
    assert found["output"].cause == "kernel_flip"


@pytest.mark.parametrize(  # every search runs to its budget: the 2-D and 3-D ones are slow
    "rank", [1, pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)]
)
def test_noise_of_any_shape_is_explained_without_raising(rank):
    from harness.cases.causes import CAUSES
    from harness.cases.data import materialize
    from harness.explaining.quantity_explain import explain_quantity_value
    from harness.running.backward import (
        QuantityContext,
        grad_output_arrays,
        gradient_baselines,
        transposed_gradient_baselines,
    )
    from harness.running.transposed import transposed_baseline

    rng = np.random.default_rng(rank)
    for case in (conv_case(rank, "complex128"), transposed_case(rank)):
        arrays = materialize(case)
        _, g64 = grad_output_arrays(case)
        make = transposed_gradient_baselines if case.transposed else gradient_baselines
        baselines = make(case, arrays, g64)
        if case.transposed:
            baselines["output"] = transposed_baseline(case, arrays)
        for quantity, baseline in baselines.items():
            context = QuantityContext(case, arrays, None if quantity == "output" else g64)
            shape = baseline.output.shape
            for noise_shape in (shape, (*shape[:-1], shape[-1] + 1)):
                noise = rng.normal(size=noise_shape)
                found = explain_quantity_value(noise, baseline, quantity, [], context)
                assert found.cause in CAUSES, (quantity, noise_shape)
                assert found.cause in ("unknown", "shape")
