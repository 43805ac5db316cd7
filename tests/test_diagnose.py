"""Plug-in implementations and `diagnose`: each example names exactly its planted cause."""

from __future__ import annotations

import json
import re

import pytest

from harness.cases import load_cases
from harness.computations.registry import resolve
from harness.probing.diagnose import diagnose
from harness.reporting.report import read_csv
from tests.conftest import ROOT, run_cli

PLANTED = {
    "flipped_kernel": ["kernel_flip"],
    "first_channel_only": ["depth_sum"],
    "mean_over_channels": ["depth_sum"],
    "same_pad_top_left": ["padding"],
    "stride_phase": ["stride"],
    "dilation_ignored": ["dilation"],
    "groups_interleaved": ["groups"],
    "bias_ignored": ["bias"],
    "float16_accumulate": ["precision"],
    "flipped_and_no_bias": ["kernel_flip", "bias"],
}
CORRECT = [
    "torch",
    "scipy",
    "reference",
    "examples.correct_numpy:conv2d",
    "examples.correct_fft:conv2d",
    "examples.correct_torch_tensor:conv2d",
]


@pytest.mark.parametrize(("module", "causes"), PLANTED.items())
def test_diagnose_names_exactly_the_planted_cause(module, causes):
    name = f"examples.{module}:conv2d"
    result = diagnose(resolve(name))
    assert (result.verdict, result.causes) == ("diverges", causes)
    assert result.counterexample is not None


@pytest.mark.parametrize("name", CORRECT)
def test_correct_implementations_match(name):
    result = diagnose(resolve(name))
    assert (result.verdict, result.causes) == ("matches", [])
    assert result.counterexample is None


def test_partial_support_is_reported_not_failed():
    name = "examples.no_dilation_support:conv2d"
    result = diagnose(resolve(name))
    assert result.verdict == "matches"
    statuses = {r.probe.property: r.status for r in result.results}
    dilated = {"dilation", "same_dilated", "complex"}  # real-only code: complex is unsupported
    assert {statuses[p] for p in dilated} == {"unsupported"}
    assert {s for p, s in statuses.items() if p not in dilated} == {"ok"}


def test_cli_json_and_exit_codes():
    flipped = run_cli("diagnose", "examples.flipped_kernel:conv2d", "--json")
    assert flipped.returncode == 1, flipped.stderr
    data = json.loads(flipped.stdout)
    assert set(data) == {"impl", "verdict", "causes", "ranks", "properties", "counterexample"}
    assert [r["rank"] for r in data["ranks"]] == [2]
    assert data["properties"]["orientation"]["op"] == "conv2d"
    assert (data["verdict"], data["causes"]) == ("diverges", ["kernel_flip"])
    assert data["properties"]["orientation"]["causes"] == ["kernel_flip"]
    assert "weight" in data["counterexample"]
    assert "id" in data["counterexample"]
    good = run_cli("diagnose", "examples.correct_fft:conv2d", "--json")
    assert good.returncode == 0
    assert json.loads(good.stdout)["verdict"] == "matches"
    raising = run_cli("diagnose", "examples.always_raises:conv2d", "--json")
    assert raising.returncode == 1
    assert json.loads(raising.stdout)["verdict"] == "error"


def test_human_output_has_verdict_properties_and_yaml():
    result = run_cli("diagnose", "examples.flipped_kernel:conv2d")
    lines = result.stdout.splitlines()
    assert lines[0].endswith("diverges from torch.nn.functional.conv2d: kernel_flip")
    assert any(
        line.startswith("orientation:")
        and "rotated 180" in line
        and line.endswith("-> kernel_flip")
        for line in lines
    )
    assert "cases:" in result.stdout
    assert "- id: counterexample_" in result.stdout


