"""The backward pass and conv_transpose2d through the harness: rows, variants, diagnosis."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import signal

from harness.cases import case_from_dict, load_cases
from harness.computations.registry import get_implementation, implementation, resolve
from harness.probing.diagnose import diagnose
from harness.running.executor import run_records
from harness.running.runner import RunOptions, run_case
from tests.conftest import ROOT, run_cli

BUGS = ROOT / "tests" / "data" / "backward_bugs.py"
SEED = [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]]
KERNEL = [[1, 2, 0], [0, 1, 0], [0, 0, 3]]
GRAD = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_backward_on_the_registry_every_builtin_row_is_ok():
    cases = load_cases([ROOT / "cases"])
    records = run_records(cases, None, RunOptions(variants=False, backward=True))
    gradients = [r for r in records if r.quantity != "output"]
    assert {r.quantity for r in gradients} == {"grad_input", "grad_weight", "grad_bias"}
    assert {r.dtype for r in gradients} >= {"float64", "float32"}
    bad = [
        (r.case_id, r.implementation, r.quantity, r.message)
        for r in records
        if r.status not in ("ok", "rejected")
    ]
    assert not bad, bad[:3]


def test_the_seed_grad_input_is_the_true_convolution_and_no_flip_is_a_kernel_flip():
    x = torch.tensor(SEED, dtype=torch.float64)[None, None].requires_grad_()
    w = torch.tensor(KERNEL, dtype=torch.float64)[None, None]
    (grad_input,) = torch.autograd.grad(
        F.conv2d(x, w), x, torch.tensor(GRAD, dtype=torch.float64)[None, None]
    )
    assert grad_input[0, 0].tolist() == signal.convolve2d(GRAD, KERNEL, "full").tolist()
    case = case_from_dict({"id": "seed", "input": SEED, "weight": KERNEL, "grad_output": GRAD})
    rows = {
        (r.implementation, r.variant, r.quantity): r
        for r in run_case(
            case, [implementation("torch", get_implementation("torch"))], RunOptions(backward=True)
        )
    }
    assert rows["torch", "as_is", "grad_input"].max_abs_diff == 0.0
    no_flip = rows["reference", "grad_input_no_flip", "grad_input"]
    assert (no_flip.observed, no_flip.status, no_flip.cause) == ("diverge", "ok", "kernel_flip")
    assert no_flip.max_abs_diff == 18.0  # the catalog: correlate2d(g, B, 'full') differs by 18


def test_a_custom_autograd_function_that_forgets_the_flip():
    name = f"{BUGS}:conv2d"
    case = case_from_dict(
        {
            "id": "flip",
            "input": {"shape": [1, 2, 6, 6], "init": "normal", "seed": 1},
            "weight": {"shape": [3, 2, 3, 3], "init": "normal", "seed": 2},
            "bias": [0.5, -1.0, 2.0],
            "padding": 1,
        }
    )
    rows = {
        (r.variant, r.quantity): r
        for r in run_case(case, [resolve(name)], RunOptions(variants=False, backward=True))
    }
    assert rows["as_is", "output"].status == "ok"
    grad_input = rows["as_is", "grad_input"]
    assert (grad_input.status, grad_input.cause) == ("unexpected_divergence", "kernel_flip")
    assert rows["as_is", "grad_weight"].status == "ok"
    assert rows["as_is", "grad_bias"].status == "ok"
    result = diagnose(resolve(name))
    assert (result.verdict, result.causes) == ("diverges", ["kernel_flip"])
    forward = [r for r in result.results if r.quantity == "output"]
    assert {r.status for r in forward} == {"ok"}


def test_a_mean_grad_bias_is_diagnosed_bias():
    name = f"{BUGS}:conv2d_backward"
    result = diagnose(resolve(name))
    assert (result.verdict, result.causes) == ("diverges", ["bias"])
    assert all(r.quantity != "output" for r in result.results)  # only the backward was probed
    cli = run_cli("diagnose", name, "--json")
    assert cli.returncode == 1


def test_transposed_cases_agree_with_torch():
    cases = [c for c in load_cases([ROOT / "cases"]) if c.transposed and c.computes]
    assert len(cases) >= 6
    records = run_records(cases, ["torch", "scipy", "reference"], RunOptions(variants=False))
    assert {r.status for r in records} == {"ok"}
    assert {r.op for r in records} == {"conv_transpose1d", "conv_transpose2d", "conv_transpose3d"}
    for case in cases:
        from harness.cases.data import materialize

        arrays = materialize(case)
        transpose = getattr(F, case.op)  # F.conv_transpose1d / 2d / 3d
        expected = transpose(
            torch.from_numpy(np.array(arrays.input64)),
            torch.from_numpy(np.array(arrays.weight64)),
            None if arrays.bias64 is None else torch.from_numpy(np.array(arrays.bias64)),
            case.stride,
            case.pads[0::2],
            case.output_padding,
            case.groups,
            case.dilation,
        ).numpy()
        row = next(r for r in records if r.case_id == case.id and r.implementation == "reference")
        assert row.output_shape == "x".join(map(str, expected.shape))


def test_a_module_contributes_every_operation_it_defines(tmp_path):
    module = tmp_path / "onlybackward.py"
    module.write_text(
        BUGS.read_text()
        .replace("conv2d.accepts_tensors = True", "")
        .replace("def conv2d(input", "def _unused(input")
    )
    report = tmp_path / "r.csv"
    result = run_cli(
        "run",
        "cases/backward.yaml",
        "--impl",
        str(module),
        "--backward",
        "--no-variants",
        "--out",
        report,
    )
    assert result.returncode == 1, result.stderr
    from harness.reporting.report import read_csv

    frame = read_csv(report)
    mine = frame[frame.implementation == str(module)]
    assert set(mine[mine.quantity == "output"].status) == {"unsupported"}
    bias = mine[mine.quantity == "grad_bias"]
    assert set(bias.cause) == {"bias"}
    assert set(mine[mine.quantity == "grad_input"].status) == {"ok"}


def test_the_pytest_matrix_takes_conv_backward():
    import subprocess
    import sys

    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/test_matrix.py",
        "-q",
        "-p",
        "no:cacheprovider",
        "--conv-backward",
        "--conv-cases",
        "cases/backward.yaml",
    ]
    right = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert right.returncode == 0, right.stdout[-2000:]
    wrong = subprocess.run(
        [*command, "--conv-impl", f"{BUGS}:conv2d", "-rf"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert wrong.returncode == 1
    failed = [line for line in wrong.stdout.splitlines() if line.startswith("FAILED")]
    assert failed
    assert all("-grad_input]" in line for line in failed), failed[:3]
    assert "unexpected_divergence (cause: kernel_flip)" in wrong.stdout


def test_explain_a_gradient_element_shows_the_rotated_kernel():
    result = run_cli(
        "explain", "backward_seed_asymmetric", "--quantity", "grad_input", "--at", "0,0,2,2"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # the catalog's grad_input[2][2] = 33; the kernel [[1,2,0],[0,1,0],[0,0,3]] rotated 180
    assert "torch autograd (float64): 33" in lines
    assert "total (reference, float64): 33" in lines
    header = next(k for k, line in enumerate(lines) if "rotated 180" in line)
    assert lines[header + 1].split()[3:6] == ["3", "0", "0"]
    assert lines[header + 3].split()[3:6] == ["0", "2", "1"]
    bad = run_cli("explain", "backward_seed_asymmetric", "--quantity", "grad_bias")
    assert bad.returncode == 2
    assert "no bias" in bad.stderr


def test_explain_plots_a_gradient(tmp_path):
    import pytest

    pytest.importorskip("matplotlib")
    path = tmp_path / "plots" / "grad_weight.png"
    result = run_cli(
        "explain", "backward_groups", "--quantity", "grad_weight", "--at", "1,0,0,0", "--plot", path
    )
    assert result.returncode == 0, result.stderr
    assert path.stat().st_size > 1000
    assert "greatest |torch - reference|" in result.stdout
