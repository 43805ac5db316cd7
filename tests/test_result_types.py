"""Results of any float-like type are read the same way, and one output contract gives one verdict
in `run` and in `diagnose`.

The implementations here compute with torch in float64 (independent of the harness's reference)
and hand the same values back in different containers.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.cases import load_cases
from harness.cases.data import materialize
from harness.computations.calling import call_implementation, output_contract
from harness.computations.registry import implementation
from harness.probing.diagnose import diagnose, human_lines
from harness.running.runner import RunOptions, run_case

CASES = """
defaults:
  input: {shape: [2, 3, 6, 5], init: normal, seed: 11}
  weight: {shape: [4, 3, 3, 2], init: normal, seed: 12}
  bias: {shape: [4], init: normal, seed: 13}
  padding: 1
cases:
  - {id: kinds_float64, dtype: float64}
  - {id: kinds_float32, dtype: float32}
  - {id: kinds_float16, dtype: float16}
  - {id: kinds_bfloat16, dtype: bfloat16}
"""
DTYPES = ("float64", "float32", "float16", "bfloat16")


@pytest.fixture
def cases(write_cases):
    return {case.dtype: case for case in load_cases([write_cases(CASES)])}


def exact(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> torch.Tensor:
    """torch's conv2d in float64 on the given values."""

    def t(a):
        return None if a is None else torch.from_numpy(np.array(a, dtype=np.float64))

    with warnings.catch_warnings():  # 'same' with an even kernel pads a copy: fine here
        warnings.simplefilter("ignore", UserWarning)
        return F.conv2d(t(input), t(weight), t(bias), stride, padding, dilation, groups)


def bf16_values(*args, **kwargs) -> torch.Tensor:
    """The exact result rounded to bfloat16 (through float32, as the harness rounds inputs)."""
    return exact(*args, **kwargs).float().bfloat16()


def as_ml_dtypes_bf16(*args, **kwargs):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    return bf16_values(*args, **kwargs).float().numpy().astype(ml_dtypes.bfloat16)


def as_torch_bf16_with_grad(*args, **kwargs):
    leaf = bf16_values(*args, **kwargs).requires_grad_()
    return leaf * 1  # attached to an autograd graph


def as_float32_holding_bf16(*args, **kwargs):
    return bf16_values(*args, **kwargs).float().numpy()


def as_jax_bf16(*args, **kwargs):
    jnp = pytest.importorskip("jax.numpy")
    return jnp.asarray(as_float32_holding_bf16(*args, **kwargs), dtype=jnp.bfloat16)


def as_list(*args, **kwargs):
    return exact(*args, **kwargs).tolist()


def always_float32(*args, **kwargs):
    return exact(*args, **kwargs).float().numpy()


def _row(record) -> dict:
    row = record.as_row()
    del row["implementation"]
    return row


@pytest.mark.parametrize(
    "make",
    [as_ml_dtypes_bf16, as_torch_bf16_with_grad, as_jax_bf16],
    ids=["ml_dtypes", "torch", "jax"],
)
def test_bfloat16_results_read_as_their_float32_values(cases, make):
    case = cases["bfloat16"]
    arrays = materialize(case)
    (as_f32,) = run_case(
        case, [implementation("f32", as_float32_holding_bf16)], RunOptions(variants=False)
    )
    (other,) = run_case(case, [implementation("other", make)], RunOptions(variants=False))
    assert as_f32.status == "ok", as_f32.message
    assert _row(other) == _row(as_f32)
    # the values compared are the bfloat16 ones, converted exactly
    values = bf16_values(arrays.input, arrays.weight, arrays.bias, padding=1).double().numpy()
    outcome = call_implementation(make, case, arrays)
    assert outcome.contract == ""
    np.testing.assert_array_equal(outcome.output, values)
    truth = exact(arrays.input64, arrays.weight64, arrays.bias64, padding=1)
    # the baseline is the exact result rounded to bfloat16; torch rounds its float32 sum once
    rounded_truth = truth.float().bfloat16().double().numpy()
    assert other.max_abs_diff == pytest.approx(np.abs(values - rounded_truth).max(), abs=1e-12)
    # bfloat16 rounding shows against the unrounded truth: the values were not widened
    assert np.abs(values - truth.numpy()).max() > 1e-3


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_list_is_read_in_the_case_dtype(cases, dtype):
    case = cases[dtype]
    arrays = materialize(case)
    outcome = call_implementation(as_list, case, arrays)
    assert (outcome.status, outcome.contract) == (None, "")
    value = exact(arrays.input, arrays.weight, arrays.bias, padding=1)
    rounded = (
        {
            "float64": value,
            "float32": value.float(),
            "float16": value.half(),
            "bfloat16": value.float().bfloat16(),
        }[dtype]
        .double()
        .numpy()
    )
    np.testing.assert_array_equal(outcome.output, rounded)
    (record,) = run_case(case, [implementation("list", as_list)], RunOptions(variants=False))
    assert record.status == "ok", record.message


