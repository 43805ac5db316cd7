"""Bug families: planted bugs with parameters no example uses are diagnosed with exactly their
cause and the fitted parameter, alone and two at once, on small and large cases; correct
implementations written other ways match; a restricted implementation is still diagnosed."""

from __future__ import annotations

import pytest

from harness.cases import case_from_dict
from harness.computations.registry import get_implementation, implementation, resolve
from harness.probing.diagnose import diagnose
from harness.running.runner import RunOptions, run_case
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data"


def load(module: str, name: str):
    return get_implementation(f"{DATA / module}.py:{name}")


PLANTED = {
    "flipped_along_w": (["kernel_flip"], "flipped along W only"),
    "flipped_along_h": (["kernel_flip"], "flipped along H only"),
    "transposed_kernel": (["kernel_flip"], "transposed"),
    "second_channel_only": (["depth_sum"], "uses only input channel 1"),
    "last_channel_dropped": (["depth_sum"], "input channel"),
    "groups_read_strided_inputs": (["groups"], "reads input channels g, g+groups"),
    "groups_reversed": (["groups"], "groups-1 - o"),
    "same_from_undilated_kernel": (["padding"], "undilated"),
    "padding_all_after": (["padding"], "all after"),
    "padding_one_more": (["padding"], "one more on both sides"),
    "stride_axes_swapped": (["stride"], "stride applied as (3, 2) instead of (2, 3)"),
    "stride_one_more": (["stride"], "stride applied as (3, 4) instead of (2, 3)"),
    "dilation_as_zeros_between_taps": (["dilation"], "taps (3, 4) apart instead of (2, 3)"),
    "dilation_height_only": (["dilation"], "taps (2, 1) apart instead of (2, 3)"),
    "bias_halved": (["bias"], "bias scaled by 0.5"),
    "bias_reversed": (["bias"], "reverse channel order"),
    "boundary_reflect_as_replicate": (["boundary"], "'replicate' instead of 'reflect'"),
    "boundary_circular_as_reflect": (["boundary"], "'reflect' instead of 'circular'"),
    "flipped_along_w_and_bias_twice": (["kernel_flip", "bias"], "bias added twice"),
}


@pytest.mark.parametrize(("name", "expected"), PLANTED.items(), ids=list(PLANTED))
def test_diagnose_names_the_family_and_its_parameter(name, expected):
    causes, words = expected
    result = diagnose(implementation(name, load("family_bugs", name)))
    assert (result.verdict, result.causes) == ("diverges", causes)
    findings = " | ".join(r.finding for r in result.results)
    assert words in findings, findings
    assert result.counterexample is not None


@pytest.mark.parametrize("name", ["float64_via_float32", "tf32_emulated"])
def test_narrower_arithmetic_is_the_precision_family(name):
    result = diagnose(implementation(name, load("narrow_impls", name)))
    assert (result.verdict, result.causes) == ("diverges", ["precision"])


@pytest.mark.parametrize(
    "name",
    ["im2col_gemm", "fft_float64", "tap_loop_reversed", "pairwise_sum", "torch_autograd_function"],
)
def test_correct_implementations_written_other_ways_match(name):
    result = diagnose(implementation(name, load("honest_impls", name)))
    assert (result.verdict, result.causes) == ("matches", []), [
        (r.probe.property, r.finding) for r in result.results if r.status != "ok"
    ]


def test_a_restricted_implementation_is_diagnosed_on_stride_and_dilation():
    result = diagnose(implementation("equal_axes_only", load("family_bugs", "equal_axes_only")))
    statuses = {r.probe.property: r for r in result.results}
    assert statuses["stride"].status == "ok"
    assert "stride 3 on both axes" in statuses["stride"].finding
    assert statuses["dilation"].status == "diverges"
    assert statuses["dilation"].causes == ["dilation"]
    assert "taps (4, 4) apart instead of (3, 3)" in statuses["dilation"].finding
    assert (result.verdict, result.causes) == ("diverges", ["dilation"])


@pytest.mark.parametrize("side", [8, 32])
def test_the_same_bug_is_named_on_a_small_and_a_large_case(side):
    raw = {
        "id": f"side_{side}",
        "dtype": "float32",
        "padding": 1,
        "input": {"shape": [1, 16, side, side], "init": "normal", "seed": 1},
        "weight": {"shape": [16, 16, 3, 3], "init": "normal", "seed": 2},
        "bias": {"shape": [16], "init": "normal", "seed": 3},
    }
    name = "examples.flipped_and_no_bias:conv2d"
    (row,) = run_case(case_from_dict(raw), [resolve(name)], RunOptions(variants=False))
    assert (row.status, row.cause) == ("unexpected_divergence", "kernel_flip+bias")


def test_a_large_grouped_case_names_the_groups_bug():
    raw = {
        "id": "big_groups",
        "padding": 1,
        "groups": 4,
        "input": {"shape": [2, 32, 24, 24], "init": "normal", "seed": 4},
        "weight": {"shape": [32, 8, 3, 3], "init": "normal", "seed": 5},
    }
    func = load("family_bugs", "groups_reversed")
    (row,) = run_case(
        case_from_dict(raw), [implementation("reversed", func)], RunOptions(variants=False)
    )
    assert (row.status, row.cause) == ("unexpected_divergence", "groups")
