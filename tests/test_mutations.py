"""Mutations, variant rows, predicates, coverage and explain, against independent numbers."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage, signal

from harness.cases import load_cases
from harness.cases.data import materialize
from harness.explaining.mutations import MUTATIONS, Semantics, mutated_output
from harness.running.runner import run_case
from harness.verdicts.baseline import compute_baseline
from tests.conftest import ROOT, run_cli

SEED_IMAGE = [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]]


def one_case(write_cases, body: str):
    (case,) = load_cases([write_cases("cases:\n  - id: c\n" + body)])
    return case, materialize(case)


def rows_by_variant(case):
    return {r.variant: r for r in run_case(case, [])}


def test_seed_flip_gap_is_zero():
    seed = next(
        c for c in load_cases([ROOT / "cases" / "seed.yaml"]) if c.id == "seed_stats_se_335321"
    )
    flipped = rows_by_variant(seed)["flipped"]
    assert (flipped.implementation, flipped.max_abs_diff) == ("reference", 0.0)
    assert (flipped.expected, flipped.observed, flipped.status) == ("agree", "agree", "ok")


def test_catalog_asymmetric_kernel_flip(write_cases):
    case, arrays = one_case(
        write_cases,
        f"""
    input: {SEED_IMAGE}
    weight: [[1, 2, 0], [0, 1, 0], [0, 0, 3]]
""",
    )
    baseline = compute_baseline(case, arrays).output
    assert baseline[0, 0].tolist() == [[7, 7, 5], [5, 7, 4], [3, 3, 4]]
    assert mutated_output(case, arrays, Semantics(flip=True))[0, 0].tolist() == [
        [5, 7, 7],
        [1, 7, 6],
        [3, 3, 4],
    ]
    row = rows_by_variant(case)["flipped"]
    assert (row.expected, row.observed, row.status, row.cause) == (
        "diverge",
        "diverge",
        "ok",
        "kernel_flip",
    )
    assert row.max_abs_diff == 4.0  # |1 - 5| at (1, 0)


def test_same_extra_top_left_is_what_convolve2d_same_does(write_cases):
    case, arrays = one_case(
        write_cases,
        """
    input: {shape: [1, 1, 4, 4], init: normal, seed: 1}
    weight: {shape: [1, 1, 2, 2], init: normal, seed: 2}
    padding: same
""",
    )
    x, w = arrays.input64[0, 0], arrays.weight64[0, 0]
    scipy_view = signal.convolve2d(x, w[::-1, ::-1], mode="same")
    mutated = mutated_output(case, arrays, Semantics(same_extra_top_left=True))[0, 0]
    np.testing.assert_allclose(mutated, scipy_view, atol=1e-12)
    torch_view = signal.correlate2d(x, w, mode="same")  # torch's side: bottom/right
    np.testing.assert_allclose(compute_baseline(case, arrays).output[0, 0], torch_view, atol=1e-12)


def test_boundary_symmetric_is_ndimage_reflect(write_cases):
    case, arrays = one_case(
        write_cases,
        """
    input: {shape: [1, 1, 6, 7], init: normal, seed: 3}
    weight: {shape: [1, 1, 5, 5], init: normal, seed: 4}
    padding: 2
    padding_mode: reflect
""",
    )
    x, w = arrays.input64[0, 0], arrays.weight64[0, 0]
    expected = ndimage.correlate(x, w, mode="reflect")  # ndimage 'reflect' repeats the edge
    mutated = mutated_output(case, arrays, Semantics(boundary_symmetric=True))[0, 0]
    np.testing.assert_allclose(mutated, expected, atol=1e-12)


def test_stride_phase_is_valid_one_colon_s(write_cases):
    case, arrays = one_case(
        write_cases,
        """
    input: {shape: [1, 1, 9, 9], init: normal, seed: 5}
    weight: {shape: [1, 1, 3, 3], init: normal, seed: 6}
    stride: 2
