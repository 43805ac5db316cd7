"""Cases of every spatial rank: where the rank comes from, how per-axis fields are read, which
problems a wrong count gets, and which cases a selection leaves out (`large`)."""

from __future__ import annotations

import pytest

from harness.cases import case_from_dict
from harness.cases.errors import CaseFileError
from harness.running.select import select


def spec(*shape: int) -> dict:
    return {"shape": list(shape), "init": "normal"}


def test_rank_comes_from_generated_shapes():
    one = case_from_dict({"id": "a", "input": spec(2, 3, 17), "weight": spec(4, 3, 5)})
    three = case_from_dict({"id": "b", "input": spec(1, 2, 4, 5, 6), "weight": spec(3, 2, 1, 2, 3)})
    assert (one.op, one.rank, one.axis_names) == ("conv1d", 1, ("L",))
    assert one.output_shape == (2, 4, 13)
    assert (three.op, three.rank, three.axis_names) == ("conv3d", 3, ("D", "H", "W"))
    # D: 4 - 1 + 1, H: 5 - 2 + 1, W: 6 - 3 + 1
    assert three.output_shape == (1, 3, 4, 4, 4)
    assert three.reduction_length == 2 * 1 * 2 * 3


def test_rank_comes_from_op_for_literals():
    case = case_from_dict(
        {"id": "lit", "op": "conv1d", "input": [[1, 2, 3, 4]], "weight": [[1, 2]]}
    )
    assert case.input_shape == (1, 1, 4)
    assert case.weight_shape == (1, 1, 2)
    assert case.output_shape == (1, 1, 3)
    plain = case_from_dict({"id": "lit2", "input": [[1, 2, 3, 4]], "weight": [[1, 2]]})
    assert plain.op == "conv2d"
    assert plain.input_shape == (1, 1, 1, 4)


def test_rank_comes_from_per_axis_fields():
    case = case_from_dict({"id": "s", "input": [[[[[1.0]]]]], "weight": [[1.0]], "stride": 1})
    assert case.rank == 3  # a five-axis literal
    by_stride = case_from_dict(
        {"id": "t", "input": [[1.0, 2.0, 3.0]], "weight": [[1.0]], "stride": [2]}
    )
    assert by_stride.op == "conv1d"
    assert by_stride.stride == (2,)


def test_per_axis_values_are_normalised():
    case = case_from_dict(
        {
            "id": "p",
            "input": spec(1, 1, 6, 7, 8),
            "weight": spec(1, 1, 3, 3, 3),
            "stride": [1, 2, 3],
            "dilation": 2,
            "padding": [1, 2, 3],
        }
    )
    assert case.stride == (1, 2, 3)
    assert case.dilation == (2, 2, 2)
    assert case.pads == (1, 1, 2, 2, 3, 3)
    assert case.padding_label == "1x2x3"
    # D: (6 + 2 - 5) // 1 + 1, H: (7 + 4 - 5) // 2 + 1, W: (8 + 6 - 5) // 3 + 1
    assert case.output_shape == (1, 1, 4, 4, 4)
    flat = case_from_dict(
        {"id": "f", "input": spec(1, 1, 9), "weight": spec(1, 1, 4), "padding": [0, 2]}
    )
    assert flat.pads == (0, 2)
    assert flat.padding_label == "0,2"
    same = case_from_dict(
        {"id": "q", "input": spec(1, 1, 9), "weight": spec(1, 1, 4), "padding": "same"}
    )
    assert same.pads == (1, 2)  # the extra element after, as torch


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"stride": [1, 2]}, "field 'stride': has 2 values but the case is 1-D (N, C, L)"),
        ({"dilation": [1, 1, 1]}, "field 'dilation': has 3 values but the case is 1-D"),
        ({"padding": [1, 2, 3]}, "field 'padding': has 3 values but the case is 1-D"),
        ({"op": "conv3d"}, "field 'input.shape': a generated tensor's shape needs exactly 5 axes"),
    ],
)
def test_wrong_counts_name_the_field(fields, message):
    with pytest.raises(CaseFileError) as error:
        case_from_dict({"id": "bad", "input": spec(1, 2, 9), "weight": spec(3, 2, 3), **fields})
    assert message in str(error.value)


def test_torch_rules_per_rank():
    rejected = case_from_dict(
        {
            "id": "reflect",
            "input": spec(1, 1, 3, 8, 8),
            "weight": spec(1, 1, 1, 3, 3),
            "padding": [3, 1, 1],
            "padding_mode": "reflect",
            "rejects": True,
        }
    )
    assert (
        rejected.rejection
        == "reflect padding [3, 3, 1, 1, 1, 1] must be smaller than the input 3x8x8"
    )
    same = case_from_dict(
        {
            "id": "same1d",
            "input": spec(1, 1, 9),
            "weight": spec(1, 1, 3),
            "padding": "same",
            "stride": 2,
            "rejects": True,
        }
    )
    assert "padding 'same' is not supported with stride [2] > 1" in str(same.rejection)


def _case(case_id: str, tags: list[str]):
    return case_from_dict(
        {"id": case_id, "input": spec(1, 1, 5), "weight": spec(1, 1, 3), "tags": tags}
    )


def test_large_cases_run_only_when_named():
    cases = [_case("small_one", []), _case("wide_channels", ["large"])]
    assert [c.id for c in select(cases, None)] == ["small_one"]
    assert [c.id for c in select(cases, "one or wide")] == ["small_one", "wide_channels"]
    assert [c.id for c in select(cases, "large")] == ["wide_channels"]
    assert [c.id for c in select(cases, "not small")] == []  # not named: still left out


def test_coverage_names_families_undetected_at_a_rank():
    from harness.reporting.coverage import MutationCoverage, family_rank_lines

    table = [
        MutationCoverage("flipped", "kernel_flip", ["a1", "a3"], [], ["conv1d", "conv3d"]),
        MutationCoverage("no_bias", "bias", ["a3"], [], ["conv3d"]),
    ]
    lines, warnings = family_rank_lines(table, ["conv1d", "conv3d"])
    assert lines[1].split() == ["family", "conv1d", "conv3d", "(detecting", "cases)"]
    assert lines[2].split() == ["kernel_flip", "1", "1"]
    assert lines[3].split() == ["bias", "0", "1"]
    assert warnings == [
        "warning: no conv1d case detects a bias mutation; add a conv1d case where one shows"
    ]


def test_fuzz_rank_option_draws_only_that_rank(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    def fuzz(rank: str):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "harness",
                "fuzz",
                "--impl",
                "tests.data.rank_bugs.flipped_d",
                "--rank",
                rank,
                "--count",
                "12",
                "--no-variants",
                "--save",
                str(tmp_path / rank),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )

    correct_rank = fuzz("1")  # this module's conv1d is right
    assert correct_rank.returncode == 0, correct_rank.stdout + correct_rank.stderr
    buggy_rank = fuzz("3")  # its conv3d flips the kernel along D
    assert buggy_rank.returncode == 1, buggy_rank.stdout + buggy_rank.stderr
    saved = list((tmp_path / "3").glob("*.yaml"))
    assert saved
    assert all("op: conv3d" in path.read_text() for path in saved)
