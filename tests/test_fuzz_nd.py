"""conv_cases and the fuzzer at every spatial rank: drawn conv1d/conv2d/conv3d configurations
validate (also written to a case file and read back) and run through the built-ins without a
fault; the fuzzer finds a bug planted in one rank of a plug-in, names the operation, and shrinks
it into a case file of that rank that reproduces it."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import HealthCheck, given, settings

from harness.cases import case_from_dict, load_cases, torch_rejection
from harness.cases.case import op_rank
from harness.cases.yaml_io import dump_yaml
from harness.computations.registry import resolve_implementations
from harness.fuzz import fuzz, save_finding, shrink, summary_lines
from harness.running.runner import RunOptions, run_case
from harness.strategies import conv1d_cases, conv2d_cases, conv3d_cases, conv_cases

BUILTINS = resolve_implementations(None)
SETTINGS = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _drawn(strategy, count: int) -> list[dict]:
    drawn: list[dict] = []

    @settings(SETTINGS, max_examples=count)
    @given(strategy)
    def collect(raw):
        drawn.append(raw)

    collect()
    return drawn


@pytest.mark.parametrize(
    ("strategy", "rank"), [(conv1d_cases, 1), (conv2d_cases, 2), (conv3d_cases, 3)]
)
def test_one_rank_strategies_draw_that_rank_only(strategy, rank):
    drawn = _drawn(strategy(nonfinite=True), 40)
    for raw in drawn:
        case = case_from_dict(raw)
        assert (case.rank, case.op) == (rank, f"conv{rank}d")
        assert len(case.input_shape) == rank + 2
        assert torch_rejection(case) is None, raw


def _padding_form(raw: dict) -> str:
    padding, rank = raw["padding"], op_rank(raw["op"])
    if isinstance(padding, str):
        return padding
    if isinstance(padding, int):
        return "int"
    return "per_axis" if len(padding) == rank else "before_after"


@pytest.mark.parametrize("strategy", [conv1d_cases, conv2d_cases, conv3d_cases])
def test_every_padding_form_and_mode_is_drawn_and_read_back_from_a_file(strategy, tmp_path):
    drawn = _drawn(strategy(nonfinite=True), 200)
    assert {_padding_form(raw) for raw in drawn} == {
        "valid",
        "same",
        "int",
        "per_axis",
        "before_after",
    }
    assert {raw["padding_mode"] for raw in drawn} == {"zeros", "reflect", "replicate", "circular"}
    path = tmp_path / "drawn.yaml"
    path.write_text(dump_yaml({"cases": [{**raw, "id": f"d{k}"} for k, raw in enumerate(drawn)]}))
    loaded = load_cases([path])
    assert [c.op for c in loaded] == [raw["op"] for raw in drawn]
    assert all(c.computes and torch_rejection(c) is None for c in loaded)


def test_conv_cases_draws_every_rank_and_only_the_ranks_asked_for():
    assert {raw["op"] for raw in _drawn(conv_cases(), 60)} == {"conv1d", "conv2d", "conv3d"}
    assert {raw["op"] for raw in _drawn(conv_cases(ranks=(1, 3)), 40)} == {"conv1d", "conv3d"}
    with pytest.raises(ValueError, match="ranks"):
        _drawn(conv_cases(ranks=(4,)), 1)


@SETTINGS
@given(conv_cases(nonfinite=True))
def test_drawn_configurations_of_every_rank_run_without_a_fault(raw):
    case = case_from_dict(raw)
    for record in run_case(case, BUILTINS, RunOptions()):
        assert "harness fault" not in record.message, record.message
        if record.variant == "as_is" and not (
            record.implementation == "scipy" and record.cause == "nan"
        ):  # the scipy leg's documented NaN spread through a dilated kernel
            assert record.status == "ok", (record.implementation, record.message)
        else:
            assert record.status in ("ok", "hidden"), (record.variant, record.message)


PLANTED = '''
    """conv1d, conv2d and conv3d through torch in float64. Planted bugs: conv1d reverses its
    kernel; conv3d flips the kernel's depth axis only. conv2d is right."""
    import warnings

    import numpy as np
    import torch
    import torch.nn.functional as F


    def _conv(function, flip):
        def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
            x = np.asarray(input)
            w = np.asarray(weight, dtype=np.float64)
            if flip is not None:
                w = np.flip(w, flip).copy()
            b = None if bias is None else torch.from_numpy(np.asarray(bias, dtype=np.float64))
            with warnings.catch_warnings():  # 'same' with an even kernel: a padded copy
                warnings.simplefilter("ignore")
                out = function(
                    torch.from_numpy(x.astype(np.float64)), torch.from_numpy(w), b,
                    stride=stride, padding=padding, dilation=dilation, groups=groups,
                )
            return out.numpy().astype(x.dtype)
        return conv


    conv1d = _conv(F.conv1d, -1)
    conv2d = _conv(F.conv2d, None)
    conv3d = _conv(F.conv3d, 2)
'''


def test_fuzz_finds_a_bug_planted_in_one_rank_and_saves_it_in_that_rank(tmp_path):
    module = tmp_path / "planted_nd.py"
    module.write_text(textwrap.dedent(PLANTED))
    implementations = resolve_implementations([str(module)])
    seed = 3
    result = fuzz(implementations, count=60, seed=seed, variants=False)
    by_op = {finding.signature.op: finding for finding in result.findings}
    assert set(by_op) == {"conv1d", "conv3d"}, summary_lines(result)
    assert by_op["conv1d"].signature.cause == "kernel_flip"  # the reversed 1-D kernel, named
    for index, (op, finding) in enumerate(sorted(by_op.items())):
        assert finding.signature.variant == "as_is"
        assert finding.signature.status == "unexpected_divergence"
        assert finding.signature.words().startswith(f"{op} ")
        finding.smallest = shrink(finding, implementations, seed, variants=False)
        saved = save_finding(finding, tmp_path / "found", seed, index)
        (case,) = load_cases([saved])
        assert case.op == op
        assert case.rank == op_rank(op)
        assert op in case.tags
        assert op in case.id
        assert sum(case.input_shape) <= sum(case_from_dict(finding.first).input_shape)
        rows = run_case(case, implementations, RunOptions(variants=False))
        (row,) = [r for r in rows if r.implementation == str(module)]
        assert row.status == "unexpected_divergence", row.message