""",
    )
    valid = signal.correlate2d(arrays.input64[0, 0], arrays.weight64[0, 0], mode="valid")
    mutated = mutated_output(case, arrays, Semantics(stride_phase=1))[0, 0]
    assert mutated.shape == (4, 4)  # the right shape: the last phase-1 row/column reads zeros
    np.testing.assert_allclose(mutated[:3, :3], valid[1::2, 1::2], atol=1e-12)
    np.testing.assert_allclose(
        compute_baseline(case, arrays).output[0, 0], valid[::2, ::2], atol=1e-12
    )


def test_no_dilation_and_groups_interleaved_against_torch(write_cases):
    case, arrays = one_case(
        write_cases,
        """
    input: {shape: [2, 4, 9, 8], init: normal, seed: 7}
    weight: {shape: [8, 2, 3, 2], init: normal, seed: 8}
    bias: {shape: [8], init: normal, seed: 9}
    dilation: [2, 3]
    groups: 2
""",
    )
    x, w, b = (torch.tensor(a) for a in (arrays.input64, arrays.weight64, arrays.bias64))
    undilated = F.conv2d(x, w, b, groups=2).numpy()
    np.testing.assert_allclose(
        mutated_output(case, arrays, Semantics(ignore_dilation=True)), undilated, atol=1e-12
    )
    # o reads group o % 2: outputs 0,2,4,6 from group 0, 1,3,5,7 from group 1
    order = [0, 2, 4, 6, 1, 3, 5, 7]
    permuted = F.conv2d(x, w[order], b[order], dilation=(2, 3), groups=2).numpy()
    inverse = np.argsort(order)
    np.testing.assert_allclose(
        mutated_output(case, arrays, Semantics(groups_interleaved=True)),
        permuted[:, inverse],
        atol=1e-12,
    )


def test_depth_mean_and_no_depth_sum_by_hand(write_cases):
    case, arrays = one_case(
        write_cases,
        """
    input: [[[[1, 1], [1, 1]], [[2, 2], [2, 2]], [[3, 3], [3, 3]]]]
    weight: [[[[1]], [[10]], [[100]]]]
""",
    )
    rows = rows_by_variant(case)
    assert compute_baseline(case, arrays).output.ravel().tolist() == [321.0] * 4
    assert mutated_output(case, arrays, Semantics(depth="mean")).ravel().tolist() == [107.0] * 4
    # the closest single channel is channel 2 (300): the gap depth summation closes is 21
    assert rows["no_depth_sum"].max_abs_diff == 21.0
    assert rows["no_depth_sum"].cause == "depth_sum"


def _random_case_text(rng) -> str:
    groups = int(rng.choice([1, 2]))
    cg = int(rng.integers(1, 3))
    c_out = groups * int(rng.integers(1, 3))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    symmetric = rng.random() < 0.3
    stride = [int(v) for v in rng.integers(1, 3, 2)]
    dilation = [int(v) for v in rng.integers(1, 3, 2)]
    padding = (
        "same"
        if stride == [1, 1] and rng.random() < 0.4
        else [int(v) for v in rng.integers(0, 3, 4)]
    )
    mode = str(rng.choice(["zeros", "reflect", "replicate", "circular"]))
    seed = int(rng.integers(1 << 30))
    weight = np.round(np.random.default_rng(seed).standard_normal((c_out, cg, kh, kw)), 3)
    if symmetric:
        weight = weight + weight[:, :, ::-1, ::-1]
    bias = (
        ""
        if rng.random() < 0.5
        else f"\n    bias: {{shape: [{c_out}], init: normal, seed: {seed}}}"
    )
    weight_text = str(weight.tolist())
    if seed % 3 == 0:  # complex, with a real kernel one time in two (conjugation invisible)
        bias += "\n    dtype: complex128"
        if seed % 2:
            imag = np.round(np.random.default_rng(seed).standard_normal(weight.shape), 3)
            weight_text = str(np.vectorize(lambda r, i: f"{r}{i:+}j")(weight, imag).tolist())
    return f"""
    input: {{shape: [2, {groups * cg}, 8, 9], init: normal, seed: {seed + 1}}}
    weight: {weight_text}
    stride: {stride}
    dilation: {dilation}
    padding: {padding}
    padding_mode: {mode}
    groups: {groups}{bias}
