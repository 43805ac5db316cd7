"""`coverage` by family member and rank: a case that detects the 180-degree flip may miss a flip
along W only; the expected detections are computed here with torch on flipped kernels."""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F

from harness.cases import load_cases
from harness.cases.data import materialize
from harness.reporting.coverage import member_coverage, member_lines
from tests.conftest import run_cli

# W-symmetric kernels: each row reads the same reversed, the rows (and depth slices) do not
REGISTRY = """
cases:
  - id: line
    op: conv1d
    input: {shape: [1, 2, 9], init: integers, seed: 1}
    weight: [[[1, 2, 0], [0, -1, 3]]]
  - id: plane
    input: {shape: [1, 1, 6, 7], init: integers, seed: 2}
    weight: [[[[1, 2, 1], [0, 0, 0], [-1, -3, -1]]]]
  - id: volume
    op: conv3d
    input: {shape: [1, 1, 4, 5, 5], init: integers, seed: 3}
    weight: [[[[[1, 2, 1], [0, 4, 0]], [[-2, 0, -2], [3, 3, 3]]]]]
"""
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def flip_detected(case, axes: tuple[int, ...]) -> bool:
    """Whether flipping the kernel along these spatial axes changes the case's output (torch)."""
    arrays = materialize(case)
    x, w = (torch.from_numpy(np.array(a)) for a in (arrays.input64, arrays.weight64))
    conv = CONV[case.rank]
    flipped = torch.flip(w, [2 + a for a in axes])
    return not torch.allclose(conv(x, flipped), conv(x, w), rtol=0, atol=1e-9)


def test_a_case_detecting_the_180_degree_flip_can_miss_the_flip_along_w(write_cases):
    path = write_cases(REGISTRY)
    cases = {c.id: c for c in load_cases([path])}
    table = {(e.rank, e.name): e for e in member_coverage(list(cases.values()))}
    names = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
    for case in cases.values():
        rank = case.rank
        for size in range(1, rank + 1):
            for axes in itertools.combinations(range(rank), size):
                name = (
                    "flipped"
                    if size == rank
                    else f"flipped[{','.join(names[rank][a] for a in axes)}]"
                )
                expected = [case.id] if flip_detected(case, axes) else []
                assert table[(rank, name)].detecting == expected, (rank, name)
    # the registry as built: the 180-degree flip is caught at every rank, W alone never
    assert table[(2, "flipped")].detecting == ["plane"]
    assert table[(2, "flipped[W]")].detecting == []
    assert table[(2, "flipped[H]")].detecting == ["plane"]
    assert table[(3, "flipped[W]")].detecting == []
    assert table[(3, "flipped[D,H]")].detecting == ["volume"]
    _, gaps = member_lines(list(table.values()))
    flips = [g for g in gaps if "flipped" in g]
    assert flips == [
        "no conv2d case detects flipped[W] (kernel flipped along W only; cause kernel_flip); "
        "add a conv2d case where it shows",
        "no conv3d case detects flipped[W] (kernel flipped along W only; cause kernel_flip); "
        "add a conv3d case where it shows",
    ]


def test_the_cli_lists_members_by_rank_and_warns_only_when_asked(write_cases):
    path = write_cases(REGISTRY)
    plain = run_cli("coverage", path)
    rows = {
        tuple(line.split()[:2]): line.split()[3]
        for line in plain.stdout.splitlines()
        if line[:4].strip() in ("1", "2", "3")
    }
    assert rows[("2", "flipped")] == "1"
    assert rows[("2", "flipped[W]")] == "0"
    assert rows[("3", "flipped[W]")] == "0"
    assert rows[("1", "flipped")] == "1"
    # the mutation table still says the 180-degree flip is detected
    flipped = next(line for line in plain.stdout.splitlines() if line.startswith("flipped "))
    assert flipped.split()[2] == "3"
    assert "note: no conv2d case detects flipped[W]" in plain.stderr
    assert "warning: no conv2d case detects flipped[W]" not in plain.stderr
    strict = run_cli("coverage", path, "--strict-members")
    assert strict.returncode == 1
    assert "warning: no conv2d case detects flipped[W]" in strict.stderr
    assert "warning: no conv3d case detects flipped[W]" in strict.stderr


def test_a_per_axis_member_is_the_mutation_on_that_axis_alone(write_cases):
    """stride_phase[W] on a case strided along H only changes nothing; along W it does, as a
    sampling phase computed here by hand (the dense output sampled from 1 on)."""
    path = write_cases("""
        cases:
          - id: strided_h
            input: {shape: [1, 1, 7, 7], init: integers, seed: 4}
            weight: {shape: [1, 1, 2, 2], init: integers, seed: 5}
            stride: [2, 1]
          - id: strided_w
            input: {shape: [1, 1, 7, 7], init: integers, seed: 6}
            weight: {shape: [1, 1, 2, 2], init: integers, seed: 7}
            stride: [1, 2]
    """)
    cases = load_cases([path])
    table = {e.name: e for e in member_coverage(cases) if e.rank == 2}
    assert table["stride_phase[H]"].detecting == ["strided_h"]
    assert table["stride_phase[W]"].detecting == ["strided_w"]
    arrays = materialize(cases[1])
    x, w = (torch.from_numpy(np.array(a)) for a in (arrays.input64, arrays.weight64))
    dense = F.conv2d(F.pad(x, (0, 1)), w)  # zeros read past the end on W
    phased = dense[..., 1::2]
    assert not np.allclose(phased.numpy(), F.conv2d(x, w, stride=(1, 2)).numpy())


def test_group_mappings_are_members_of_their_own(write_cases):
    """One output per group: reading group o % groups is reading group o // 1 (invisible), and
    with one channel per group interleaved inputs are the blocks; a reversed mapping shows.
    Expected from torch on the input's channel blocks reordered by hand."""
    path = write_cases("""
        cases:
          - id: two_groups
            input: {shape: [1, 2, 5, 5], init: integers, seed: 8}
            weight: {shape: [2, 1, 3, 3], init: integers, seed: 9}
            groups: 2
          - id: wide_groups
            input: {shape: [1, 4, 5, 5], init: integers, seed: 10}
            weight: {shape: [4, 2, 3, 3], init: integers, seed: 11}
            groups: 2
    """)
    cases = load_cases([path])
    table = {e.name: e for e in member_coverage(cases) if e.rank == 2}
    expected: dict[str, list[str]] = {"reversed": [], "interleaved_inputs": []}
    for case in cases:
        arrays = materialize(case)
        x, w = (torch.from_numpy(np.array(a)) for a in (arrays.input64, arrays.weight64))
        plain = F.conv2d(x, w, groups=2)
        cg = x.shape[1] // 2
        orders = {
            "reversed": [*range(cg, 2 * cg), *range(cg)],
            "interleaved_inputs": [c * 2 + g for g in range(2) for c in range(cg)],
        }
        for name, order in orders.items():
            if not torch.allclose(F.conv2d(x[:, order], w, groups=2), plain, rtol=0, atol=1e-9):
                expected[name].append(case.id)
    assert expected == {
        "reversed": ["two_groups", "wide_groups"],
        "interleaved_inputs": ["wide_groups"],
    }
    assert table["groups_reversed"].detecting == expected["reversed"]
    assert table["groups_interleaved_inputs"].detecting == expected["interleaved_inputs"]
    assert table["groups_interleaved"].detecting == ["wide_groups"]
