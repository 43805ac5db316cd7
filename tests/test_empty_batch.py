"""An empty batch (N = 0): the loader accepts it, every implementation returns the empty output
the output-size formula gives, gradients are empty or exactly zero, the rows are ok with nothing
compared, and the zero sizes torch refuses (or mishandles) stay refused with a one-line error."""

from __future__ import annotations

import csv
import importlib.util

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.cases import case_from_dict, load_cases
from harness.cases.data import materialize
from harness.cases.errors import CaseFileError
from harness.computations import gradients, reference, scipy_gradients
from harness.computations.cost import memory_estimate, sampled_maps, scipy_cost
from harness.computations.implementations import scipy_conv
from harness.computations.reference_loop import conv_loop
from harness.computations.registry import resolve_implementations
from harness.running.runner import RunOptions, run_case
from harness.running.select import estimated_cost, shard
from harness.verdicts.compare import compare, tolerance
from tests.conftest import ROOT, run_cli

EMPTY_FILE = ROOT / "cases" / "empty.yaml"


def _by_hand(case) -> tuple[int, ...]:
    """The output shape from the formulas, written out here rather than taken from the harness:
    forward floor((L + p_before + p_after - d*(k-1) - 1) / s) + 1 ('same' keeps L); transposed
    (L-1)*s - 2p + d*(k-1) + output_padding + 1."""
    n, _, *sizes = case.input.shape
    kernel = case.weight.shape[2:]
    if case.transposed:
        c_out = case.weight.shape[1] * case.groups
        spatial = [
            (size - 1) * s - 2 * case.padding[2 * a] + d * (k - 1) + op + 1
            for a, (size, s, d, k, op) in enumerate(
                zip(sizes, case.stride, case.dilation, kernel, case.output_padding, strict=True)
            )
        ]
        return (n, c_out, *spatial)
    if case.padding == "same":
        return (n, case.weight.shape[0], *sizes)
    spatial = [
        (size + case.padding[2 * a] + case.padding[2 * a + 1] - d * (k - 1) - 1) // s + 1
        for a, (size, s, d, k) in enumerate(
            zip(sizes, case.stride, case.dilation, kernel, strict=True)
        )
    ]
    return (n, case.weight.shape[0], *spatial)


def _torch_shape(case) -> tuple[int, ...]:
    arrays = materialize(case)
    x, w = torch.tensor(arrays.input64), torch.tensor(arrays.weight64)
    b = None if arrays.bias64 is None else torch.tensor(arrays.bias64)
    rank = case.rank
    if case.transposed:
        conv = getattr(F, f"conv_transpose{rank}d")
        pads = case.padding[0::2]
        out = conv(x, w, b, case.stride, pads, case.output_padding, case.groups, case.dilation)
        return tuple(out.shape)
    padding = case.padding
    if padding != "same":  # F.pad takes the last axis first
        flat = [p for a in reversed(range(rank)) for p in case.padding[2 * a : 2 * a + 2]]
        mode = "constant" if case.padding_mode == "zeros" else case.padding_mode
        x, padding = F.pad(x, flat, mode=mode), 0
    conv = getattr(F, f"conv{rank}d")
    return tuple(conv(x, w, b, case.stride, padding, case.dilation, case.groups).shape)


EMPTY_CASES = load_cases([EMPTY_FILE])


def test_the_registry_file_covers_the_configurations():
    ids = {case.id for case in EMPTY_CASES}
    assert len(ids) == 11
    assert all(case.input_shape[0] == 0 for case in EMPTY_CASES)
    ops = {case.op for case in EMPTY_CASES}
    assert {"conv1d", "conv2d", "conv3d", "conv_transpose2d"} <= ops
    assert {case.padding_mode for case in EMPTY_CASES} >= {"zeros", "reflect", "circular"}
    assert any(case.padding == "same" for case in EMPTY_CASES)
    assert any(case.groups > 1 for case in EMPTY_CASES)
    assert any(case.grad_output is not None for case in EMPTY_CASES)


@pytest.mark.parametrize("case", EMPTY_CASES, ids=lambda c: c.id)
def test_output_shape_by_hand_equals_the_harness_and_torch(case):
    expected = _by_hand(case)
    assert expected[0] == 0
    assert min(expected[1:]) >= 1
    assert case.output_shape == expected
    assert _torch_shape(case) == expected


