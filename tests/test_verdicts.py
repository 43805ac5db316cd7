"""The verdicts a user expects, on the configurations where the old tolerance rule and the old
variant rows gave wrong ones: wrong implementations flagged with their cause, correct ones `ok`.

Implementations written for the tests live in tests/data (buggy_impls, narrow_impls); expected
values come from torch or from hand arithmetic, never from the harness itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.cases import TensorSpec, case_from_dict, load_cases
from harness.computations.registry import get_implementation, implementation, resolve
from harness.probing.diagnose import diagnose
from harness.running.runner import RunOptions, run_case
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data"
BUILTINS = ["torch", "scipy", "reference"]


def impl(module: str, name: str):
    return get_implementation(f"{DATA / module}.py:{name}")


def rows(raw: dict, implementations, variants: bool = True) -> dict:
    named = [resolve(n) if isinstance(n, str) else implementation(*n) for n in implementations]
    case = case_from_dict(raw)
    return {
        (r.implementation, r.variant): r
        for r in run_case(case, named, RunOptions(variants=variants))
    }


LARGE_BIAS = {
    "id": "large_bias",
    "input": {"shape": [1, 2, 6, 6], "init": "normal", "seed": 1},
    "weight": {"shape": [2, 2, 3, 3], "init": "uniform", "seed": 2},
    "bias": [1.0e6, 0.5],
    "padding": 1,
    "dtype": "float32",
}


def test_one_large_bias_does_not_let_wrong_implementations_pass():
    found = rows(
        LARGE_BIAS,
        [
            *BUILTINS,
            "examples.flipped_kernel:conv2d",
            "examples.first_channel_only:conv2d",
            "examples.mean_over_channels:conv2d",
        ],
    )
    for name in BUILTINS:
        assert found[name, "as_is"].status == "ok", found[name, "as_is"].message
    for example, cause in (
        ("flipped_kernel", "kernel_flip"),
        ("first_channel_only", "depth_sum"),
        ("mean_over_channels", "depth_sum"),
    ):
        row = found[f"examples.{example}:conv2d", "as_is"]
        assert (row.status, row.cause) == ("unexpected_divergence", cause), row.message
    for variant, cause in (
        ("flipped", "kernel_flip"),
        ("no_depth_sum", "depth_sum"),
        ("depth_mean", "depth_sum"),
    ):
        row = found["reference", variant]
        assert (row.status, row.observed, row.cause) == ("ok", "diverge", cause), row.message


def test_mixed_scales_catches_a_rounded_output():
    (case,) = [c for c in load_cases([ROOT / "cases" / "numerics.yaml"]) if c.id == "mixed_scales"]
    named = [resolve(n) for n in BUILTINS]
    named.append(implementation("rounded", impl("buggy_impls", "rounded_output")))
    found = {r.implementation: r for r in run_case(case, named, RunOptions(variants=False))}
    assert all(found[n].status == "ok" for n in BUILTINS)
    assert found["rounded"].status == "unexpected_divergence"


TINY = {
    "id": "tiny",
    "input": {"shape": [1, 2, 6, 6], "init": "normal", "std": 1e-8, "seed": 1},
    "weight": {"shape": [2, 2, 3, 3], "init": "uniform", "seed": 2},
    "bias": [1e-8, -2e-8],
    "stride": 2,
    "padding": 1,
}


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("examples.flipped_kernel:conv2d", "kernel_flip"),
        ("examples.first_channel_only:conv2d", "depth_sum"),
        ("examples.mean_over_channels:conv2d", "depth_sum"),
        ("examples.stride_phase:conv2d", "stride"),
        ("examples.bias_ignored:conv2d", "bias"),
        ("examples.flipped_and_no_bias:conv2d", "kernel_flip+bias"),
        # an all-zero output is reproduced by a channel loop that never runs and a missing bias
        ("zeros", "depth_sum+bias"),
    ],
)
def test_small_outputs_are_checked_at_their_own_scale(name, cause):
    func = impl("buggy_impls", "zeros_output") if name == "zeros" else get_implementation(name)
    found = rows(TINY, [*BUILTINS, (name, func)], variants=False)
    assert all(found[n, "as_is"].status == "ok" for n in BUILTINS)
    row = found[name, "as_is"]
    assert (row.status, row.cause) == ("unexpected_divergence", cause), row.message


def test_tiny_weights_catches_an_all_zero_output():
    (case,) = [c for c in load_cases([ROOT / "cases" / "numerics.yaml"]) if c.id == "tiny_weights"]
    (row,) = run_case(
        case,
        [implementation("zeros", impl("buggy_impls", "zeros_output"))],
        RunOptions(variants=False),
    )
    assert row.status == "unexpected_divergence"


def test_bfloat16_at_large_k_still_checks_values():
    # VGG fc6 as a conv: K = 512 * 7 * 7 = 25088; the old rtol had grown to 0.845
    raw = {
        "id": "fc6",
        "input": {"shape": [1, 512, 7, 7], "init": "normal", "seed": 1},
        "weight": {"shape": [1, 512, 7, 7], "init": "normal", "seed": 2},
        "dtype": "bfloat16",
    }
    found = rows(raw, [*BUILTINS, ("halved", impl("buggy_impls", "halved_output"))], variants=False)
    assert all(found[n, "as_is"].status == "ok" for n in BUILTINS)
    halved = found["halved", "as_is"]
    assert halved.status == "unexpected_divergence"
    assert halved.cause != "precision"
    assert halved.rtol < 0.02


def test_float64_computed_in_float32_is_named_precision_by_diagnose():
    result = diagnose(
        implementation("float64_via_float32", impl("narrow_impls", "float64_via_float32"))
    )
    assert (result.verdict, result.causes) == ("diverges", ["precision"])
    precision = next(r for r in result.results if r.probe.property == "precision")
    assert "float32" in precision.finding


def _random_data(case) -> bool:
    """Random input and weight, and some output to show a difference (no empty batch)."""
    return case.input_shape[0] > 0 and all(
        isinstance(t, TensorSpec) and t.init in ("normal", "uniform")
        for t in (case.input, case.weight)
    )


@pytest.mark.parametrize(
    ("dtype", "narrow"),
    [
        ("float64", "float64_via_float32"),
        ("float32", "tf32_emulated"),
        ("float32", "bfloat16_inputs"),
    ],
)
def test_narrower_arithmetic_is_precision_on_every_registry_case_with_random_data(dtype, narrow):
    cases = [
        c
        for c in load_cases([ROOT / "cases"])
        if c.op == "conv2d" and c.computes and c.dtype == dtype and _random_data(c)
    ]
    assert len(cases) >= (10 if dtype == "float64" else 4)
    func = impl("narrow_impls", narrow)
    for case in cases:
        (row,) = run_case(case, [implementation(narrow, func)], RunOptions(variants=False))
        assert (row.status, row.cause) == ("unexpected_divergence", "precision"), (
            case.id,
            row.message,
        )


@pytest.mark.parametrize(
    ("dtype", "bug", "cause", "shape"),
    [
        ("float64", "bias_twice", "bias", ([1, 3, 6, 6], [2, 3, 3, 3])),
        ("float32", "drop_last_channel", "depth_sum", ([1, 512, 4, 4], [2, 512, 3, 3])),
    ],
)
def test_bugs_are_not_called_precision_even_when_precision_is_a_known_cause(
    dtype, bug, cause, shape
):
    func = impl("buggy_impls", bug)

    def declared(*args, **kwargs):
        return func(*args, **kwargs)

    declared.known_causes = ("precision",)  # as the TF32 peer declares
    raw = {
        "id": "bug",
        "input": {"shape": shape[0], "init": "normal", "seed": 3},
        "weight": {"shape": shape[1], "init": "normal", "seed": 4},
        "bias": {"shape": [shape[1][0]], "init": "normal", "seed": 5, "std": 0.05},
        "padding": 1,
        "dtype": dtype,
    }
    row = rows(raw, [(bug, declared)], variants=False)[bug, "as_is"]
    assert (row.status, row.cause) == ("unexpected_divergence", cause), row.message


def test_a_wrong_golden_output_is_reported_as_such_not_as_precision():
    raw = {"id": "golden", "input": [[1, 2], [3, 4]], "weight": [[1]], "expected": [[1, 2], [3, 5]]}
    found = rows(raw, BUILTINS, variants=False)
    for name in BUILTINS:
        row = found[name, "as_is"]
        assert row.status == "unexpected_divergence"
        assert row.cause == ""
        assert "check the case's `expected`" in row.message


@pytest.mark.parametrize(
    ("raw", "inf_count"),
    [
        (
            {
                "id": "f16",
                "input": [[200.0] * 3] * 3,
                "weight": [[200.0, 200.0], [200.0, 200.0]],
                "dtype": "float16",
            },
            4,
        ),  # 4 * 40000 = 160000 > 65504
        (
            {
                "id": "f32",
                "input": [[2e38, 1.0], [1.0, 1.0]],
                "weight": [[2.0]],
                "dtype": "float32",
            },
            1,
        ),
    ],
)
def test_overflow_of_the_case_dtype_is_agreement(raw, inf_count):
    found = rows(raw, BUILTINS, variants=False)
    x = torch.tensor(np.array(raw["input"], dtype=np.float64)[None, None])
    w = torch.tensor(np.array(raw["weight"], dtype=np.float64)[None, None])
    torch_out = F.conv2d(x.to(getattr(torch, raw["dtype"])), w.to(getattr(torch, raw["dtype"])))
    assert int(torch.isinf(torch_out).sum()) == inf_count  # torch itself overflows
    for name in BUILTINS:
        assert found[name, "as_is"].status == "ok", found[name, "as_is"].message


X_KERNEL = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
NAN_INPUT = [
    [0.5, -1.2, 0.3, 2.0, -0.7, 1.1, 0.0],
    [1.4, 0.1, -0.9, 0.6, 0.2, -1.5, 0.8],
    [-0.3, 0.7, 1.9, -2.1, 0.4, 0.9, -0.6],
    [0.0, 1.3, -0.4, float("nan"), -1.8, 0.3, 1.2],
    [2.2, -0.5, 0.1, -1.0, 0.6, 1.7, -0.2],
    [-1.1, 0.9, 0.4, 1.5, -0.3, -0.8, 0.7],
    [0.6, -1.6, 1.0, 0.2, 1.4, -0.4, -1.3],
]


def test_flip_of_a_symmetric_kernel_on_nan_input_is_invisible():
    raw = {"id": "nan_x", "input": NAN_INPUT, "weight": X_KERNEL, "dilation": 2}
    row = rows(raw, ["torch"])["reference", "flipped"]
    assert (row.expected, row.observed, row.status) == ("agree", "agree", "ok"), row.message


def test_a_declared_divergence_with_a_correct_golden_output_is_ok():
    x = torch.tensor(NAN_INPUT, dtype=torch.float64)[None, None]
    golden = F.conv2d(x, torch.tensor(X_KERNEL, dtype=torch.float64)[None, None], dilation=2)
    raw = {
        "id": "nan_golden",
        "input": NAN_INPUT,
        "weight": X_KERNEL,
        "dilation": 2,
        "expected": golden[0, 0].tolist(),
        "diverges": {"scipy": "nan"},
    }
    found = rows(raw, BUILTINS, variants=False)
    assert found["scipy", "as_is"].status == "ok", found["scipy", "as_is"].message
    assert found["scipy", "as_is"].cause == "nan"
    assert found["torch", "as_is"].status == "ok"
    assert found["reference", "as_is"].status == "ok"


def test_a_mutation_no_input_could_show_is_invisible_not_hidden():
    raw = {
        "id": "centre_tap",
        "input": {"shape": [1, 1, 5, 5], "init": "normal", "seed": 3},
        "weight": [[0, 0, 0], [0, 2, 0], [0, 0, 0]],
        "padding": 1,
        "padding_mode": "reflect",
    }
    row = rows(raw, ["torch"])["reference", "boundary_symmetric"]
    assert (row.expected, row.observed, row.status) == ("agree", "agree", "ok")
    # the same mutation with a kernel that reads the padding is detected
    raw["weight"] = [[1, 0, 0], [0, 2, 0], [0, 0, 0]]
    row = rows(raw, ["torch"])["reference", "boundary_symmetric"]
    assert (row.observed, row.status, row.cause) == ("diverge", "ok", "boundary")


def test_data_that_hides_a_visible_mutation_is_hidden():
    raw = {
        "id": "constant",
        "input": {"shape": [1, 1, 5, 5], "init": "ones"},
        "weight": [[1, 2, 0], [0, 1, 0], [0, 0, 3]],
    }
    row = rows(raw, ["torch"])["reference", "flipped"]
    assert (row.expected, row.observed, row.status) == ("diverge", "agree", "hidden")


def test_a_mutation_impossible_for_the_case_is_a_visible_change_not_a_crash():
    # padding (2, 0) swapped to (0, 2) leaves H = 2 + 0 smaller than the 4-row kernel
    raw = {
        "id": "swap_impossible",
        "input": {"shape": [1, 1, 2, 6], "init": "normal", "seed": 1},
        "weight": {"shape": [1, 1, 4, 1], "init": "normal", "seed": 2},
        "padding": [2, 0],
    }
    found = rows(raw, BUILTINS)
    row = found["reference", "padding_swapped"]
    assert (row.observed, row.status, row.cause) == ("diverge", "ok", "padding")
    assert "impossible" in row.message
    assert all(found[n, "as_is"].status == "ok" for n in BUILTINS)


def test_a_harness_fault_becomes_an_error_row_and_the_run_completes(monkeypatch, write_cases):
    import harness.running.runner

    def broken(*args, **kwargs):
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(harness.running.runner, "explain_divergence", broken)
    raw = dict(LARGE_BIAS)
    found = rows(raw, ["torch", "examples.flipped_kernel:conv2d"], variants=False)
    row = found["examples.flipped_kernel:conv2d", "as_is"]
    assert row.status == "error"
    assert "harness fault" in row.message
    assert "planted" in row.message
    assert found["torch", "as_is"].status == "ok"


def test_run_exits_1_with_a_report_on_a_harness_fault(write_cases, tmp_path):
    import subprocess
    import sys

    path = write_cases("""
        cases:
          - id: asymmetric
            input: {shape: [1, 1, 4, 4], init: normal, seed: 1}
            weight: [[1, 2], [3, 4]]
    """)
    out = tmp_path / "report.csv"
    # in process: the fault is planted in this interpreter (a worker process would not have it)
    script = (
        "import sys, harness.running.runner\n"
        "def planted(*args, **kwargs):\n"
        "    raise RuntimeError('planted fault')\n"
        "harness.running.runner.explain_divergence = planted\n"
        "from harness.cli import main\n"
        f"sys.exit(main(['run', {str(path)!r}, '--impl', 'torch', '--impl',"
        f" 'examples.flipped_kernel:conv2d', '--out', {str(out)!r}, '--in-process']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    report = out.read_text()
    assert "harness fault while explaining the divergence" in report
    assert "planted fault" in report


def _narrow_any_rank(rounding: str):
    """F.conv1d/conv3d (by the input's rank) on float32 copies: float64 via float32, or float32
    with its inputs rounded to bfloat16 first (accumulation in float32)."""

    def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        tensors = [
            None if a is None else torch.from_numpy(np.array(a, np.float32))
            for a in (input, weight, bias)
        ]
        if rounding == "bfloat16":
            tensors = [None if t is None else t.to(torch.bfloat16).float() for t in tensors]
        operation = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[np.ndim(input)]
        out = operation(*tensors, stride=stride, padding=padding, dilation=dilation, groups=groups)
        return out.numpy().astype(np.asarray(input).dtype)

    return conv


@pytest.mark.parametrize(("dtype", "rounding"), [("float64", "float32"), ("float32", "bfloat16")])
def test_narrower_arithmetic_is_precision_on_1d_and_3d_registry_cases(dtype, rounding):
    cases = [
        c
        for c in load_cases([ROOT / "cases"])
        if c.op in ("conv1d", "conv3d") and c.computes and c.dtype == dtype and _random_data(c)
    ]
    assert {c.op for c in cases} == ({"conv1d", "conv3d"} if dtype == "float64" else {"conv3d"})
    func = _narrow_any_rank(rounding)
    for case in cases:  # a plug-in named like the operation (narrow:conv1d) is that operation
        (row,) = run_case(
            case, [implementation(f"narrow:{case.op}", func)], RunOptions(variants=False)
        )
        assert (row.status, row.cause) == ("unexpected_divergence", "precision"), (
            case.id,
            row.message,
        )