"""


def test_predicates_against_brute_force(tmp_path):
    """Invisible by the predicate <=> the mutated output equals the baseline on random data."""
    rng = np.random.default_rng(11)
    checked = {name: [0, 0] for name in MUTATIONS}  # [invisible, visible]
    for index in range(120):
        path = tmp_path / f"c{index}.yaml"
        path.write_text("cases:\n  - id: c\n" + _random_case_text(rng))
        try:
            (case,) = load_cases([path])
        except Exception:  # a random config torch would reject
            continue
        arrays = materialize(case)
        reference_result = compute_baseline(case, arrays)
        for name, mutation in MUTATIONS.items():
            output = mutated_output(case, arrays, mutation.semantics, reference_result.output)
            same = output.shape == reference_result.output.shape and np.allclose(
                output, reference_result.output, rtol=0, atol=1e-9
            )
            invisible = mutation.invisible(case, arrays)
            assert same == invisible, f"{name} on {case.raw}"
            checked[name][0 if invisible else 1] += 1
    for name, (invisible, visible) in checked.items():
        assert invisible > 0, (name, invisible, visible)
        assert visible > 0, (name, invisible, visible)


def test_builtin_registry_detects_every_mutation_and_seed_alone_warns(tmp_path):
    result = run_cli("coverage")
    assert result.returncode == 0, result.stderr
    for name in MUTATIONS:
        line = next(line for line in result.stdout.splitlines() if line.startswith(name + " "))
        assert int(line.split()[2]) >= 1, line
    seed_only = tmp_path / "seed.yaml"
    seed_only.write_text(
        f"cases:\n  - id: seed\n    input: {SEED_IMAGE}\n    weight: [[1,0,1],[0,1,0],[1,0,1]]\n"
    )
    result = run_cli("coverage", seed_only)
    assert result.returncode == 1
    assert "warning: no case detects flipped" in result.stderr


def test_explain_seed_element():
    result = run_cli("explain", "seed_stats_se_335321", "--at", "0,0,0,0")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "products" in out
    products = out.split("products")[1].splitlines()[1:4]
    grid = [row.split()[-3:] for row in products]
    assert grid == [["1", "0", "1"], ["0", "1", "0"], ["0", "0", "1"]]
    assert "sum of products (channel 0) = 4" in out
    assert "= 4  (+ bias 0 = 4)" in out
    assert "torch F.conv2d (float64): 4" in out


def test_explain_multichannel_sums_match_torch(write_cases):
    path = write_cases("""
        cases:
          - id: multi
            input: {shape: [1, 3, 5, 5], init: integers, seed: 1}
            weight: {shape: [2, 3, 2, 3], init: integers, seed: 2}
            bias: [10, -10]
            padding: 1
    """)
    result = run_cli("explain", "multi", "--cases", path, "--at", "0,1,2,3")
    assert result.returncode == 0, result.stderr
    case = load_cases([path])[0]
    arrays = materialize(case)
    expected = F.conv2d(
        torch.tensor(arrays.input64),
        torch.tensor(arrays.weight64),
        torch.tensor(arrays.bias64),
        padding=1,
    )[0, 1, 2, 3].item()
    assert f"torch F.conv2d (float64): {int(expected)}" in result.stdout
    assert f"plus bias b[1] = -10: {int(expected)}" in result.stdout
    assert result.stdout.count("sum of products (channel") == 3


def test_explain_bad_index_and_unknown_case():
    bad = run_cli("explain", "seed_stats_se_335321", "--at", "0,0,3,0")
    assert bad.returncode == 2
    assert "shape is [1, 1, 3, 3]" in bad.stderr
    unknown = run_cli("explain", "seed_stats_se_33532")
    assert unknown.returncode == 2
    assert "did you mean 'seed_stats_se_335321'" in unknown.stderr


def test_pytest_reports_hidden_rows_with_ra(write_cases):
    path = write_cases("""
        cases:
          - id: constant_hides_flip
            input: {shape: [1, 1, 4, 5], init: ones}
            weight: [[1, 2], [3, 4]]
    """)
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--cases",
            str(path),
            str(ROOT / "tests" / "test_matrix.py"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "HIDDEN constant_hides_flip-reference-flipped" in result.stdout
