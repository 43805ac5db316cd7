"""`fuzz --op conv|conv_transpose` and `fuzz --backward`: the transposed draws are configurations
torch accepts (checked with torch itself), the forward draws are unchanged, the built-ins show
nothing, a planted transposed-backward bug is found per quantity with its cause, shrunk, saved
with its op, output_padding and grad_output, and reproduced by `run --backward`; `--seconds`
bounds the drawing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings

from harness import fuzz as fuzz_module
from harness.cases import case_from_dict, load_cases, torch_rejection
from harness.cases.data import materialize
from harness.cases.schema import REAL_DTYPES
from harness.computations import gradients
from harness.computations.registry import resolve_implementations
from harness.fuzz import Draws, Signature, fuzz, save_finding, shrink
from harness.reporting.report import read_csv
from harness.running.runner import RunOptions, run_case
from harness.strategies import conv_cases, conv_transpose_cases
from tests.conftest import run_cli
from tests.data import every_operation

PLANTED = "tests/data/transposed_backward_bugs.py"
TRANSPOSES = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _drawn(strategy, count: int) -> list[dict]:
    drawn: list[dict] = []

    @settings(
        max_examples=count,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(raw):
        drawn.append(raw)

    collect()
    return drawn


def test_transposed_draws_are_what_torch_accepts_with_a_grad_output_of_its_output_shape():
    drawn = _drawn(conv_transpose_cases(grad_output=True), 150)
    seen = set()
    for raw in drawn:
        case = case_from_dict(raw)
        assert case.transposed, raw
        assert torch_rejection(case) is None, raw
        arrays = materialize(case)
        x = torch.tensor(np.array(arrays.input64))  # float64, or complex128 for complex cases
        w = torch.tensor(np.array(arrays.weight64))
        padding = raw["padding"]
        output = TRANSPOSES[case.rank](
            x,
            w,
            None,
            raw["stride"],
            padding,
            raw["output_padding"],
            raw["groups"],
            raw["dilation"],
        )  # torch itself: raises for a configuration it refuses
        assert raw["grad_output"]["shape"] == list(output.shape), raw
        assert all(
            op < max(s, d)
            for op, s, d in zip(raw["output_padding"], raw["stride"], raw["dilation"], strict=True)
        )
        seen.update(
            {
                ("rank", case.rank),
                ("dtype", case.dtype),
                ("empty", case.input_shape[0] == 0),
                ("output_padding", any(raw["output_padding"])),
                ("groups", raw["groups"] > 1),
                ("dilation", max(raw["dilation"]) > 1),
                ("padding", type(padding).__name__),
                ("bias", "bias" in raw),
            }
        )
    wanted = {("rank", r) for r in (1, 2, 3)} | {("dtype", d) for d in REAL_DTYPES}
    wanted |= {
        (k, v)
        for k in ("empty", "output_padding", "groups", "dilation", "bias")
        for v in (True, False)
    }
    wanted |= {("padding", "int"), ("padding", "list")}
    assert wanted <= seen, wanted - seen


def test_op_conv_draws_exactly_the_forward_configurations():
    """`--op conv` (the default) draws conv_cases' configurations as before, so a seed's findings
    stay what they were."""
    strategy = conv_cases(ranks=(1, 2, 3), dtypes=REAL_DTYPES, nonfinite=True, case_id="fuzz")
    for chunk in range(2):
        before: list[dict] = []
        after: list[dict] = []
        fuzz_module._run_chunk(strategy, 5 * fuzz_module.SEED_STRIDE + chunk, 20, before.append)
        fuzz_module._run_chunk(
            Draws().strategy(), 5 * fuzz_module.SEED_STRIDE + chunk, 20, after.append
        )
        assert repr(before) == repr(after)  # repr: NaN literals compare equal
        assert all("grad_output" not in raw for raw in after)


def test_signatures_name_the_quantity_of_a_gradient_only():
    forward = Signature("mod:f", "as_is", "unexpected_divergence", "kernel_flip", "conv2d")
    assert forward.words() == "conv2d mod:f / as_is: unexpected_divergence [kernel_flip]"
    gradient = Signature(
        "mod:f", "as_is", "unexpected_divergence", "precision", "conv_transpose1d", "grad_weight"
    )
    assert gradient.words() == (
        "conv_transpose1d grad_weight mod:f / as_is: unexpected_divergence [precision]"
    )
    assert gradient != Signature(
        "mod:f", "as_is", "unexpected_divergence", "precision", "conv_transpose1d", "grad_input"
    )


def test_transposed_backward_fuzz_on_the_builtins_finds_nothing(tmp_path):
    result = run_cli(
        "fuzz",
        "--op",
        "conv_transpose",
        "--backward",
        "--count",
        "300",
        "--seed",
        "1",
        "--save",
        tmp_path / "found",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("300 configurations in "), result.stdout
    assert "; 0 distinct findings" in result.stdout.splitlines()[0]
    assert not (tmp_path / "found").exists()


def _finding_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("  ") and " on " in line]


def test_a_float32_transposed_backward_is_found_per_quantity_shrunk_saved_and_reproduced(
    tmp_path,
):
    """The planted bug (gradients computed in float32) at every rank, drawn as the acceptance
    command draws: findings in grad_input and grad_weight, cause precision; one shrunk and saved
    with its grad_output and output_padding reproduces in run_case with the message its
    description quotes."""
    names = [f"{PLANTED}:float32_conv_transpose{rank}d_backward" for rank in (1, 2, 3)]
    implementations = resolve_implementations(names)
    result = fuzz(implementations, count=300, seed=1, op="conv_transpose", backward=True)
    found = {(f.signature.op, f.signature.quantity, f.signature.cause): f for f in result.findings}
    for rank, quantity in itertools.product((1, 2, 3), ("grad_input", "grad_weight")):
        finding = found[(f"conv_transpose{rank}d", quantity, "precision")]
        assert finding.signature.implementation == names[rank - 1]
        assert finding.signature.status == "unexpected_divergence"
    # torch's float32 kernels, which the bug calls, also spread a NaN input differently
    for f in result.findings:
        assert f.signature.cause == "nan" or "precision" in f.signature.cause.split("+"), f
    assert all(f.signature.quantity != "output" for f in result.findings)
    finding = found[("conv_transpose3d", "grad_input", "precision")]
    finding.smallest = shrink(finding, implementations, 1)
    (case,) = load_cases([save_finding(finding, tmp_path, 1, 0)])
    assert case.op == "conv_transpose3d"
    assert case.dtype == "float64"
    assert {"fuzz", "conv_transpose3d", "grad_input", "precision"} <= set(case.tags)
    assert "grad_input" in case.id
    assert case.grad_output is not None
    assert len(case.output_padding) == 3
    assert np.prod(case.input_shape) <= np.prod(case_from_dict(finding.first).input_shape)
    rows = run_case(case, implementations, RunOptions(backward=True))
    (row,) = [r for r in rows if r.implementation == names[2] and r.quantity == "grad_input"]
    assert (row.status, row.cause) == ("unexpected_divergence", "precision")
    assert row.message[:300] in case.description  # the shrunk case's message, as rerun


@pytest.mark.slow
def test_the_acceptance_command_finds_the_planted_bug_and_run_reproduces_it(tmp_path):
    """The acceptance command with the planted bug: findings in grad_input and grad_weight at
    every rank, cause precision, each saved shrunk; `run --backward` on a saved case shows the
    same row, whose message the description quotes."""
    impls = [f"{PLANTED}:float32_conv_transpose{rank}d_backward" for rank in (1, 2, 3)]
    found = tmp_path / "found"
    result = run_cli(
        "fuzz",
        "--op",
        "conv_transpose",
        "--backward",
        "--count",
        "300",
        "--seed",
        "1",
        "--save",
        found,
        *itertools.chain.from_iterable(("--impl", impl) for impl in impls),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = _finding_lines(result.stdout)
    for rank, quantity in itertools.product((1, 2, 3), ("grad_input", "grad_weight")):
        prefix = f"  conv_transpose{rank}d {quantity} {impls[rank - 1]} / as_is: "
        assert any(
            line.startswith(prefix + "unexpected_divergence [precision]") for line in lines
        ), (prefix, result.stdout)
    assert all("precision]" in line or "[nan]" in line for line in lines), result.stdout
    chosen = next(
        line
        for line in lines
        if line.startswith("  conv_transpose2d grad_weight") and "[precision]" in line
    )
    path = chosen.split(" -> ")[1]
    (case,) = load_cases([path])
    assert case.op == "conv_transpose2d"
    assert {"fuzz", "conv_transpose2d", "grad_weight", "precision"} <= set(case.tags)
    assert case.grad_output is not None
    assert case.dtype == "float64"
    assert len(case.output_padding) == 2
    report = tmp_path / "again.csv"
    rerun = run_cli("run", path, "--backward", "--impl", impls[1], "--out", report)
    assert rerun.returncode == 1, rerun.stdout + rerun.stderr
    frame = read_csv(report)
    (row,) = frame[
        (frame.implementation == impls[1]) & (frame.quantity == "grad_weight")
    ].itertuples()
    assert (row.status, row.cause) == ("unexpected_divergence", "precision")
    assert row.message[:200] in case.description  # the shrunk case's own message


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_transposed_backward_bugs_get_their_family_causes(rank, tmp_path):
    flipped = f"{PLANTED}:flipped_weight_conv_transpose{rank}d_backward"
    undilated = f"{PLANTED}:undilated_input_conv_transpose{rank}d_backward"
    implementations = resolve_implementations([flipped, undilated])
    seed = 11
    result = fuzz(
        implementations,
        count=120,
        seed=seed,
        ranks=(rank,),
        op="conv_transpose",
        backward=True,
        variants=False,
    )
    # the cause most configurations show (data can alias: a one-tap impulse kernel moved by the
    # dilation reads like a shift); a NaN input spread differently is another finding
    commonest: dict = {}
    for f in sorted(result.findings, key=lambda f: f.count):
        if f.signature.cause != "nan":
            commonest[(f.signature.implementation, f.signature.quantity)] = f
    causes = {key: f.signature.cause for key, f in commonest.items()}
    assert causes == {
        (flipped, "grad_weight"): "kernel_flip",
        (undilated, "grad_input"): "dilation",
    }
    finding = commonest[(flipped, "grad_weight")]
    finding.smallest = shrink(finding, implementations, seed, variants=False)
    (case,) = load_cases([save_finding(finding, tmp_path, seed, 0)])
    rows = run_case(case, implementations, RunOptions(variants=False, backward=True))
    (row,) = [r for r in rows if r.implementation == flipped and r.quantity == "grad_weight"]
    assert (row.status, row.cause) == ("unexpected_divergence", "kernel_flip")


def test_seconds_bound_the_drawing(monkeypatch):
    """A clock that moves one second per reading: `seconds=5` stops after a handful of
    configurations, however many `count` allows."""
    ticks = itertools.count()
    monkeypatch.setattr(fuzz_module.time, "monotonic", lambda: float(next(ticks)))
    result = fuzz(
        resolve_implementations(["reference"]),
        count=200,
        seconds=5,
        op="conv_transpose",
        backward=True,
    )
    assert 1 <= result.configurations < 5, result.configurations


def test_usage_errors_and_help_name_the_new_options():
    bad = run_cli("fuzz", "--op", "conv_transposed", "--count", "5")
    assert bad.returncode == 2
    assert "invalid choice" in bad.stderr
    help_text = run_cli("fuzz", "--help").stdout
    assert "--op {conv,conv_transpose}" in help_text
    assert "--backward" in help_text
    with pytest.raises(ValueError, match="conv_transpose"):
        Draws(op="deconv").strategy()


# What the transposed fuzzer found in the harness and the built-ins (each once a failing row).
def _transposed(**fields) -> dict:
    raw = {
        "id": "found_by_fuzz",
        "op": "conv_transpose1d",
        "stride": 1,
        "padding": 0,
        "dilation": 1,
        "groups": 1,
        "dtype": "float64",
        "grad_output": {"shape": [1, 1, 1], "init": "normal", "seed": 3},
    }
    raw.update(fields)
    return raw


def _rows(raw: dict) -> list:
    case = case_from_dict(raw)
    return run_case(case, resolve_implementations(None), RunOptions(backward=True))


def test_a_case_whose_output_would_be_empty_without_its_output_padding_runs():
    """Output length (6-1) - 2*3 + 0 + 1 + 1 = 1 with output_padding 1, 0 without it: the
    `output_padding_ignored` variant has nothing to show (it used to end the whole case in a
    harness fault)."""
    raw = _transposed(
        input={"shape": [1, 1, 6], "init": "normal", "seed": 0},
        weight={"shape": [1, 1, 1], "init": "normal", "seed": 0},
        padding=3,
        output_padding=1,
        dilation=2,
    )
    x, w = torch.ones(1, 1, 6), torch.ones(1, 1, 1)
    assert F.conv_transpose1d(x, w, None, 1, 3, 1, 1, 2).shape == (1, 1, 1)
    with pytest.raises(RuntimeError):  # torch itself: no output without the output_padding
        F.conv_transpose1d(x, w, None, 1, 3, 0, 1, 2)
    rows = _rows(raw)
    assert all("harness fault" not in r.message for r in rows)
    assert {r.status for r in rows if r.variant == "as_is"} == {"ok"}
    (ignored,) = [r for r in rows if r.variant == "output_padding_ignored"]
    assert ignored.status == "ok"
    assert "invisible here" in ignored.message


def test_nan_spread_alone_in_a_transposed_output_or_gradient_is_the_documented_nan():
    """A NaN input and a dilated 2-tap kernel: torch's middle output is 0 * nothing, the scipy leg
    spreads 0 * NaN there. With padding, torch's grad_weight of a transposed convolution keeps
    NaN to the tap that reads it in float32 and spreads it to both taps in float64 (as the exact
    gradients do). Both are cause `nan`, declared by those legs: ok rows."""
    spread = _transposed(
        input=[[[float("nan")]]],
        weight={"shape": [1, 1, 2], "init": "normal", "seed": 0},
        dilation=2,
        grad_output={"shape": [1, 1, 3], "init": "normal", "seed": 3},
    )
    middle = F.conv_transpose1d(torch.tensor([[[float("nan")]]]), torch.ones(1, 1, 2), dilation=2)
    assert torch.isnan(middle[0, 0, [0, 2]]).all()
    assert middle[0, 0, 1] == 0
    rows = _rows(spread)
    (scipy_output,) = [r for r in rows if r.implementation == "scipy" and r.quantity == "output"]
    assert (scipy_output.status, scipy_output.cause) == ("ok", "nan")

    nan_first = [[[[[float("nan"), -0.13]]]], [[[[0.64, 0.10]]]]]
    padded = _transposed(
        op="conv_transpose3d",
        input=nan_first,
        weight={"shape": [1, 1, 1, 1, 2], "init": "normal", "seed": 0},
        padding=[0, 0, 1],
        grad_output={"shape": [2, 1, 1, 1, 1], "init": "normal", "seed": 0},
    )
    w = torch.ones(1, 1, 1, 1, 2, dtype=torch.float64, requires_grad=True)
    y = F.conv_transpose3d(torch.tensor(nan_first, dtype=torch.float64), w, padding=(0, 0, 1))
    (taps,) = torch.autograd.grad(y.sum(), w)
    # tap 0 reads only the finite x[..., 1] (x[..., 0] meets the padding): torch spreads NaN there
    assert torch.isnan(taps.ravel()).all()
    rows = _rows(padded)
    (torch_weight,) = [
        r for r in rows if r.implementation == "torch" and r.quantity == "grad_weight"
    ]
    assert (torch_weight.status, torch_weight.cause) == ("ok", "nan")
    assert all(r.status == "ok" for r in rows if r.variant == "as_is")


def test_transposed_grad_weight_keeps_nan_to_the_products_that_read_it():
    """The exact gradients against a term-by-term sum written for the tests
    (tests.data.every_operation): an input NaN reaches only the taps whose products read a real
    grad_output element, in every rank, with stride, padding and groups."""
    rng = np.random.default_rng(4)
    for rank in (1, 2, 3):
        x = rng.standard_normal((2, 4, *(3,) * rank))
        x.reshape(-1)[[0, 7]] = [np.nan, np.inf]
        w = rng.standard_normal((4, 3, *(2,) * rank))
        arguments = ((2,) * rank, (1,) * rank, (1,) * rank, 2, (1,) * rank)
        stride, padding, output_padding, groups, dilation = arguments
        size = [(n - 1) * 2 - 2 + 1 + 1 + 1 for n in x.shape[2:]]
        gy = rng.standard_normal((2, 6, *size))
        _, grad_weight, _ = gradients.conv_transpose_backward(gy, x, w, None, *arguments)
        _, expected, _ = every_operation.conv_transpose_backward(
            gy, x, w, None, stride, padding, output_padding, groups, dilation
        )
        assert np.isnan(expected).any()
        assert np.isfinite(expected).any()
        np.testing.assert_array_equal(np.isnan(grad_weight), np.isnan(expected))
        finite = np.isfinite(expected)
        np.testing.assert_allclose(grad_weight[finite], expected[finite], rtol=1e-12, atol=1e-12)


WRONG_SHAPE = "tests.data.every_op_wrong_shape"


@pytest.mark.parametrize("batch", [0, 2])
def test_a_padded_gradient_of_the_wrong_shape_is_not_folded_into_the_right_one(batch):
    """reflect padding: the harness pads first and folds the returned gradient of the padded
    input back; one a element short must stay short (a shape divergence), not be folded."""
    raw = {
        "id": "wrong_padded_gradient",
        "op": "conv1d",
        "input": {"shape": [batch, 1, 4], "init": "normal", "seed": 1},
        "weight": {"shape": [1, 1, 2], "init": "normal", "seed": 2},
        "padding": 1,
        "padding_mode": "reflect",
        "dtype": "float64",
    }
    rows = run_case(
        case_from_dict(raw), resolve_implementations([WRONG_SHAPE]), RunOptions(backward=True)
    )
    (row,) = [r for r in rows if r.quantity == "grad_input" and r.implementation == WRONG_SHAPE]
    assert row.status == "unexpected_divergence", row.message
    assert row.output_shape != row.baseline_shape


def test_an_output_of_the_shape_output_padding_ignored_gives_is_no_harness_fault():
    """conv_transpose1d of one element, dilation 2, output_padding 1: length 2; a result one
    short has the shape the `output_padding_ignored` variant has (comparing it with the
    baseline's tolerance used to raise): a divergence of that shape, `padding` where a family
    names it (output_padding ignored gives it) or else `shape`."""
    raw = _transposed(
        input={"shape": [1, 1, 1], "init": "normal", "seed": 0},
        weight={"shape": [1, 1, 1], "init": "normal", "seed": 0},
        output_padding=1,
        dilation=2,
        grad_output={"shape": [1, 1, 2], "init": "normal", "seed": 3},
    )
    assert (
        F.conv_transpose1d(torch.ones(1, 1, 1), torch.ones(1, 1, 1), None, 1, 0, 1, 1, 2).shape[-1]
        == 2
    )
    rows = run_case(
        case_from_dict(raw), resolve_implementations([WRONG_SHAPE]), RunOptions(backward=True)
    )
    assert all("harness fault" not in r.message for r in rows)
    (row,) = [r for r in rows if r.quantity == "output" and r.variant == "as_is"]
    assert row.status == "unexpected_divergence"
    assert row.cause in ("shape", "padding")
