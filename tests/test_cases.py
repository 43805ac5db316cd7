"""Case files: loading, normalisation, sweeps and validation errors."""

from __future__ import annotations

import numpy as np
import pytest

from harness.cases import load_cases
from harness.cases.data import materialize, round_bfloat16
from harness.cases.errors import CaseFileError

SEED = """
cases:
  - id: seed
    input: [[1,1,1,0,0],[0,1,1,1,0],[0,0,1,1,1],[0,0,1,1,0],[0,1,1,0,0]]
    weight: [[1,0,1],[0,1,0],[1,0,1]]
    expected: [[4,3,4],[2,4,3],[2,3,4]]
"""


def problems_of(path) -> list[str]:
    with pytest.raises(CaseFileError) as info:
        load_cases([path])
    return info.value.problems


def test_literal_arrays_are_rank_extended(write_cases):
    (case,) = load_cases([write_cases(SEED)])
    assert case.input_shape == (1, 1, 5, 5)
    assert case.weight_shape == (1, 1, 3, 3)
    assert case.output_shape == (1, 1, 3, 3)
    assert case.pads == (0, 0, 0, 0)
    assert case.reduction_length == 9
    arrays = materialize(case)
    assert arrays.input.shape == (1, 1, 5, 5)
    assert arrays.input[0, 0, 0, 2] == 1.0


def test_defaults_apply_and_cases_override(write_cases):
    path = write_cases("""
        defaults: {dtype: float32, padding: 1}
        cases:
          - {id: a, input: [[1.0]], weight: [[2.0]]}
          - {id: b, input: [[1.0]], weight: [[2.0]], dtype: float64, padding: [0, 1, 2, 3]}
    """)
    a, b = load_cases([path])
    assert (a.dtype, a.pads) == ("float32", (1, 1, 1, 1))
    assert (b.dtype, b.pads) == ("float64", (0, 1, 2, 3))
    assert materialize(a).input.dtype == np.float32


def test_same_padding_puts_extra_pixel_bottom_right(write_cases):
    path = write_cases("""
        cases:
          - id: even
            input: {shape: [1, 1, 6, 6], init: normal, seed: 1}
            weight: {shape: [1, 1, 4, 2], init: normal, seed: 2}
            padding: same
            dilation: [1, 3]
    """)
    (case,) = load_cases([path])
    # kH=4 -> total 3 -> (1, 2); kW=2 with dilation 3 -> effective 4 -> total 3 -> (1, 2)
    assert case.pads == (1, 2, 1, 2)
    assert case.output_shape == (1, 1, 6, 6)


def test_generated_tensors_are_seeded_and_signed(write_cases):
    path = write_cases("""
        cases:
          - id: gen
            input: {shape: [2, 3, 4, 5], init: normal, seed: 7}
            weight: {shape: [2, 3, 2, 2], init: integers, low: -2, high: 3, seed: 8}
            bias: {shape: [2], init: uniform, low: -1, high: 1, seed: 9}
    """)
    (case,) = load_cases([path])
    arrays = materialize(case)
    assert np.array_equal(arrays.input, np.random.default_rng(7).standard_normal((2, 3, 4, 5)))
    assert (arrays.input < 0).any()
    assert (arrays.input > 0).any()
    assert set(np.unique(arrays.weight)) <= {-2.0, -1.0, 0.0, 1.0, 2.0}
    assert np.array_equal(materialize(case).bias, arrays.bias)


def test_impulse_arange_ones(write_cases):
    path = write_cases("""
        cases:
          - id: gen
            input: {shape: [1, 1, 3, 4], init: arange}
            weight: {shape: [1, 1, 3, 3], init: impulse, at: [0, 0, 0, 2]}
            bias: {shape: [1], init: ones}
    """)
    arrays = materialize(load_cases([path])[0])
    assert arrays.input[0, 0].tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert arrays.weight.sum() == 1
    assert arrays.weight[0, 0, 0, 2] == 1
    assert arrays.bias.tolist() == [1.0]


def test_yaml12_floats_are_numbers(write_cases):
    path = write_cases("""
        cases:
          - {id: a, input: [[1e6, -2.5e-3]], weight: [[1]]}
    """)
    assert materialize(load_cases([path])[0]).input.ravel().tolist() == [1e6, -2.5e-3]


