"""Complex64/complex128 cases: torch's plain sum of products in every leg, the `conjugated`
variant and cause `conjugation`, its diagnosis, the tolerance in moduli, the literal form and
explain, checked against hand-worked numbers and plain Python complex arithmetic."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from harness.cases import case_from_dict, load_cases
from harness.computations.registry import implementation, resolve, resolve_implementations
from harness.probing.diagnose import diagnose
from harness.reporting.explain import explain_lines
from harness.running.runner import RunOptions, run_case
from harness.verdicts.compare import Magnitudes, compare, tolerance
from tests.conftest import ROOT, run_cli

BUILTINS = resolve_implementations(None)
HAND_2X2 = {
    "id": "hand",
    "dtype": "complex128",
    "input": [["1+2j", "3-1j"], ["-2j", "2+1j"]],
    "weight": [["1j", "2"], ["1-1j", "-1"]],
}


def _python_window(x, w, conjugate=False):
    """One window's sum of products in plain Python complex arithmetic."""
    return sum(
        xv * (wv.conjugate() if conjugate else wv)
        for xr, wr in zip(x, w, strict=True)
        for xv, wv in zip(xr, wr, strict=True)
    )


def test_the_hand_worked_2x2_window_through_every_leg_and_the_conjugated_variant():
    # by hand: (1+2j)(1j) + (3-1j)(2) + (-2j)(1-1j) + (2+1j)(-1)
    #        = (-2+1j) + (6-2j) + (-2-2j) + (-2-1j) = -4j
    x = [[1 + 2j, 3 - 1j], [-2j, 2 + 1j]]
    w = [[1j, 2], [1 - 1j, -1]]
    assert _python_window(x, w) == -4j
    assert _python_window(x, w, conjugate=True) == 8 - 6j == np.vdot(w, x)
    rows = {
        r.implementation + "/" + r.variant: r
        for r in run_case(case_from_dict(HAND_2X2), BUILTINS, RunOptions())
    }
    for leg in ("torch/as_is", "scipy/as_is", "reference/as_is"):
        assert rows[leg].status == "ok", rows[leg].message
        assert rows[leg].max_abs_diff == 0.0
    conjugated = rows["reference/conjugated"]
    assert (conjugated.status, conjugated.observed, conjugated.cause) == (
        "ok",
        "diverge",
        "conjugation",
    )
    assert conjugated.max_abs_diff == pytest.approx(abs((8 - 6j) - (-4j)))  # |8-2j|