@pytest.mark.parametrize("case", EMPTY_CASES, ids=lambda c: c.id)
def test_every_builtin_row_is_ok_with_nothing_compared(case):
    records = run_case(case, resolve_implementations(None), RunOptions(backward=True))
    assert records
    for record in records:
        assert record.status == "ok", (record.implementation, record.variant, record.message)
        if record.variant == "as_is" and record.quantity in ("output", "grad_input"):
            assert (record.total, record.mismatched) == (0, 0)
            assert (record.max_abs_diff, record.max_rel_diff) == (0.0, 0.0)
        if record.variant != "as_is" and record.observed == "agree":
            assert "the batch is empty (N = 0)" in record.message
        elif record.variant != "as_is":  # a mutation that changes the output's shape shows
            assert "Shape mismatch" in record.message or "impossible" in record.message


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_gradients_are_empty_or_exactly_zero(rank):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((0, 4, *[5] * rank))
    w = rng.standard_normal((6, 2, *[3] * rank))
    b = rng.standard_normal(6)
    gy = rng.standard_normal((0, 6, *[3] * rank))  # (5 + 2 - 2 - 1) // 2 + 1 = 3
    params = ((2,) * rank, (1, 1) * rank, (1,) * rank, 2, "replicate")
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    padded = F.pad(xt, [1] * (2 * rank), mode="replicate")
    out = getattr(F, f"conv{rank}d")(padded, wt, bt, 2, 0, 1, 2)
    assert tuple(out.shape) == gy.shape
    out.backward(torch.tensor(gy))
    torch_grads = (xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy())
    for grads in (
        torch_grads,
        gradients.conv_backward(gy, x, w, b, *params),
        scipy_gradients.conv_backward(gy, x, w, b, *params),
    ):
        grad_input, grad_weight, grad_bias = grads
        assert grad_input.shape == x.shape
        assert grad_weight.shape == w.shape
        assert not np.any(grad_weight)
        assert grad_bias.shape == b.shape
        assert not np.any(grad_bias)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_forward_implementations_return_the_empty_output(rank):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((0, 3, *[6] * rank))
    w = rng.standard_normal((3, 1, *[3] * rank))  # depthwise: groups == C_in == C_out
    b = rng.standard_normal(3)
    expected = (0, 3, *[2] * rank)  # (6 + 2*1 - 2*(3-1) - 1) // 2 + 1 = 2
    args = ((2,) * rank, 1, (2,) * rank, 3)
    assert reference.conv(x, w, b, *args, "reflect").shape == expected
    assert conv_loop(x, w, b, *args, "circular").shape == expected
    assert np.asarray(scipy_conv(x, w, b, *args, padding_mode="zeros")).shape == expected
    transposed = gradients.conv_transpose(x, w, b, 2, 1, 1, 3, 1)
    assert transposed.shape == (0, 3, *[12] * rank)  # (6-1)*2 - 2 + 2 + 1 + 1


def test_compare_empty_outputs_agree_and_a_shape_mismatch_fails():
    empty = np.zeros((0, 2, 3, 3))
    tol = tolerance(_magnitudes(), "float64")
    metrics = compare(empty, empty.copy(), tol)
    assert metrics.agree
    assert (metrics.total, metrics.mismatched) == (0, 0)
    assert (metrics.max_abs_diff, metrics.max_rel_diff) == (0.0, 0.0)
    assert not compare(np.zeros((0, 3, 3, 3)), empty, tol).agree
    assert not compare(np.zeros((1, 2, 3, 3)), empty, tol).agree


def _magnitudes():
    from harness.verdicts.baseline import compute_baseline

    case = next(c for c in EMPTY_CASES if c.id == "empty_conv2d")
    return compute_baseline(case, materialize(case)).magnitudes


def test_cost_and_sharding_of_an_empty_case():
    case = next(c for c in EMPTY_CASES if c.id == "empty_conv2d_bias")
    assert scipy_cost(case) == 0
    assert sampled_maps(case) is None
    assert memory_estimate(case) > 0
    assert estimated_cost(case) > 0
    parts = [shard(EMPTY_CASES, k, 3) for k in (1, 2, 3)]
    assert sorted(c.id for part in parts for c in part) == sorted(c.id for c in EMPTY_CASES)


