"""diagnose on implementations with one planted bug: the human output names it in a few lines (one
per operation, each with the member that operation shows) and the counterexample is a probe about
that very cause, named after it. `--json` keeps every probe."""

from __future__ import annotations

import json
import re

import pytest

import tests.data.planted_bugs as planted
from harness.computations.registry import resolve
from harness.probing.diagnose import diagnose, human_lines
from tests.conftest import run_cli

PLANTED = [(f"tests.data.planted_bugs.{name}", cause) for name, cause in planted.PLANTED.items()]
EXISTING = [
    ("tests.data.family_bugs:flipped_along_w", "kernel_flip"),
    ("tests.data.family_bugs:flipped_along_h", "kernel_flip"),
    ("tests.data.rank_bugs.flipped_d", "kernel_flip"),
    ("tests.data.rank_bugs.stride_phase", "stride"),
    ("examples.same_pad_top_left:conv2d", "padding"),
    ("examples.groups_interleaved:conv2d", "groups"),
    ("examples.bias_ignored:conv2d", "bias"),
    ("examples.dilation_ignored:conv2d", "dilation"),
    ("examples.first_channel_only:conv2d", "depth_sum"),
]
_CACHE: dict = {}


def run_diagnose(name: str):
    if name not in _CACHE:
        _CACHE[name] = diagnose(resolve(name))
    return _CACHE[name]


def finding_lines(lines: list[str]) -> list[str]:
    """The lines of a diverging probe: `label: finding -> causes`."""
    return [line for line in lines if re.search(r" -> [a-z_+]+$", line)]


@pytest.mark.parametrize(("name", "cause"), PLANTED + EXISTING)
def test_one_bug_reads_in_one_line_per_operation(name, cause):
    result = run_diagnose(name)
    assert (result.verdict, result.causes) == ("diverges", [cause])
    lines = human_lines(result)
    findings = finding_lines(lines)
    operations = {r.probe.op for r in result.results if r.status == "diverges"}
    assert all(line.endswith(f"-> {cause}") for line in findings), findings
    assert 1 <= len(findings) <= len(operations), findings
    diverging = sum(r.status == "diverges" for r in result.results)
    folded = [int(n) for line in findings for n in re.findall(r"also shows on (\d+) other", line)]
    assert len(findings) + sum(folded) == diverging  # every diverging probe is counted once


@pytest.mark.parametrize(("name", "cause"), PLANTED + EXISTING)
def test_the_counterexample_is_a_probe_about_the_planted_cause(name, cause):
    result = run_diagnose(name)
    example = result.counterexample
    assert example["id"].endswith(f"_{cause}")
    assert example["tags"] == ["counterexample", cause]
    label = re.search(r"on its (\S+) probe", example["description"]).group(1)
    (probe,) = [r.probe for r in result.results if r.probe.label == label]
    assert probe.cause == cause, (label, probe.cause)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        (
            "tests.data.planted_bugs.flip_w",
            {
                "conv1d": "kernel flipped along L",
                "conv2d": "kernel flipped along W only",
                "conv3d": "kernel flipped along W only",
            },
        ),
        (
            "tests.data.planted_bugs.flip_h",
            {"conv2d": "kernel flipped along H only", "conv3d": "kernel flipped along H only"},
        ),
    ],
)
def test_each_rank_says_which_axes_its_kernel_is_flipped_along(name, words):
    result = run_diagnose(name)
    findings = finding_lines(human_lines(result))
    by_op = {}
    for line in findings:
        label = line.split(": ")[0].strip().rstrip(":")
        (op,) = {r.probe.op for r in result.results if r.probe.label == label}
        by_op[op] = line
    assert set(by_op) == set(words)
    for op, phrase in words.items():
        assert phrase in by_op[op], by_op[op]


def test_json_keeps_every_probe_of_a_folded_bug():
    name = "tests.data.planted_bugs.flip_w"
    cli = run_cli("diagnose", name, "--json")
    assert cli.returncode == 1, cli.stderr
    report = json.loads(cli.stdout)
    result = run_diagnose(name)
    assert list(report["properties"]) == [r.probe.label for r in result.results]
    diverging = [k for k, v in report["properties"].items() if v["status"] == "diverges"]
    assert len(diverging) == sum(r.status == "diverges" for r in result.results) > 60
    assert all(report["properties"][k]["causes"] == ["kernel_flip"] for k in diverging)
    assert report["counterexample"]["tags"] == ["counterexample", "kernel_flip"]
