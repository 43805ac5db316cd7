"""Metrics and the tolerance rule, with hand-computed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.compare import BASE_TOLERANCES, compare, describe, growth, tolerances


def test_single_channel_3x3_keeps_torch_testing_defaults():
    # torch.testing defaults: float32 rtol 1.3e-6, atol 1e-5; float64 1e-7 / 1e-7
    assert tolerances("float32", 9, magnitude=0.5) == (1e-5, 1.3e-6)
    assert tolerances("float64", 9, magnitude=1.0) == (1e-7, 1e-7)
    assert BASE_TOLERANCES["float16"] == (1e-3, 1e-5)


def test_tolerances_grow_with_reduction_length_and_magnitude():
    # K = 64 * 3 * 3 = 576 -> g = sqrt(576 / 9) = 8; S = 370 -> atol = 1e-5 * 370
    atol, rtol = tolerances("float32", 576, magnitude=370.0)
    assert rtol == pytest.approx(1.3e-6 * 8)
    assert atol == pytest.approx(3.7e-3)
    assert growth(1) == 1.0 and growth(4) == 1.0
    assert growth(4608) == pytest.approx(math.sqrt(512))


def test_float16_accumulation_error_exceeds_float32_tolerance():
    # catalog: fp16 vs f64 on C_in=64, 3x3 random data differs by ~9.6e-4 of max|ref|;
    # for random normal data S is about 5x max|ref| at K=576: atol = 1e-5*S = 5e-5*max|ref|
    max_ref = 70.0
    atol, rtol = tolerances("float32", 576, magnitude=5 * max_ref)
    assert 9.6e-4 * max_ref > atol + rtol * max_ref


def test_metrics_by_hand():
    baseline = np.array([[1.0, 2.0], [0.0, -4.0]])
    observed = np.array([[1.0, 2.5], [0.001, -4.0]])
    m = compare(observed, baseline, atol=0.01, rtol=0.0)
    assert (m.mismatched, m.total) == (1, 4)
    assert m.max_abs_diff == 0.5 and m.worst_index == (0, 1)
    assert m.max_rel_diff == math.inf  # 0.001 against an exact zero
    text = describe(m, 0.01, 0.0)
    assert text.startswith("Mismatched elements: 1 / 4 (25.0%)")
    assert text.index("Greatest absolute") < text.index("Greatest relative")


def test_nan_positions_must_match():
    baseline = np.array([np.nan, 1.0, np.inf, -np.inf])
    same = compare(baseline.copy(), baseline, atol=1e-9, rtol=0)
    assert same.agree
    spread = compare(np.array([np.nan, np.nan, np.inf, np.inf]), baseline, atol=1e-9, rtol=0)
    assert (spread.mismatched, spread.nan_mismatches) == (2, 2)


def test_shape_mismatch_is_a_result_not_an_error():
    m = compare(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), atol=1, rtol=1)
    assert not m.shape_ok and not m.agree and m.max_abs_diff is None
    assert "Shape mismatch" in describe(m, 1, 1, (1, 1, 4, 4), (1, 1, 3, 3))
