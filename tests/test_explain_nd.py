"""`explain` at ranks 1 and 3: the text's numbers against sums written out by hand (plain loops
over the taps), the --at index of the case's rank, --quantity, and --plot for 1-D and 3-D."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from harness.cases import load_cases
from harness.cases.data import materialize
from tests.conftest import ROOT, run_cli

RANKS_SEED = ROOT / "cases" / "ranks_seed.yaml"

GENERAL_1D = """
cases:
  - id: general_1d
    op: conv1d
    input: {shape: [2, 4, 11], init: integers, seed: 5}
    weight: {shape: [6, 2, 3], init: integers, seed: 6}
    bias: [1, -2, 3, -4, 5, -6]
    stride: 2
    padding: 2
    dilation: 2
    groups: 2
"""

GENERAL_3D = """
cases:
  - id: general_3d
    op: conv3d
    input: {shape: [1, 4, 5, 6, 5], init: integers, seed: 7}
    weight: {shape: [4, 2, 2, 3, 2], init: integers, seed: 8}
    bias: [2, -3, 5, 7]
    stride: [1, 2, 1]
    padding: [1, 0, 2]
    dilation: [2, 1, 1]
    groups: 2
"""


def by_hand(case, at, weight=None) -> float:
    """out[at] as the sum over input channels and kernel taps of input times weight, zero
    padding, with plain loops."""
    arrays = materialize(case)
    x, b = arrays.input64, arrays.bias64
    w = arrays.weight64 if weight is None else weight
    n, o, *position = at
    c_out, cg, *kernel = w.shape
    group = o // (c_out // case.groups)
    total = 0.0
    for c in range(cg):
        for tap in itertools.product(*(range(k) for k in kernel)):
            index = [
                p * s + t * d - before
                for p, s, t, d, before in zip(
                    position, case.stride, tap, case.dilation, case.pads[0::2], strict=True
                )
            ]
            if all(0 <= i < size for i, size in zip(index, x.shape[2:], strict=True)):
                total += x[(n, group * cg + c, *index)] * w[(o, c, *tap)]
    return total + (0.0 if b is None else b[o])


def explain(*args) -> list[str]:
    result = run_cli("explain", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_1d_seed_element_by_hand():
    lines = explain("seed_1d_two_channels", "--at", "0,0,1")
    # channel 0: [2, 0, 3] . [1, 0, -2] = -4; channel 1: [1, 1, 0] . [2, 1, 0] = 3
    assert "output element out[n=0, o=0, i=1] of an output of shape [1, 1, 4]" in lines
    assert "receptive field: input positions 1..3 (negative or past the edge = padding)" in lines
    header = lines.index(next(line for line in lines if line.startswith("input channel 0 field")))
    assert lines[header + 1].split() == ["2", "0", "3", "1", "0", "-2", "2", "0", "-6"]
    assert "  sum of products (channel 0) = -4" in lines
    assert "  sum of products (channel 1) = 3" in lines
    assert "depth sum over 2 channels: -4 + 3 = -1" in lines
    assert "torch F.conv1d (float64): -1" in lines
    # the reversed kernels: [2, 0, 3] . [-2, 0, 1] + [1, 1, 0] . [0, 1, 2] = -1 + 1 = 0
    assert "flipped kernel (true convolution, as numpy.convolve): 0 (differs)" in lines


def test_3d_seed_element_by_hand_and_each_single_axis_flip():
    (case,) = [c for c in load_cases([RANKS_SEED]) if c.id == "seed_3d_depth_asymmetric"]
    at = (0, 0, 0, 0, 0)
    lines = explain(case.id, "--at", "0,0,0,0,0")
    assert "receptive field: input depths 0..1, rows 0..1, columns 0..1" in " ".join(lines)
    # depth slice 0: [[1, 2], [0, 1]] . [[1, 0], [0, 2]] = 3
    # depth slice 1: [[0, 1], [1, 0]] . [[0, -1], [1, 0]] = 0
    assert "  sum of depth slice 0 = 3" in lines
    assert "  sum of depth slice 1 = 0" in lines
    assert "  sum of products (channel 0) = 3 (the sum of its 2 depth slices)" in lines
    assert "torch F.conv3d (float64): 3" in lines
    w = materialize(case).weight64
    expected = {
        "flipped kernel (true convolution, as scipy.signal.convolve)": by_hand(
            case, at, np.flip(w, (2, 3, 4))
        ),
        "kernel flipped along D only": by_hand(case, at, np.flip(w, 2)),
        "kernel flipped along H only": by_hand(case, at, np.flip(w, 3)),
        "kernel flipped along W only": by_hand(case, at, np.flip(w, 4)),
    }
    assert expected["kernel flipped along D only"] == -2  # the case's description
    for words, value in expected.items():
        assert f"{words}: {int(value)} (differs)" in lines


@pytest.mark.parametrize(
    ("text", "case_id", "at", "field"),
    [
        (GENERAL_1D, "general_1d", (1, 4, 3), "input positions 4..8 step 2"),
        (GENERAL_3D, "general_3d", (0, 3, 2, 1, 3), "input depths 1..3 step 2, rows 2..4"),
    ],
)
def test_general_elements_match_loops_and_torch(write_cases, text, case_id, at, field):
    path = write_cases(text)
    (case,) = load_cases([path])
    lines = explain(case_id, "--cases", path, "--at", ",".join(map(str, at)))
    total = by_hand(case, at)
    o = at[1]
    bias = int(materialize(case).bias64[o])
    assert f"plus bias b[{o}] = {bias}: {int(total)}" in lines
    assert f"torch F.conv{case.rank}d (float64): {int(total)}" in lines
    assert any(line.startswith(f"receptive field: {field}") for line in lines), lines[:5]
    assert f"output channel {o} is in group 1: it reads input channels 2..3" in " ".join(lines)
    assert sum(line.startswith("  sum of products (channel") for line in lines) == 2


@pytest.mark.parametrize(
    ("case_id", "at", "words"),
    [
        ("seed_1d_two_channels", "0,0,0,0", "shape is [1, 1, 4] (n,o,i)"),
        ("seed_1d_two_channels", "0,0,4", "shape is [1, 1, 4] (n,o,i)"),
        ("seed_3d_depth_asymmetric", "0,0,0,0", "shape is [1, 1, 1, 2, 2] (n,o,i,j,k)"),
        ("seed_3d_depth_asymmetric", "0,0,a,0,0", "expected five integers n,o,i,j,k"),
    ],
)
def test_at_takes_an_index_of_the_cases_rank(case_id, at, words):
    result = run_cli("explain", case_id, "--at", at)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert words in result.stderr


@pytest.mark.parametrize(
    ("case_id", "quantity", "at"),
    [
        ("seed_1d_two_channels", "grad_input", "0,1,2"),
        ("seed_1d_two_channels", "grad_weight", "0,1,2"),
        ("seed_3d_depth_asymmetric", "grad_input", "0,0,1,1,1"),
        ("seed_3d_depth_asymmetric", "grad_weight", "0,0,1,0,1"),
    ],
)
def test_gradient_elements_of_every_rank_agree_with_autograd(case_id, quantity, at):
    lines = explain(case_id, "--quantity", quantity, "--at", at)
    total = next(line for line in lines if line.startswith("total (reference, float64): "))
    torch_line = next(line for line in lines if line.startswith("torch autograd (float64): "))
    assert total.split(": ")[1] == torch_line.split(": ")[1]
    by_hand_line = next(
        line
        for line in lines
        if line.startswith(("sum over output channels", "sum over the batch"))
    )
    assert by_hand_line.split(": ")[1].split()[0] == total.split(": ")[1]


@pytest.mark.parametrize(
    ("case_id", "versus", "where"),
    [
        ("seed_1d_two_channels", "flipped", "i="),
        ("seed_1d_two_channels", "tests.data.rank_bugs.stride_phase", "i="),
        ("seed_3d_depth_asymmetric", "flipped", "k="),
        ("seed_3d_depth_asymmetric", "tests.data.rank_bugs.flipped_d", "k="),
    ],
)
def test_plot_draws_1d_lines_and_3d_depth_slices(tmp_path, case_id, versus, where):
    pytest.importorskip("matplotlib")
    png = tmp_path / "plot.png"
    result = run_cli("explain", case_id, "--plot", png, "--versus", versus)
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot written to {png}: worst |difference|" in result.stdout
    assert where in result.stdout.splitlines()[-1]


def test_plot_figures_have_lines_in_1d_and_a_row_of_slices_per_map_in_3d(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from harness.reporting.explain import plot_comparison

    cases = {c.id: c for c in load_cases([RANKS_SEED])}
    closed = []
    monkeypatch.setattr(plt, "close", closed.append)
    plot_comparison(cases["seed_1d_two_channels"], (0, 0, 0), "flipped", str(tmp_path / "a.png"))
    plot_comparison(
        cases["seed_3d_depth_asymmetric"], (0, 0, 0, 0, 0), "flipped", str(tmp_path / "b.png")
    )
    lines_figure, slices_figure = closed
    assert not any(axis.images for axis in lines_figure.axes)
    assert sum(len(axis.lines) for axis in lines_figure.axes) >= 3
    heatmaps = [axis for axis in slices_figure.axes if axis.images]
    assert len(heatmaps) == 3  # one depth slice per map: baseline, flipped, difference
    for figure in closed:
        figure.clf()
