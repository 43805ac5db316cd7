"""The handwritten reference: hand-computed values, the loop form, and torch as a second opinion."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.computations import reference
from harness.computations.implementations import scipy_conv2d, torch_conv2d
from harness.computations.reference_loop import conv2d_loop

SEED_INPUT = np.array(
    [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], float
)[None, None]
X_KERNEL = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], float)[None, None]
ASYMMETRIC = np.array([[1, 2, 0], [0, 1, 0], [0, 0, 3]], float)[None, None]


@pytest.mark.parametrize("form", [reference.conv2d, conv2d_loop])
def test_seed_example(form):
    assert form(SEED_INPUT, X_KERNEL)[0, 0].tolist() == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]


@pytest.mark.parametrize("form", [reference.conv2d, conv2d_loop])
def test_asymmetric_kernel_is_not_flipped(form):
    # cross-correlation, from the catalog: torch gives [[7,7,5],[5,7,4],[3,3,4]]
    assert form(SEED_INPUT, ASYMMETRIC)[0, 0].tolist() == [[7, 7, 5], [5, 7, 4], [3, 3, 4]]


def test_depth_summation_by_hand():
    x = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 2.0), np.full((2, 2), 3.0)])[None]
    w = np.array([[[[1.0]], [[10.0]], [[100.0]]]])  # 1x1 kernel over 3 channels
    out = reference.conv2d(x, w, np.array([0.5]))
    assert out.tolist() == [[[[321.5, 321.5], [321.5, 321.5]]]]


def test_padding_modes_by_hand():
    x = np.array([[1.0, 2.0, 3.0]])[None, None]  # 1x3 row
    w = np.ones((1, 1, 1, 1))
    pad = (0, 0, 2, 2)
    rows = {
        mode: reference.conv2d(x, w, padding=pad, padding_mode=mode)[0, 0, 0].tolist()
        for mode in ("zeros", "reflect", "replicate", "circular")
    }
    assert rows == {
        "zeros": [0, 0, 1, 2, 3, 0, 0],
        "reflect": [3, 2, 1, 2, 3, 2, 1],
        "replicate": [1, 1, 1, 2, 3, 3, 3],
        "circular": [2, 3, 1, 2, 3, 1, 2],
    }


def test_stride_and_dilation_positions_by_hand():
    x = np.arange(49, dtype=float).reshape(1, 1, 7, 7)
    w = np.zeros((1, 1, 2, 2))
    w[0, 0, 1, 1] = 1.0  # picks x[i*s + 1*d, j*s + 1*d]
    out = reference.conv2d(x, w, stride=(2, 3), dilation=(2, 1))
    # rows 0,2,4 (+2), cols 0,3 (+1); output 3x2
    assert out[0, 0].tolist() == [[15, 18], [29, 32], [43, 46]]


def _random_config(rng):
    groups = int(rng.choice([1, 2, 3]))
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    h, w = (int(v) for v in rng.integers(5, 9, 2))
    stride = tuple(int(v) for v in rng.integers(1, 3, 2))
    dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
    pads = tuple(int(v) for v in rng.integers(0, 3, 4))
    mode = str(rng.choice(["zeros", "reflect", "replicate", "circular"]))
    x = rng.standard_normal((2, c_in, h, w))
    weight = rng.standard_normal((c_out, c_in // groups, kh, kw))
    bias = rng.standard_normal(c_out) if rng.random() < 0.5 else None
    return x, weight, bias, stride, pads, dilation, groups, mode


def _torch_padded(x, weight, bias, stride, pads, dilation, groups, mode):
    t = F.pad(
        torch.from_numpy(x),
        (pads[2], pads[3], pads[0], pads[1]),
        mode="constant" if mode == "zeros" else mode,
    )
    b = None if bias is None else torch.from_numpy(bias)
    return F.conv2d(t, torch.from_numpy(weight), b, stride, 0, dilation, groups).numpy()


def test_vectorised_matches_loop_and_torch_on_random_configs():
    rng = np.random.default_rng(2024)
    checked = 0
    for _ in range(60):
        config = _random_config(rng)
        try:
            expected = _torch_padded(*config)
        except RuntimeError:  # e.g. kernel larger than the padded input
            continue
        fast = reference.conv2d(*config)
        loop = conv2d_loop(*config)
        np.testing.assert_allclose(fast, loop, rtol=0, atol=1e-12)
        np.testing.assert_allclose(fast, expected, rtol=0, atol=1e-12)
        checked += 1
    assert checked >= 40


def test_builtins_agree_with_reference_on_same_padding_modes():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 6, 7))
    w = rng.standard_normal((3, 2, 2, 4))
    for mode in ("zeros", "reflect", "replicate", "circular"):
        expected = conv2d_loop(x, w, padding="same", padding_mode=mode)
        for impl in (torch_conv2d, scipy_conv2d):
            got = impl(x, w, padding="same", padding_mode=mode)
            np.testing.assert_allclose(got, expected, atol=1e-12, err_msg=f"{impl.__name__} {mode}")


@pytest.mark.parametrize(
    "setting",
    [
        ("BLOCK_BYTES", 1),  # one output row per block
        ("TAP_COLUMNS", 1),  # one product per tap
        ("TAP_COLUMNS", 10**6),  # every tap in one product (im2col)
        ("DEPTHWISE_BLOCK_BYTES", 1),  # one plane per depthwise block
    ],
)
def test_block_and_product_sizes_do_not_change_the_result(monkeypatch, setting):
    rng = np.random.default_rng(9)
    configs = [
        (
            rng.standard_normal((2, 4, 11, 9)),
            rng.standard_normal((6, 2, 3, 2)),
            dict(stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=2),
        ),
        (
            rng.standard_normal((2, 3, 12, 10)),
            rng.standard_normal((5, 3, 3, 4)),
            dict(stride=(2, 1), padding=(1, 2, 0, 3), dilation=(1, 2), padding_mode="reflect"),
        ),
        (
            rng.standard_normal((3, 5, 9, 8)),
            rng.standard_normal((5, 1, 3, 3)),
            dict(padding=(2, 1), dilation=(1, 2), groups=5, padding_mode="circular"),
        ),
    ]
    monkeypatch.setattr(reference, *setting)
    for x, w, params in configs:
        np.testing.assert_allclose(
            reference.conv2d(x, w, **params),
            conv2d_loop(x, w, **params),
            rtol=0,
            atol=1e-12,
        )


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_depthwise_planes_match_the_loop_whatever_the_threads(monkeypatch, mode):
    """Depthwise stride-1 layers run on blocks of planes over a thread pool: the same bytes with
    one thread or several, and the loop form's numbers, in every padding mode."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 6, 9, 11))
    x[1, 2, 4, 5] = np.nan
    w = rng.standard_normal((6, 1, 3, 2))
    b = rng.standard_normal(6)
    monkeypatch.setattr(reference, "DEPTHWISE_BLOCK_BYTES", 3 * 12 * 14 * 8 * 4)  # 4 planes/block
    results = []
    for threads in ("1", "3"):
        monkeypatch.setenv("OMP_NUM_THREADS", threads)
        results.append(reference.conv2d(x, w, b, 1, (2, 1, 1, 2), (1, 2), 6, mode))
    assert results[0].tobytes() == results[1].tobytes()
    expected = conv2d_loop(x, w, b, 1, (2, 1, 1, 2), (1, 2), 6, mode)
    np.testing.assert_allclose(results[0], expected, rtol=0, atol=1e-12)  # NaN where expected
    assert np.isnan(results[0]).any()


def test_loop_form_pins_the_baseline_on_small_registry_cases():
    from harness.cases import load_cases
    from harness.cases.data import materialize
    from harness.verdicts.baseline import compute_baseline
    from tests.conftest import ROOT

    pinned = 0
    for case in load_cases([ROOT / "cases"]):
        if not case.computes or case.transposed:
            continue
        if math.prod(case.output_shape) * case.reduction_length > 20_000:
            continue
        arrays = materialize(case)
        fast = compute_baseline(case, arrays).exact
        loop = conv2d_loop(
            arrays.input64,
            arrays.weight64,
            arrays.bias64,
            case.stride,
            case.padding,
            case.dilation,
            case.groups,
            case.padding_mode,
        )
        np.testing.assert_allclose(
            fast, loop, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=case.id
        )
        pinned += 1
    assert pinned >= 50
