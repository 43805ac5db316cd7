"""`diagnose` at every spatial rank: probes of conv1d and conv3d, a plug-in module probed at each
rank it defines, and the bugs of tests/data/rank_bugs.py named at their rank."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pytest

from harness.cases import case_from_dict, load_cases, torch_rejection
from harness.cases.data import materialize
from harness.computations.registry import resolve
from harness.probing.diagnose import counterexample_dict, diagnose, human_lines
from harness.probing.probes import op_rank, probe_case, probes_for
from tests.conftest import run_cli

FLIPPED_D = "tests.data.rank_bugs.flipped_d"
STRIDE_PHASE = "tests.data.rank_bugs.stride_phase"
CORRECT = "tests.data.rank_bugs.correct"


def run_diagnose(name: str):
    return diagnose(resolve(name))


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_every_probe_is_a_valid_case_of_its_rank(rank):
    probes = probes_for(rank)
    assert len({p.property for p in probes}) == len(probes)
    for probe in probes:
        case = probe_case(probe)
        assert (case.rank, probe.rank, op_rank(probe.op)) == (rank, rank, rank)
        assert torch_rejection(case) is None, probe.label
        assert probe.label == (probe.property if rank == 2 else f"conv{rank}d:{probe.property}")
    properties = {p.property for p in probes}
    assert {"orientation", "depth", "groups", "same_padding", "stride", "dilation"} <= properties
    assert {"bias", "padding_int", "padding_valid", "boundary_reflect", "float16"} <= properties


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_orientation_kernels_differ_from_every_flip_and_axis_swap(rank):
    """A flip along any one axis (D only, say), any two or all changes the kernel, so it shows."""
    for probe in probes_for(rank):
        if probe.cause != "kernel_flip":
            continue
        kernel = materialize(probe_case(probe)).weight64[0, 0]
        for count in range(1, rank + 1):
            for axes in itertools.combinations(range(rank), count):
                assert not np.array_equal(np.flip(kernel, axes), kernel), (probe.label, axes)
        for order in itertools.permutations(range(rank)):
            swapped = np.transpose(kernel, order)
            if order != tuple(range(rank)) and swapped.shape == kernel.shape:
                assert not np.array_equal(swapped, kernel), (probe.label, order)


def test_stride_probes_stride_every_axis():
    for rank in (1, 2, 3):
        (probe,) = [p for p in probes_for(rank) if p.property == "stride"]
        assert all(s > 1 for s in probe_case(probe).stride)


def test_a_conv3d_flipped_along_d_only_is_named_and_the_conv1d_beside_it_matches():
    result = run_diagnose(FLIPPED_D)
    assert (result.verdict, result.causes) == ("diverges", ["kernel_flip"])
    ranks = {r["rank"]: r for r in result.ranks}
    assert set(ranks) == {1, 3}
    assert (ranks[1]["verdict"], ranks[1]["operations"]) == ("matches", ["conv1d"])
    assert (ranks[3]["verdict"], ranks[3]["causes"]) == ("diverges", ["kernel_flip"])
    by_label = {r.probe.label: r for r in result.results}
    orientation = by_label["conv3d:orientation"]
    assert orientation.causes == ["kernel_flip"]
    assert re.search(r"\bD\b", orientation.finding), orientation.finding
    assert not re.search(r"\b[HW]\b", orientation.finding), orientation.finding
    # the complex probe is optional: these float64-only modules do not handle complex numbers
    assert {r.status for r in result.results if r.probe.rank == 1 and not r.probe.optional} == {
        "ok"
    }
    counterexample = result.counterexample
    assert counterexample is not None
    assert counterexample["op"] == "conv3d"
    assert np.asarray(counterexample["weight"]).ndim == 5


def test_a_conv1d_sampling_at_a_phase_is_named_stride_and_the_conv3d_beside_it_matches():
    result = run_diagnose(STRIDE_PHASE)
    assert (result.verdict, result.causes) == ("diverges", ["stride"])
    ranks = {r["rank"]: r for r in result.ranks}
    assert (ranks[1]["verdict"], ranks[3]["verdict"]) == ("diverges", "matches")
    stride = next(r for r in result.results if r.probe.label == "conv1d:stride")
    assert stride.causes == ["stride"]
    assert result.counterexample["op"] == "conv1d"
    lines = human_lines(result)
    assert lines[0] == f"{STRIDE_PHASE}: diverges from torch.nn.functional.conv1d: stride"
    assert "  rank 1 (conv1d; 22 probes): diverges: stride" in lines
    assert any(
        line.startswith("  rank 3 (conv3d; ") and line.endswith(": matches") for line in lines
    )


def test_a_correct_module_matches_at_every_rank():
    result = run_diagnose(CORRECT)
    assert (result.verdict, result.causes, result.counterexample) == ("matches", [], None)
    assert [r["rank"] for r in result.ranks] == [1, 2, 3]
    assert human_lines(result)[0] == (  # real-only: its complex probes are unsupported
        f"{CORRECT}: matches torch.nn.functional.conv1d, conv2d and conv3d on every probe"
        " (complex numbers not supported)"
    )


def test_a_function_is_probed_at_the_rank_its_name_says():
    name = "tests.data.rank_bugs:flipped_d_conv3d"
    result = run_diagnose(name)
    assert {r.probe.op for r in result.results} == {"conv3d"}
    assert (result.verdict, result.causes) == ("diverges", ["kernel_flip"])
    plain = run_diagnose("tests.data.rank_bugs:conv1d")
    assert {r.probe.op for r in plain.results} == {"conv1d"}
    assert plain.verdict == "matches"


def test_counterexamples_keep_their_rank_and_padding_form():
    result = run_diagnose(FLIPPED_D)
    by_label = {r.probe.label: r for r in result.results}
    for label in ("conv3d:padding", "conv3d:boundary_reflect", "conv3d:stride"):
        raw = counterexample_dict(by_label[label], FLIPPED_D)
        assert raw["op"] == "conv3d"
        case = by_label[label].case
        written = case_from_dict(raw, source="<test>")
        assert (written.rank, written.pads, written.stride) == (3, case.pads, case.stride)
        assert written.padding_mode == case.padding_mode


def test_cli_json_and_human_output_say_the_rank(tmp_path):
    result = run_cli("diagnose", FLIPPED_D, "--json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert [(r["rank"], r["verdict"]) for r in data["ranks"]] == [(1, "matches"), (3, "diverges")]
    orientation = data["properties"]["conv3d:orientation"]
    assert (orientation["op"], orientation["rank"]) == ("conv3d", 3)
    assert orientation["causes"] == ["kernel_flip"]
    assert data["properties"]["conv1d:orientation"]["status"] == "ok"

    path = tmp_path / "cx.yaml"
    human = run_cli("diagnose", FLIPPED_D, "--save-case", path)
    assert human.returncode == 1
    lines = human.stdout.splitlines()
    assert lines[0] == f"{FLIPPED_D}: diverges from torch.nn.functional.conv3d: kernel_flip"
    assert any(line.startswith("conv3d:orientation:") and "D" in line for line in lines)
    (case,) = load_cases([path])
    assert (case.rank, case.op) == (3, "conv3d")
    assert case.expected is not None

    good = run_cli("diagnose", CORRECT)
    assert good.returncode == 0, good.stdout + good.stderr