def test_sweep_expands_with_value_ids_and_skips_torch_rejections(write_cases):
    path = write_cases("""
        sweeps:
          - id: grid
            tags: [sweep]
            base:
              input: {shape: [1, 2, 8, 9], init: normal, seed: 3}
              weight: {shape: [3, 2, 3, 4], init: normal, seed: 4}
            vary: {stride: [1, [2, 1]], padding: [0, same]}
    """)
    cases = load_cases([path])
    ids = [c.id for c in cases]
    assert ids == [
        "grid_stride1_padding0",
        "grid_stride1_paddingsame",
        "grid_stride2x1_padding0",
        "grid_stride2x1_paddingsame",
    ]
    skipped = {c.id: c.skip_reason for c in cases if c.skip_reason}
    assert list(skipped) == ["grid_stride2x1_paddingsame"]
    assert "same" in skipped["grid_stride2x1_paddingsame"]
    assert all(c.tags == ("sweep",) for c in cases)


def test_unknown_key_names_file_case_field_and_suggests(write_cases):
    path = write_cases(SEED.replace("weight:", "wieght:"))
    (line,) = [p for p in problems_of(path) if "wieght" in p]
    assert str(path) in line
    assert "case 'seed'" in line
    assert "field 'wieght'" in line
    assert "did you mean 'weight'" in line


def test_padding_typo(write_cases):
    path = write_cases(SEED.replace("expected:", "padding: sme\n    expected:"))
    (line,) = problems_of(path)
    assert "case 'seed'" in line
    assert "field 'padding'" in line
    assert "did you mean 'same'" in line


def test_groups_must_divide_channels(write_cases):
    path = write_cases("""
        cases:
          - id: bad_groups
            input: {shape: [1, 3, 5, 5], init: normal}
            weight: {shape: [4, 1, 3, 3], init: normal}
            groups: 2
    """)
    (line,) = problems_of(path)
    assert "case 'bad_groups'" in line
    assert "field 'groups'" in line
    assert "C_in=3" in line


@pytest.mark.parametrize(
    ("snippet", "field", "words"),
    [
        ("stride: 0", "stride", "positive"),
        ("dilation: [1, -1]", "dilation", "positive"),
        ("dtype: float8", "dtype", "float64"),
        ("padding_mode: mirror", "padding_mode", "reflect"),
        ("groups: two", "groups", "positive int"),
        ("padding: 4", "weight", "larger than the padded input"),
    ],
)
def test_field_errors(write_cases, snippet, field, words):
    path = write_cases(
        f"""
        cases:
          - id: c
            input: {{shape: [1, 1, 2, 2], init: normal}}
            weight: {{shape: [1, 1, 3, 3], init: normal}}
            padding: 1
            {snippet}
    """.replace("padding: 1\n            padding: 4", "padding: 0")
    )
    (line,) = problems_of(path)
    assert f"field '{field}'" in line
    assert words in line


def test_all_problems_in_a_file_are_listed(write_cases):
    path = write_cases("""
        cases:
          - {id: a, input: [[1]], weight: [[1]], stride: 0}
          - {id: b, input: [[1, 2], [3]], weight: [[1]]}
          - {id: c, input: [[1]], weight: [[1]], colour: red}
    """)
    problems = problems_of(path)
    assert len(problems) == 3
    assert ["case 'a'" in problems[0], "case 'b'" in problems[1], "case 'c'" in problems[2]] == [
        True,
        True,
        True,
    ]
    assert "ragged" in problems[1]


def test_duplicate_ids_across_files_name_both(write_cases):
    first = write_cases(SEED, "one.yaml")
    second = write_cases(SEED, "two.yaml")
    (line,) = problems_of(first.parent)
    assert str(first) in line
    assert str(second) in line
    assert "duplicate" in line


def test_expected_shape_must_match_output(write_cases):
    path = write_cases(SEED.replace("[[4,3,4],[2,4,3],[2,3,4]]", "[[4,3],[2,4]]"))
    (line,) = problems_of(path)
    assert "field 'expected'" in line
    assert "[1, 1, 3, 3]" in line


