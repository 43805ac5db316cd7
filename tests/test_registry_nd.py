"""The registry's conv1d and conv3d cases (cases/conv1d.yaml, cases/conv3d.yaml): enough of each
rank, every padding form and mode per rank, the features a rank-generic convolution can get
wrong (stride, dilation, groups, depthwise, bias, dtypes, kernels whose single-axis flips differ,
transposed and backward cases), the `large` case kept out of the default selection, and every
`as_is` row of `run` on the two files ok."""

from __future__ import annotations

import re

import numpy as np
import pytest

from harness.cases import load_cases
from harness.cases.data import materialize
from harness.computations.cost import DEFAULT_MAX_MEMORY, memory_estimate
from harness.reporting.report import read_csv
from harness.running.select import LARGE_TAG, select
from tests.conftest import ROOT, run_cli

CASES = ROOT / "cases"
RANK_FILES = {1: CASES / "conv1d.yaml", 3: CASES / "conv3d.yaml"}
REGISTRY = load_cases([CASES])
MODES = {"zeros", "reflect", "replicate", "circular"}
FORMS = {"int", "per_axis", "before_after", "same_odd", "same_even", "valid"}
DTYPES = {"float64", "float32", "float16", "bfloat16", "complex64", "complex128"}


def of_rank(rank: int, cases=REGISTRY) -> list:
    return [case for case in cases if case.rank == rank]


def padding_form(case) -> str:
    padding = case.raw.get("padding", 0)
    if padding == "same":
        return "same_even" if any(k % 2 == 0 for k in case.kernel) else "same_odd"
    if isinstance(padding, str):
        return padding
    if isinstance(padding, int):
        return "int"
    return "per_axis" if len(padding) == case.rank else "before_after"


@pytest.mark.parametrize("rank", [1, 3])
def test_at_least_30_cases_of_each_new_rank_in_their_own_file(rank):
    cases = of_rank(rank)
    assert len(cases) >= 30
    in_file = load_cases([RANK_FILES[rank]])
    assert len(in_file) >= 30
    assert all(case.rank == rank for case in in_file)
    # readable pytest ids: unique over the registry, and the case id names the rank
    assert all(re.fullmatch(rf"conv(_transpose)?{rank}d_[a-z0-9_]+", c.id) for c in in_file)
    assert len({c.id for c in REGISTRY}) == len(REGISTRY)


@pytest.mark.parametrize("rank", [1, 3])
def test_every_padding_form_and_mode_per_rank(rank):
    forward = [c for c in of_rank(rank) if c.computes and not c.transposed]
    assert {padding_form(c) for c in forward} == FORMS
    assert {c.padding_mode for c in forward} == MODES
    for mode in MODES - {"zeros"}:  # each mode with padding that reaches past one element
        assert any(c.padding_mode == mode and max(c.pads) >= 2 for c in forward), mode
    assert {c.dtype for c in forward} == DTYPES


@pytest.mark.parametrize("rank", [1, 3])
def test_each_rank_covers_the_features(rank):
    cases = [c for c in of_rank(rank) if c.computes]
    forward = [c for c in cases if not c.transposed]
    assert any(max(c.stride) > 1 for c in forward)
    assert any(max(c.dilation) > 1 for c in forward)
    assert any(1 < c.groups < c.input_shape[1] for c in forward)
    assert any(c.groups == c.input_shape[1] > 1 for c in forward)  # depthwise
    assert any(c.bias is not None for c in forward)
    assert any(c.input_shape[0] > 1 for c in forward)  # a batch
    assert any(c.expected is not None for c in forward)  # hand-computed
    transposed = [c for c in cases if c.transposed]
    assert transposed
    assert all(c.op == f"conv_transpose{rank}d" for c in transposed)
    assert any(max(c.output_padding) > 0 for c in transposed)
    assert sum(c.grad_output is not None for c in forward) >= 2
    assert any(c.rejects for c in of_rank(rank))


@pytest.mark.parametrize("rank", [1, 3])
def test_a_flip_along_any_single_axis_changes_some_kernel(rank):
    """For every spatial axis, an integer-valued kernel that differs from its flip along that axis
    alone (so an implementation reversing one axis diverges)."""
    small = [
        c for c in of_rank(rank) if c.computes and not c.transposed and LARGE_TAG not in c.tags
    ]
    for axis in range(rank):
        shown = False
        for case in small:
            weight = materialize(case).weight64
            integer = np.array_equal(weight, np.round(weight))
            if integer and not np.array_equal(weight, np.flip(weight, axis + 2)):
                shown = True
                break
        assert shown, f"no integer kernel of rank {rank} shows a flip of axis {axis}"


def test_the_conv3d_kernels_that_show_one_axis_only():
    by_id = {c.id: c for c in of_rank(3)}
    for axis, name in enumerate(("depth", "height", "width")):
        weight = materialize(by_id[f"conv3d_flip_{name}_only"]).weight64
        changed = [not np.array_equal(weight, np.flip(weight, a + 2)) for a in range(3)]
        assert changed == [a == axis for a in range(3)], name


def test_the_long_signal_and_the_video_layer_are_there_and_small():
    by_id = {c.id: c for c in REGISTRY}
    signal = by_id["conv1d_long_signal_wide_kernel"]
    assert signal.input_shape[2] >= 4096
    assert signal.kernel[0] >= 101
    video = by_id["conv3d_video_layer"]
    assert video.input_shape[1] == 3
    assert min(video.input_shape[2:]) >= 6
    full_height = by_id["conv3d_groups_full_height_kernel"]
    assert full_height.groups > 1
    assert full_height.kernel[1] == full_height.input_shape[3]
    for case in (signal, video, full_height):
        assert memory_estimate(case) < 64 * 2**20


def test_the_large_case_is_tagged_fits_the_memory_guard_and_runs_only_when_named():
    large = [c for c in REGISTRY if LARGE_TAG in c.tags]
    assert [c.id for c in large] == ["conv1d_large_cout_65600"]
    (case,) = large
    assert case.rank == 1
    assert case.output_shape[1] > 65_536
    assert memory_estimate(case) < DEFAULT_MAX_MEMORY
    assert case not in select(REGISTRY, None)
    assert case not in select(REGISTRY, "rank1")
    assert case in select(REGISTRY, "large")
    assert case in select(REGISTRY, "conv1d_large_cout_65600")
    assert case not in select(REGISTRY, "not large")


def test_run_on_the_conv1d_and_conv3d_files_gives_every_as_is_row_ok(tmp_path):
    report = tmp_path / "nd.csv"
    result = run_cli(
        "run",
        RANK_FILES[1],
        RANK_FILES[3],
        "-k",
        "not large",
        "--backward",
        "--out",
        report,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    frame = read_csv(report)
    as_is = frame[frame.variant == "as_is"]
    rejecting = {c.id for c in REGISTRY if c.rejects}
    expected = np.where(as_is.case_id.isin(rejecting), "rejected", "ok")
    assert (as_is.status == expected).all(), as_is[as_is.status != expected].to_string()
    assert set(as_is.op) == {"conv1d", "conv3d", "conv_transpose1d", "conv_transpose3d"}
    assert (frame.status.isin(["ok", "hidden", "rejected"])).all()
