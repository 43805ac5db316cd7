"""Metrics and the per-element rounding model, with hand-computed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.verdicts.compare import (
    Arithmetic,
    Magnitudes,
    Tolerance,
    compare,
    describe,
    honest_arithmetic,
    precision_models,
    tolerance,
)

U32, U16, U64, UBF = 2.0**-24, 2.0**-11, 2.0**-53, 2.0**-8


def _magnitudes(exact, term_norm, largest, k):
    return Magnitudes(np.asarray(exact, float), np.asarray(term_norm, float), largest, k)


def test_float32_allowance_by_hand():
    # K = 9: rtol = 4 u32 + 8 u32 sqrt(9) = 28 u32; atol_e = 24 u32 q_e + 8 u32 M + floor
    mags = _magnitudes([[3.0, -1.0]], [[2.0, 0.5]], 10.0, 9)
    tol = tolerance(mags, "float32")
    assert tol.rtol == pytest.approx(28 * U32)
    floor = 2.0**-149 + 9 * 2.0**-149
    assert tol.atol[0, 0] == pytest.approx(24 * U32 * 2.0 + 80 * U32 + floor)
    assert tol.atol[0, 1] == pytest.approx(24 * U32 * 0.5 + 80 * U32 + floor)


def test_half_dtypes_accumulate_in_float32_and_round_once():
    mags = _magnitudes([[1.0]], [[1.0]], 1.0, 576)  # sqrt(576) = 24
    assert tolerance(mags, "float16").rtol == pytest.approx(4 * U16 + 8 * U32 * 24)
    assert tolerance(mags, "bfloat16").rtol == pytest.approx(4 * UBF + 8 * U32 * 24)
    assert honest_arithmetic("float16").accumulation_unit == U32


def test_no_absolute_floor_the_allowance_scales_with_the_data():
    # the same case scaled by 1e-8 gets allowances 1e-8 as large (the old rule had max(1, S))
    big = tolerance(_magnitudes([[2.0]], [[3.0]], 4.0, 18), "float64")
    small = tolerance(_magnitudes([[2e-8]], [[3e-8]], 4e-8, 18), "float64")
    assert small.rtol == big.rtol
    assert small.atol[0, 0] == pytest.approx(big.atol[0, 0] * 1e-8, rel=1e-9)
    assert big.atol[0, 0] < 1e-13


def test_one_large_element_does_not_loosen_another():
    # element 0 is a bias of 1e6 (bias is in y, not in q or M); element 1 is small
    mags = _magnitudes([[1e6, 0.5]], [[1.0, 1.0]], 3.0, 18)
    tol = tolerance(mags, "float32")
    baseline = np.array([[1e6, 0.5]])
    allowed_small = tol.rtol * 0.5 + tol.atol[0, 1]
    assert allowed_small < 1e-4
    assert not compare(np.array([[1e6, 0.5 + 1e-3]]), baseline, tol).agree
    assert compare(np.array([[1e6 + 0.5, 0.5]]), baseline, tol).agree  # within 1e6's rounding


def test_rtol_never_approaches_one():
    # bfloat16 with K = 25088 (VGG fc6 as a conv): a halved output is far outside
    mags = _magnitudes([[100.0]], [[160.0]], 1e4, 25088)
    tol = tolerance(mags, "bfloat16")
    assert tol.rtol < 0.02
    assert not compare(np.array([[50.0]]), np.array([[100.0]]), tol).agree


def test_precision_models_are_one_step_narrower_and_capped():
    names = [m.name for m in precision_models("float64", 288)]
    assert names == ["float32", "float16"]
    assert [m.name for m in precision_models("float32", 4608)] == ["tf32", "bfloat16 inputs"]
    # accumulating bfloat16 over 25088 products is as noisy as a real bug: not rounding-shaped
    assert precision_models("bfloat16", 25088) == ()
    # float16 accumulation: 8 * 2^-11 * sqrt(K) <= 1/8 up to K = 1024
    assert [m.name for m in precision_models("float16", 1024)] == ["float16 accumulation"]
    assert precision_models("float16", 1025) == ()


def test_narrower_model_allows_more():
    mags = _magnitudes([[1.0]], [[1.0]], 1.0, 9)
    honest = tolerance(mags, "float64")
    narrow = tolerance(mags, "float64", Arithmetic("float32", U32, U32, U32))
    assert narrow.rtol > 1e6 * honest.rtol


def _tol(atol, rtol=0.0, dtype="float64", exact=None):
    return Tolerance(rtol, np.asarray(atol, float), dtype, exact)


def test_metrics_by_hand():
    baseline = np.array([[1.0, 2.0], [0.0, -4.0]])
    observed = np.array([[1.0, 2.5], [0.001, -4.0]])
    m = compare(observed, baseline, _tol(0.01))
    assert (m.mismatched, m.total) == (1, 4)
    assert m.max_abs_diff == 0.5
    assert m.worst_index == (0, 1)
    assert m.max_rel_diff == math.inf  # 0.001 against an exact zero
    assert m.allowed_at_worst == pytest.approx(0.01)
    text = describe(m, _tol(0.01))
    assert text.startswith("Mismatched elements: 1 / 4 (25.0%)")
    assert text.index("Greatest absolute") < text.index("Greatest relative")


def test_per_element_atol():
    baseline = np.array([1.0, 1.0])
    tol = _tol([0.1, 0.001])
    assert compare(np.array([1.05, 1.0005]), baseline, tol).agree
    assert compare(np.array([1.0005, 1.05]), baseline, tol).mismatched == 1


def test_passing_message_says_it_passed():
    m = compare(np.array([1.0]), np.array([1.0]), _tol(0.1))
    assert describe(m, _tol(0.1)).startswith("all 1 elements within tolerance")


def test_nan_positions_must_match():
    baseline = np.array([np.nan, 1.0, np.inf, -np.inf])
    same = compare(baseline.copy(), baseline, _tol(1e-9))
    assert same.agree
    spread = compare(np.array([np.nan, np.nan, np.inf, np.inf]), baseline, _tol(1e-9))
    assert (spread.mismatched, spread.nan_mismatches) == (2, 2)


def test_overflow_of_the_case_dtype_is_not_a_mismatch():
    # float16: exact 65519 rounds to 65504, 65520 and above to inf (the threshold is
    # 65504 + half a step of 32); an honest result within the allowance may land either side
    exact = np.array([65519.0, 80000.0])
    baseline = np.array([65504.0, np.inf])
    tol = _tol([4.0, 4.0], dtype="float16", exact=exact)
    assert compare(np.array([np.inf, np.inf]), baseline, tol).agree
    assert compare(np.array([65504.0, np.inf]), baseline, tol).agree
    # but far from the threshold an infinity is a mismatch, and so is a finite 80000 result
    far = _tol([4.0, 4.0], dtype="float16", exact=np.array([60000.0, 80000.0]))
    assert not compare(np.array([np.inf, np.inf]), np.array([60000.0, np.inf]), far).agree
    assert not compare(np.array([60000.0, 65504.0]), np.array([60000.0, np.inf]), far).agree


def test_shape_mismatch_is_a_result_not_an_error():
    m = compare(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), _tol(1.0))
    assert not m.shape_ok
    assert not m.agree
    assert m.max_abs_diff is None
    assert "Shape mismatch" in describe(m, _tol(1.0), (1, 1, 4, 4), (1, 1, 3, 3))