def test_saved_counterexample_is_a_valid_case_that_fails_the_bug(tmp_path):
    path = tmp_path / "cx.yaml"
    result = run_cli("diagnose", "examples.stride_phase:conv2d", "--save-case", path)
    assert result.returncode == 1
    (case,) = load_cases([path])
    assert case.stride != (1, 1)
    assert case.expected is not None
    good = run_cli("run", path, "--out", tmp_path / "good.csv")
    assert good.returncode == 0, good.stdout + good.stderr
    bad = run_cli(
        "run", path, "--impl", "examples.stride_phase:conv2d", "--out", tmp_path / "b.csv"
    )
    assert bad.returncode == 1
    assert "[stride]" in bad.stdout


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("no_such_module_abc:conv2d", "cannot import module 'no_such_module_abc'"),
        ("examples.correct_numpy:no_such_function", "has no attribute 'no_such_function'"),
        ("tests/data/bad_impls.py:not_callable", "is not callable"),
        ("tests/data/bad_impls.py:wrong_signature", "cannot take conv2d's arguments"),
        ("justaname", "not a known name"),
        (
            "tests.data.needs_missing_dep:conv2d",
            "importing module 'tests.data.needs_missing_dep' failed: it needs "
            "'nosuchdep_for_conv_harness_tests', which is not installed",
        ),
        (
            "tests/data/needs_missing_dep.py:conv2d",
            "failed: it needs 'nosuchdep_for_conv_harness_tests', which is not installed",
        ),
        ("no_such_package_abc.sub:conv2d", "cannot import module 'no_such_package_abc.sub'"),
    ],
)
def test_bad_implementations_exit_2_with_one_line(spec, words):
    result = run_cli("diagnose", spec)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert words in lines[0], lines


def test_run_with_flipped_plugin_marks_asymmetric_rows(tmp_path):
    out = tmp_path / "flip.csv"
    result = run_cli(
        "run",
        "cases/flip_asymmetric.yaml",
        "--impl",
        "examples.flipped_kernel:conv2d",
        "--no-variants",
        "--out",
        out,
    )
    assert result.returncode == 1
    frame = read_csv(out)
    asymmetric = [
        c.id
        for c in load_cases([ROOT / "cases" / "flip_asymmetric.yaml"])
        if "symmetric" not in c.tags
    ]
    rows = frame[frame.case_id.isin(asymmetric)]
    diverging = rows[rows.observed == "diverge"]
    assert len(diverging) >= 10
    assert set(diverging.cause) == {"kernel_flip"}


def test_plugin_returning_garbage_is_an_error_row(tmp_path):
    out = tmp_path / "g.csv"
    result = run_cli(
        "run",
        "cases/seed.yaml",
        "--impl",
        "tests/data/bad_impls.py:conv2d_returns_string",
        "--no-variants",
        "--out",
        out,
    )
    assert result.returncode == 1
    frame = read_csv(out)
    assert set(frame.status) == {"error"}
    assert "dtype" in frame.message.iloc[0] or "not an array" in frame.message.iloc[0]


def test_pytest_matrix_passes_with_the_correct_example():
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
            "--impl",
            "examples.correct_numpy:conv2d",
            str(ROOT / "tests" / "test_matrix.py"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert (
        "examples.correct_numpy:conv2d-as_is"
        in subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--co",
                "-q",
                "-p",
                "no:cacheprovider",
                "--impl",
                "examples.correct_numpy:conv2d",
                str(ROOT / "tests" / "test_matrix.py"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        ).stdout
    )


def test_a_wrong_output_shape_says_both_shapes():
    name = "examples.dilation_ignored:conv2d"
    (dilation,) = [r for r in diagnose(resolve(name)).results if r.probe.property == "dilation"]
    match = re.search(r"returns shape (\[[0-9, ]+\]), torch (\[[0-9, ]+\])", dilation.finding)
    assert match, dilation.finding
    assert match.group(2) == str(list(dilation.case.output_shape))
    assert match.group(1) != match.group(2)  # ignoring dilation gives a larger output
    assert dilation.finding.startswith("dilation ignored")  # the cause is still named
    assert dilation.message == match.group(0)
    data = json.loads(run_cli("diagnose", "tests/data/misbehaving.py:wrong_shape", "--json").stdout)
    for prop, result in data["properties"].items():
        assert re.fullmatch(r"returns shape \[[0-9, ]+\], torch \[[0-9, ]+\]", result["message"]), (
            prop,
            result["message"],
        )
        assert result["message"] in result["finding"], prop