def test_empty_case_csv_rows_are_ok_with_total_zero(tmp_path):
    out = tmp_path / "e.csv"
    result = run_cli("run", str(EMPTY_FILE), "-k", "empty_conv2d_groups", "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open()))
    assert {row["implementation"] for row in rows} >= {"torch", "scipy", "reference"}
    for row in rows:
        assert row["status"] == "ok"
        assert row["output_shape"] == row["baseline_shape"] == "0x4x3x3"
        assert (row["total"], row["mismatched"]) == ("0", "0")
        assert (row["max_abs_diff"], row["max_rel_diff"]) == ("0.0", "0.0")


def test_peers_never_raise_on_an_empty_batch():
    peers = [
        name
        for name, module in (("jax", "jax"), ("opencv", "cv2"), ("scipy_ndimage", "scipy"))
        if importlib.util.find_spec(module) is not None
    ]
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        peers.append("onnxruntime")
    if not peers:
        pytest.skip("no peer library installed")
    implementations = resolve_implementations(peers)
    for case in EMPTY_CASES:
        for dtype in ("float64", "float32"):
            raw = {**case.raw, "id": case.id, "dtype": dtype}
            records = run_case(case_from_dict(raw), implementations, RunOptions(variants=False))
            for record in records:
                assert record.status in ("ok", "unsupported"), (case.id, record.message)


def test_layouts_on_an_empty_batch_are_ok():
    case = next(c for c in EMPTY_CASES if c.id == "empty_conv2d_groups")
    from harness.cases.layouts import LAYOUT_NAMES

    records = run_case(
        case, resolve_implementations(None), RunOptions(variants=False, layouts=LAYOUT_NAMES)
    )
    assert {r.layout for r in records} > {"contiguous"}
    assert "expanded" not in {r.layout for r in records}  # expanded is for N = 1 only
    assert all(r.status == "ok" for r in records), [r.message for r in records]


def _case(input_shape, weight_shape, **fields):
    return {
        "id": "c",
        "input": {"shape": input_shape, "init": "normal"},
        "weight": {"shape": weight_shape, "init": "normal"},
        **fields,
    }


def test_the_schema_accepts_an_empty_batch_and_an_empty_grad_output():
    case = case_from_dict(
        _case([0, 2, 5, 5], [3, 2, 3, 3], grad_output={"shape": [0, 3, 3, 3], "init": "ones"})
    )
    assert case.output_shape == (0, 3, 3, 3)
    impulse = case_from_dict(
        {
            "id": "i",
            "input": {"shape": [0, 1, 4], "init": "impulse"},
            "weight": {"shape": [1, 1, 2], "init": "impulse"},
        }
    )
    assert materialize(impulse).input64.shape == (0, 1, 4)


@pytest.mark.parametrize(
    ("input_shape", "weight_shape", "field", "reason"),
    [
        ([2, 0, 6, 6], [1, 0, 3, 3], "input.shape[1]", "torch returns an output with 0 channels"),
        ([2, 3, 6, 6], [0, 3, 3, 3], "weight.shape[0]", "C_out = 0 is refused"),
        ([2, 3, 0, 6], [1, 3, 3, 3], "input.shape[2]", "zero spatial size"),
        ([2, 3, 6, 6], [1, 3, 3, 0], "weight.shape[3]", "zero spatial size"),
        ([0, 3, 6], [1, 3, 0], "weight.shape[2]", "zero spatial size"),
    ],
)
def test_other_zero_sizes_are_refused_with_a_one_line_reason(
    write_cases, input_shape, weight_shape, field, reason
):
    with pytest.raises(CaseFileError) as error:
        case_from_dict(_case(input_shape, weight_shape))
    assert f"field '{field}'" in str(error.value)
    assert reason in str(error.value)
    path = write_cases(
        "cases:\n"
        f"  - id: zero\n"
        f"    input: {{shape: {input_shape}, init: normal}}\n"
        f"    weight: {{shape: {weight_shape}, init: normal}}\n"
    )
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    line = next(line for line in result.stderr.splitlines() if f"field '{field}'" in line)
    assert line.startswith(f"conv-harness: error: {path}: case 'zero': ")
    assert reason in line


def test_torch_facts_behind_the_refusals():
    """What the refusals rest on (torch 2.x): C_out = 0 and a zero spatial size raise; C_in = 0
    returns an output with 0 channels instead of C_out's bias values."""
    with pytest.raises(RuntimeError):
        F.conv2d(torch.zeros(2, 3, 6, 6), torch.zeros(0, 3, 3, 3))
    with pytest.raises(RuntimeError):
        F.conv2d(torch.zeros(2, 3, 0, 6), torch.zeros(1, 3, 3, 3))
    assert F.conv2d(torch.zeros(2, 0, 6, 6), torch.zeros(1, 0, 3, 3)).shape[1] != 1
    assert F.conv2d(torch.zeros(0, 3, 6, 6), torch.zeros(1, 3, 3, 3)).shape == (0, 1, 4, 4)


@pytest.mark.parametrize(
    ("case_id", "extra"),
    [
        ("empty_conv2d", []),
        ("empty_conv3d", []),
        ("empty_backward", ["--quantity", "grad_input"]),
    ],
)
def test_explain_says_the_batch_is_empty(case_id, extra):
    result = run_cli("explain", case_id, "--cases", str(EMPTY_FILE), *extra)
    assert result.returncode == 0, result.stderr
    assert "the batch is empty (N = 0)" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("quantity", ["grad_weight", "grad_bias"])
def test_explain_of_a_zero_gradient(quantity):
    result = run_cli(
        "explain", "empty_backward", "--cases", str(EMPTY_FILE), "--quantity", quantity
    )
    assert result.returncode == 0, result.stderr
    assert "torch autograd (float64): 0" in result.stdout