def test_torch_and_correlate2d_differ_until_the_kernel_is_conjugated():
    """The README's numbers: scipy's correlate2d conjugates its second argument, torch does not."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 8)) + 1j * rng.standard_normal((8, 8))
    w = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    torch_out = F.conv2d(torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None])[0, 0]
    plain = scipy.signal.correlate2d(x, w, "valid")
    fixed = scipy.signal.correlate2d(x, np.conj(w), "valid")
    assert np.abs(torch_out.numpy() - plain).max() > 1.0
    assert np.abs(torch_out.numpy() - fixed).max() < 1e-13


def test_complex_registry_cases_agree_and_the_conjugated_row_shows_unless_the_kernel_is_real():
    cases = load_cases([ROOT / "cases" / "complex.yaml"])
    assert len(cases) >= 15
    for case in cases:
        rows = run_case(case, BUILTINS, RunOptions())
        for row in rows:
            assert row.status == "ok", (case.id, row.implementation, row.variant, row.message)
        (conjugated,) = [r for r in rows if r.variant == "conjugated"]
        weight = np.asarray(case_arrays(case).weight64)
        visible = bool(np.any(weight.imag))
        assert (conjugated.observed == "diverge") == visible, case.id
        if visible:
            assert conjugated.cause == "conjugation"


def case_arrays(case):
    from harness.cases.data import materialize

    return materialize(case)


def test_real_cases_have_no_conjugated_row():
    case = case_from_dict(
        {
            "id": "r",
            "input": {"shape": [1, 1, 5, 5], "init": "normal", "seed": 1},
            "weight": {"shape": [1, 1, 3, 3], "init": "normal", "seed": 2},
        }
    )
    assert "conjugated" not in {r.variant for r in run_case(case, BUILTINS, RunOptions())}


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_a_conjugating_implementation_is_diagnosed_conjugation(rank):
    name = f"tests.data.complex_bugs:conjugated_conv{rank}d"
    result = diagnose(resolve(name))
    assert (result.verdict, result.causes) == ("diverges", ["conjugation"])
    (probe,) = [r for r in result.results if r.probe.property == "complex"]
    assert probe.causes == ["conjugation"]
    assert {r.status for r in result.results if r.probe.property != "complex"} == {"ok"}


@pytest.mark.parametrize(
    ("function", "words"),
    [
        ("vdot_patch_first_conv2d", "conjugates the complex input"),
        ("conjugated_output_conv2d", "conjugates input and kernel"),
    ],
)
def test_conjugating_the_input_or_both_is_named_conjugation_too(function, words):
    name = f"tests.data.complex_bugs:{function}"
    result = diagnose(resolve(name))
    assert (result.verdict, result.causes) == ("diverges", ["conjugation"])
    (probe,) = [r for r in result.results if r.probe.property == "complex"]
    assert probe.finding.startswith(words), probe.finding


def test_a_conjugating_implementation_is_named_in_run_rows():
    cases = load_cases([ROOT / "cases" / "complex.yaml"])
    impl = resolve_implementations(["tests.data.complex_bugs"])
    for case in cases:
        rows = [r for r in run_case(case, impl, RunOptions(variants=False))]
        kernel_is_real = not np.any(case_arrays(case).weight64.imag)
        for row in rows:
            if kernel_is_real:
                assert row.status == "ok", (case.id, row.message)
            else:
                assert (row.status, row.cause) == ("unexpected_divergence", "conjugation"), case.id


def test_a_complex128_conv_computed_in_complex64_is_flagged_precision():
    case = load_cases([ROOT / "cases" / "complex.yaml"])
    (wide,) = [c for c in case if c.id == "complex128_multichannel_bias"]
    impl = resolve_implementations(["tests.data.complex_bugs:complex64_inside_conv2d"])
    (row,) = run_case(wide, impl, RunOptions(variants=False))
    assert (row.status, row.cause) == ("unexpected_divergence", "precision"), row.message


def test_differences_are_complex_moduli():
    baseline = np.array([1 + 1j, 2 - 2j])
    observed = np.array([1 + 1j, 5 + 2j])  # off by 3+4j: modulus 5
    magnitudes = Magnitudes(baseline, np.ones(2), 1.0, 1)
    metrics = compare(observed, baseline, tolerance(magnitudes, "complex128"))
    assert metrics.max_abs_diff == 5.0
    assert metrics.mismatched == 1
    assert metrics.worst_index == (1,)
    assert metrics.max_rel_diff == pytest.approx(5.0 / abs(2 - 2j))


def test_complex_literals_in_a_real_case_or_malformed_are_one_line_errors(tmp_path):
    real = tmp_path / "real.yaml"
    real.write_text("cases:\n  - id: c\n    input: [[1, '2j']]\n    weight: [[1]]\n")
    result = run_cli("run", real, "--out", tmp_path / "r.csv")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "c" in result.stderr
    assert "input" in result.stderr
    assert "complex" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "cases:\n  - id: c\n    dtype: complex128\n    input: [[1, 'two']]\n    weight: [[1]]\n"
    )
    result = run_cli("run", bad, "--out", tmp_path / "r.csv")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "'two'" in result.stderr


def test_explain_shows_the_sum_of_products_next_to_the_hermitian_dot_product():
    lines = explain_lines(case_from_dict(HAND_2X2), (0, 0, 0, 0))
    text = "\n".join(lines)
    assert "sum of products (channel 0) = -4j" in text
    assert "np.vdot(kernel, field)" in text
    assert "= 8-6j" in text
    assert "torch F.conv2d (complex128): -4j" in text


def test_fuzz_draws_complex_only_when_asked_and_finds_the_conjugation():
    from harness.fuzz import fuzz

    impl = resolve_implementations(["tests.data.complex_bugs"])
    found = fuzz(impl, count=30, seed=1, variants=False, ranks=(2,), dtypes=("complex128",))
    assert {f.signature.cause for f in found.findings} == {"conjugation"}
    real = fuzz(impl, count=30, seed=1, variants=False, ranks=(2,))
    assert real.findings == []  # the bug needs a complex kernel


def test_peers_with_complex_convolution_join_and_the_others_are_unsupported():
    from harness.computations.devices import ImplementationUnavailable

    case = case_from_dict({**HAND_2X2, "id": "hand_peers"})
    for name, wanted in (("jax", "ok"), ("scipy_ndimage", "ok"), ("opencv", "unsupported")):
        try:
            impl = resolve_implementations([name])
        except ImplementationUnavailable:
            continue  # the peer's package is not installed here
        (row,) = run_case(case, impl, RunOptions(variants=False))
        assert row.status == wanted, (name, row.message)


def test_an_empty_complex_batch_is_ok_everywhere_and_hides_every_variant():
    case = case_from_dict(
        {
            "id": "empty_complex",
            "dtype": "complex64",
            "input": {"shape": [0, 2, 6, 6], "init": "normal", "seed": 1},
            "weight": {"shape": [3, 2, 3, 3], "init": "normal", "seed": 2},
            "bias": {"shape": [3], "init": "normal", "seed": 3},
        }
    )
    rows = run_case(case, BUILTINS, RunOptions(backward=True))
    assert {r.status for r in rows} == {"ok"}, [r.message for r in rows if r.status != "ok"]
    assert {r.output_shape for r in rows if r.variant == "as_is" and r.quantity == "output"} == {
        "0x3x4x4"
    }
    (conjugated,) = [r for r in rows if r.variant == "conjugated"]
    assert conjugated.expected == "agree"


@pytest.mark.parametrize("quantity", ["grad_input", "grad_weight"])
def test_explain_of_a_complex_gradient_conjugates_and_its_sum_is_torchs(quantity):
    from harness.reporting.explain_backward import explain_gradient_lines

    (case,) = [c for c in load_cases([ROOT / "cases" / "complex.yaml"]) if c.id == "complex_groups"]
    lines = explain_gradient_lines(case, quantity, (0, 1, 1, 2))
    text = "\n".join(lines)
    assert "conj" in text
    reference = next(line for line in lines if line.startswith("total (reference, complex128)"))
    autograd = next(line for line in lines if line.startswith("torch autograd (complex128)"))
    summed = next(
        line
        for line in lines
        if line.startswith(("sum over output channels", "sum over the batch"))
    )
    value = reference.split(": ", 1)[1]
    assert complex(value) != complex(value).real  # a complex value, printed whole
    assert value == autograd.split(": ", 1)[1]
    assert summed.split(": ", 1)[1].split(" (")[0] == value


def _raises_on_complex(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if np.iscomplexobj(input):
        raise TypeError("only real arrays")
    return F.conv2d(torch.from_numpy(input), torch.from_numpy(weight)).numpy()


def _returns_float64(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x, w = (torch.from_numpy(np.real(a).astype(np.float64)) for a in (input, weight))
    return F.conv2d(x, w).numpy()


@pytest.mark.parametrize(
    ("impl", "words"),
    [
        (("raises", _raises_on_complex), "it raised TypeError: only real arrays"),
        (("float64", _returns_float64), "it returned float64 values"),
        (None, "every imaginary part it returned is 0"),  # examples.flipped_kernel, real-only
    ],
)
def test_real_only_code_is_unsupported_on_complex_cases_not_failing(impl, words):
    implementations = (
        [implementation(*impl)] if impl else resolve_implementations(["examples.flipped_kernel"])
    )
    case = case_from_dict({**HAND_2X2, "id": "hand_real_only"})
    with warnings.catch_warnings():  # the example drops the imaginary parts, with a warning
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        (row,) = run_case(case, implementations, RunOptions(variants=False))
    assert (row.status, row.cause) == ("unsupported", ""), row.message
    assert row.message.startswith("complex numbers not supported (complex128 inputs): " + words)


def test_a_complex_result_of_the_wrong_precision_stays_an_error():
    def complex64_result(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        out = F.conv2d(torch.from_numpy(input), torch.from_numpy(weight)).numpy()
        return out.astype(np.complex64)

    case = case_from_dict({**HAND_2X2, "id": "hand_c64_result"})
    (row,) = run_case(case, [implementation("c64", complex64_result)], RunOptions(variants=False))
    assert row.status == "error"
    assert "returned complex64 for complex128 inputs" in row.message
