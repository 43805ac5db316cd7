"""The README's 1-D and 3-D worked examples (cases/ranks_seed.yaml): their numbers recomputed here
with plain loops over Python lists, independent of every implementation in the harness."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from harness.cases import load_cases

ROOT = Path(__file__).resolve().parent.parent
CASES = {case.id: case for case in load_cases(ROOT / "cases" / "ranks_seed.yaml")}


def correlate_1d(signal: list, kernel: list) -> list:
    return [
        sum(signal[i + u] * kernel[u] for u in range(len(kernel)))
        for i in range(len(signal) - len(kernel) + 1)
    ]


def correlate_3d(volume: list, kernel: list) -> list:
    kd, kh, kw = len(kernel), len(kernel[0]), len(kernel[0][0])
    dd, hh, ww = len(volume) - kd + 1, len(volume[0]) - kh + 1, len(volume[0][0]) - kw + 1
    out = [[[0] * ww for _ in range(hh)] for _ in range(dd)]
    for d, i, j in itertools.product(range(dd), range(hh), range(ww)):
        out[d][i][j] = sum(
            volume[d + a][i + b][j + c] * kernel[a][b][c]
            for a, b, c in itertools.product(range(kd), range(kh), range(kw))
        )
    return out


def flip(nested: list, axes: set[int], depth: int = 0) -> list:
    if not isinstance(nested, list):
        return nested
    items = [flip(item, axes, depth + 1) for item in nested]
    return items[::-1] if depth in axes else items


def test_1d_example_is_a_depth_sum_of_sliding_dot_products():
    case = CASES["seed_1d_two_channels"]
    (channels,), ((k0, k1),) = case.input, case.weight
    per_channel = [correlate_1d(channels[0], k0), correlate_1d(channels[1], k1)]
    assert per_channel == [[1, -4, -2, -5], [1, 3, 2, 2]]
    total = [a + b for a, b in zip(*per_channel, strict=True)]
    assert [[total]] == case.expected == [[[2, -1, 0, -3]]]
    flipped = [
        a + b
        for a, b in zip(
            correlate_1d(channels[0], k0[::-1]), correlate_1d(channels[1], k1[::-1]), strict=True
        )
    ]
    assert flipped == [1, 0, 5, 2]


@pytest.mark.parametrize(
    ("axes", "expected"),
    [
        (set(), [[3, 7], [7, 2]]),
        ({0}, [[-2, 6], [4, -1]]),  # D only
        ({1, 2}, [[3, 8], [-1, 4]]),  # H and W only
        ({0, 1, 2}, [[2, 3], [2, 1]]),  # every axis: a true convolution
    ],
)
def test_3d_example_and_its_flips(axes, expected):
    case = CASES["seed_3d_depth_asymmetric"]
    volume = case.input[0][0]
    kernel = case.weight[0][0]
    assert correlate_3d(volume, flip(kernel, axes)) == [expected]
    if not axes:
        assert case.expected == [[[expected]]]