def test_a_list_matches_in_diagnose():
    result = diagnose(implementation("as_list", as_list))
    assert (result.verdict, result.causes) == ("matches", [])


def test_float32_for_float64_is_an_error_in_run_and_in_diagnose(cases):
    options = RunOptions(variants=False)
    (wrong,) = run_case(cases["float64"], [implementation("f32", always_float32)], options)
    assert wrong.status == "error"
    assert "returned float32 for float64 inputs" in wrong.message
    (right,) = run_case(cases["float32"], [implementation("f32", always_float32)], options)
    assert right.status == "ok", right.message

    result = diagnose(implementation("always_float32", always_float32))
    assert result.verdict == "error"
    statuses = {r.probe.property: r.status for r in result.results}
    assert statuses.pop("float32") == "ok"
    assert statuses.pop("bfloat16") == "ok"  # bfloat16 cases hand over and take back float32
    assert statuses.pop("complex") == "unsupported"  # an optional probe: real results there
    assert set(statuses.values()) == {"error"}
    for r in result.results:
        if r.status == "error":
            given = r.case.dtype
            assert f"returned float32 for {given} inputs" in r.message
            assert f"returned float32 for {given} inputs" in r.finding
    assert "breaks conv2d's output contract" in human_lines(result)[0]


@pytest.mark.parametrize(
    ("result_dtype", "case_dtype", "holds"),
    [
        (None, "float16", True),
        ("float64", "float64", True),
        ("float32", "float64", False),
        ("float64", "float32", False),
        ("float16", "float16", True),
        ("float32", "bfloat16", True),
        ("bfloat16", "bfloat16", True),
        ("bfloat16", "float32", False),
        ("float16", "bfloat16", False),
        ("int64", "float64", False),
    ],
)
def test_output_contract(result_dtype, case_dtype, holds):
    message = output_contract(result_dtype, case_dtype)
    assert (message == "") == holds
    if not holds:
        assert message.startswith(f"returned {result_dtype} for {case_dtype} inputs")


def _returning(value):
    def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        return value() if callable(value) else value

    return conv2d


@pytest.mark.parametrize(
    ("value", "status", "words"),
    [
        ({"out": 1}, "error", "returned dict, not an array"),
        (None, "error", "returned NoneType, not an array"),
        ("text", "error", "returned str, not an array"),
        ([["a", "b"]], "error", "not real numbers"),
        (
            np.ones((2, 4, 6, 6), dtype=np.complex128),
            "error",
            "returned an array of dtype complex128, not real numbers",
        ),
        (
            lambda: torch.ones(2, 4, 6, 6, dtype=torch.complex64).conj(),
            "error",
            "returned an array of dtype complex64, not real numbers",
        ),
        ([[1.0, 2.0], [3.0]], "error", "result could not be read as an array"),
        (
            lambda: torch.ones(2, 4, 6, 6, dtype=torch.int32),
            "error",
            "returned int32 for float32 inputs",
        ),
        (2.5, "unexpected_divergence", "Shape mismatch"),
        (np.float32(2.5), "unexpected_divergence", "Shape mismatch"),
    ],
    ids=[
        "dict",
        "none",
        "text",
        "strings",
        "complex",
        "torch_complex",
        "ragged",
        "int_tensor",
        "python_scalar",
        "numpy_scalar",
    ],
)
def test_other_results_are_one_line_rows(cases, value, status, words):
    (record,) = run_case(
        cases["float32"], [implementation("odd", _returning(value))], RunOptions(variants=False)
    )
    assert record.status == status
    assert words in record.message
    assert "\n" not in record.message


def test_torch_tensors_of_the_case_dtype_with_grad(cases):
    for dtype, torch_dtype in (("float16", torch.float16), ("float64", torch.float64)):

        def conv2d(
            input,
            weight,
            bias=None,
            stride=1,
            padding=0,
            dilation=1,
            groups=1,
            torch_dtype=torch_dtype,
        ):
            value = exact(input, weight, bias, stride, padding, dilation, groups)
            return value.to(torch_dtype).requires_grad_()

        (record,) = run_case(
            cases[dtype], [implementation("t", conv2d)], RunOptions(variants=False)
        )
        assert record.status == "ok", record.message