def test_bfloat16_rounding_keeps_eight_significant_bits():
    values = np.array([1.0, 1.00390625, 1.005859375, 3.14159265, -2.71828, 1e-3])
    rounded = round_bfloat16(values)
    # bfloat16 has 8 significand bits: spacing 2**-7 on [1, 2)
    assert rounded[0] == 1.0
    assert rounded[1] == 1.0  # halfway between 1 and 1+2**-7 rounds to even (1.0)
    assert rounded[2] == np.float32(1.0078125)
    assert rounded[3] == np.float32(3.140625)
    mantissa_bits = rounded.view(np.uint32) & 0xFFFF
    assert not mantissa_bits.any()


def test_diverges_names_builtins_peers_and_plugins(write_cases):
    path = write_cases("""
        cases:
          - id: named
            input: [[1, 2], [3, 4]]
            weight: [[1]]
            diverges: {scipy: nan, opencv: nan, "mypkg.conv:conv2d": kernel_flip,
                       "plugins/my_conv.py:conv2d": bias}
    """)
    (case,) = load_cases([path])
    assert list(case.diverges) == [
        "scipy",
        "opencv",
        "mypkg.conv:conv2d",
        "plugins/my_conv.py:conv2d",
    ]


def test_misspelt_diverges_name_is_an_error_with_a_suggestion(write_cases):
    path = write_cases(SEED + "    diverges: {scipyy: kernel_flip, jx: shape}\n")
    first, second = problems_of(path)
    assert first.startswith(f"{path}: case 'seed': field 'diverges.scipyy': not a known")
    assert "did you mean 'scipy'?" in first
    assert "field 'diverges.jx'" in second
    assert "did you mean 'jax'?" in second


def test_implementation_names_are_the_registrys():
    from harness.cases.naming import BUILTIN_NAMES, PEER_NAMES
    from harness.computations.peers import PEERS
    from harness.computations.registry import BUILTINS

    assert BUILTIN_NAMES == tuple(BUILTINS)
    assert PEER_NAMES == tuple(PEERS)


@pytest.mark.parametrize(
    ("field", "spec", "axes"),
    [
        ("input", "{shape: [1, 5, 5], init: normal}", "4 axes"),
        ("input", "{shape: [5, 5], init: ones}", "4 axes"),
        ("weight", "{shape: [3, 3], init: normal}", "4 axes"),
        ("bias", "{shape: [1, 1], init: normal}", "1 axis"),
    ],
)
def test_generated_shapes_have_every_axis(write_cases, field, spec, axes):
    fields = {
        "input": "{shape: [1, 1, 5, 5], init: normal}",
        "weight": "{shape: [1, 1, 3, 3], init: normal}",
        "bias": "[0.5]",
        field: spec,
    }
    path = write_cases(
        "cases:\n  - id: gen\n" + "".join(f"    {k}: {v}\n" for k, v in fields.items())
    )
    (line,) = problems_of(path)
    assert (
        f"case 'gen': field '{field}.shape': a generated tensor's shape needs exactly {axes}"
        in line
    )


def test_literal_arrays_may_have_fewer_axes(write_cases):
    path = write_cases("""
        cases:
          - {id: lit, input: [[[1, 2], [3, 4]]], weight: [[1]], bias: [0.5]}
    """)
    (case,) = load_cases([path])
    assert (case.input_shape, case.weight_shape, case.bias_shape) == (
        (1, 1, 2, 2),
        (1, 1, 1, 1),
        (1,),
    )


def test_a_duplicate_id_is_reported_with_the_files_other_problems(write_cases):
    first = write_cases(SEED, "one.yaml")
    second = write_cases(
        """
        cases:
          - {id: seed, input: [[1]], weight: [[1]], stride: 0}
          - {id: other, input: [[1]], weight: [[1]], dtype: int8}
        """,
        "two.yaml",
    )
    lines = problems_of(first.parent)
    assert len(lines) == 3, lines
    assert lines[0].startswith(
        f"{second}: case 'seed': field 'id': duplicate id, also defined in {first}"
    )
    assert "field 'stride'" in lines[1]
    assert "case 'other': field 'dtype'" in lines[2]
