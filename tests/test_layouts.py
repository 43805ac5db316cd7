"""Memory layouts (harness.cases.layouts, run --layouts): every layout holds the contiguous values
with the strides it promises; the built-in torch is right in every layout; an implementation that
reads memory as contiguous NCHW is caught on the layout rows (cause `layout`) and by diagnose."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from harness.cases import load_cases
from harness.cases.errors import CaseFileError
from harness.cases.layouts import (
    GRADIENT_ROLES,
    LAYOUTS,
    apply_layout,
    base_applicable,
    parse_layouts,
    role_base,
)
from harness.computations.registry import resolve, resolve_implementations
from harness.probing.diagnose import diagnose
from harness.running.runner import RunOptions, run_case
from tests.conftest import ROOT, run_cli

BUGS = "tests/data/layout_bugs.py:conv2d"

CASES = """
cases:
  - id: lay2
    input: {shape: [2, 3, 6, 5], init: normal, seed: 1}
    weight: {shape: [4, 3, 3, 2], init: normal, seed: 2}
    bias: {shape: [4], init: normal, seed: 3}
  - id: lay2_single
    input: {shape: [1, 2, 5, 5], init: normal, seed: 4}
    weight: {shape: [3, 2, 2, 2], init: normal, seed: 5}
    padding: [1, 0]
"""


def _contiguous_strides(shape):
    strides, step = [], 1
    for size in reversed(shape):
        strides.insert(0, step)
        step *= size
    return tuple(strides)


def _expected_strides(shape, base):
    """The strides a base layout promises for a tensor of this shape."""
    if base == "contiguous":
        return _contiguous_strides(shape)
    if base in ("channels_last", "transposed"):
        ndim = len(shape)
        if base == "channels_last":
            order = [0, *range(2, ndim), 1]
        else:
            order = list(range(ndim))
            order[-1], order[-2] = order[-2], order[-1]
        stored = _contiguous_strides([shape[k] for k in order])
        strides = [0] * ndim
        for position, axis in enumerate(order):
            strides[axis] = stored[position]
        return tuple(strides)
    if base == "channel_slice":
        axis = 0 if len(shape) == 1 else 1
        wider = list(shape)
        wider[axis] += 2
        return _contiguous_strides(wider)
    if base == "strided":
        wider = list(shape)
        wider[-1] *= 2
        return tuple(
            s * (2 if k == len(shape) - 1 else 1) for k, s in enumerate(_contiguous_strides(wider))
        )
    if base == "expanded":
        return (0, *_contiguous_strides(shape[1:]))
    if base == "unit_strides":  # stride 1 on every size-1 axis, the others contiguous
        contiguous = _contiguous_strides(shape)
        return tuple(1 if size == 1 else s for size, s in zip(shape, contiguous, strict=True))
    raise AssertionError(base)


SHAPES = [(2, 3, 7), (1, 3, 7), (2, 3, 5, 4), (1, 2, 4, 3), (2, 2, 3, 4, 5), (1, 2, 3, 3, 2)]


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_every_layout_holds_the_contiguous_values_with_its_strides(layout, shape):
    rng = np.random.default_rng(0)
    arrays = {
        "input": rng.normal(size=shape),
        "weight": rng.normal(size=(4, *shape[1:])),
        "bias": rng.normal(size=4),
        "grad_output": rng.normal(size=(shape[0], 4, *shape[2:])),
    }
    for role in GRADIENT_ROLES:
        array = arrays[role]
        base = role_base(layout, role)
        if not base_applicable(array.shape, base):
            assert base in ("transposed", "expanded")
            continue
        tensor = apply_layout(array, layout, role)
        assert tuple(tensor.shape) == array.shape
        assert np.array_equal(tensor.numpy(), array)
        assert tuple(tensor.stride()) == _expected_strides(array.shape, base), (role, base)
        if base == "channel_slice":
            assert tensor.storage_offset() > 0
        if base == "channels_last" and array.ndim == 4:
            import torch

            assert tensor.is_contiguous(memory_format=torch.channels_last)


def test_parse_layouts_all_list_and_did_you_mean():
    assert parse_layouts("all") == tuple(LAYOUTS)
    assert parse_layouts("strided,channels_last") == ("channels_last", "strided")
    with pytest.raises(ValueError, match="did you mean 'channel_slice'"):
        parse_layouts("chanel_slice")


def test_layouts_field_is_validated_with_did_you_mean(write_cases):
    good = write_cases(
        """
        cases:
          - id: fixed
            input: {shape: [2, 2, 4, 4], init: normal}
            weight: {shape: [3, 2, 2, 2], init: normal}
            layouts: [channels_last, strided]
        """
    )
    (case,) = load_cases([good])
    assert case.layouts == ("channels_last", "strided")
    bad = write_cases(
        """
        cases:
          - id: fixed
            input: {shape: [2, 2, 4, 4], init: normal}
            weight: {shape: [3, 2, 2, 2], init: normal}
            layouts: [channels_lats]
        """,
        "bad.yaml",
    )
    with pytest.raises(CaseFileError, match=r"layouts\[0\].*did you mean 'channels_last'"):
        load_cases([bad])


def test_a_case_fixes_its_own_layouts_without_the_option(write_cases):
    path = write_cases(
        """
        cases:
          - id: fixed
            input: {shape: [2, 2, 4, 4], init: normal}
            weight: {shape: [3, 2, 2, 2], init: normal}
            layouts: [channels_last]
        """
    )
    (case,) = load_cases([path])
    rows = run_case(case, resolve_implementations(None), RunOptions(variants=False))
    assert [(r.implementation, r.layout) for r in rows] == [
        ("torch", "contiguous"),
        ("torch", "channels_last"),
        ("scipy", "contiguous"),
        ("reference", "contiguous"),
    ]


def test_the_stride_ignoring_implementation_is_caught_on_layout_rows(write_cases):
    cases = load_cases([write_cases(CASES)])
    options = RunOptions(variants=False, layouts=parse_layouts("all"))
    rows = [r for case in cases for r in run_case(case, resolve_implementations([BUGS]), options)]
    by_layout = {(r.case_id, r.layout): r for r in rows}
    assert by_layout[("lay2", "contiguous")].status == "ok"
    for layout in ("channels_last", "channel_slice", "channels_last_input", "strided"):
        row = by_layout[("lay2", layout)]
        assert (row.status, row.cause, row.variant) == ("unexpected_divergence", "layout", "as_is")
    assert ("lay2", "expanded") not in by_layout  # N = 2: not applicable, no row
    assert ("lay2_single", "expanded") in by_layout
    torch_rows = [
        r for case in cases for r in run_case(case, resolve_implementations(["torch"]), options)
    ]
    assert {r.status for r in torch_rows} == {"ok"}
    # every layout of input, weight or bias, but the weights have no size-1 axis
    forward = {name for name, bases in LAYOUTS.items() if set(bases) != {"contiguous"}}
    assert {r.layout for r in torch_rows} == (forward - {"unit_strides_weight"}) | {"contiguous"}


def test_diagnose_names_the_layout_dependence():
    result = diagnose(resolve(BUGS))
    layout = result.as_json()["properties"]["layout"]
    assert layout["status"] == "diverges"
    assert layout["causes"] == ["layout"]
    assert layout["finding"] == "results depend on the memory layout (channels_last, channel_slice)"
    assert "layout" in result.causes


def test_csv_layout_column_and_jobs_byte_identity(tmp_path):
    one, two, plain = tmp_path / "one.csv", tmp_path / "two.csv", tmp_path / "plain.csv"
    subset = ["cases/seed.yaml", "cases/groups.yaml"]
    first = run_cli("run", *subset, "--layouts", "all", "--jobs", "1", "--out", one)
    assert first.returncode == 0, first.stderr
    assert run_cli("run", *subset, "--layouts", "all", "--jobs", "2", "--out", two).returncode == 0
    assert one.read_bytes() == two.read_bytes()
    assert run_cli("run", *subset, "--out", plain).returncode == 0
    header = one.read_text().splitlines()[0].split(",")
    assert header[-2:] == ["op", "layout"]
    rows = list(csv.DictReader(io.StringIO(one.read_text())))
    assert {r["layout"] for r in rows if r["implementation"] != "torch"} == {"contiguous"}
    assert {r["layout"] for r in rows} > {"contiguous", "channels_last", "channel_slice"}
    assert all(r["status"] == "ok" for r in rows if r["layout"] != "contiguous")
    contiguous = [r for r in rows if r["layout"] == "contiguous"]
    assert contiguous == list(csv.DictReader(io.StringIO(plain.read_text())))


def test_unknown_layout_option_is_a_usage_error():
    result = run_cli("run", "cases/seed.yaml", "--layouts", "chanels_last", "--out", "/dev/null")
    assert result.returncode == 2
    assert "did you mean 'channels_last'" in result.stderr


def test_pytest_plugin_ids_carry_the_layout():
    args = ["tests/test_matrix.py", "-p", "no:cacheprovider", "--conv-impl", "torch"]
    args += ["--layouts", "channels_last,channel_slice", "--conv-cases", "cases/seed.yaml"]
    listed = run_pytest(*args, "--co", "-q")
    assert listed.returncode == 0, listed.stdout[-2000:]
    ids = [line for line in listed.stdout.splitlines() if "::test_matrix[" in line]
    assert any(line.endswith("-torch-as_is@channels_last]") for line in ids)
    assert any(line.endswith("-torch-as_is@channel_slice]") for line in ids)
    ran = run_pytest(*args, "-q", "-k", "as_is")
    assert ran.returncode == 0, ran.stdout[-2000:]


def run_pytest(*args):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_torch_at_device_gets_layout_rows_on_its_device(write_cases):
    cases = load_cases([write_cases(CASES)])
    options = RunOptions(variants=False, layouts=("channels_last", "channel_slice"))
    rows = run_case(cases[0], resolve_implementations(["torch@cpu"]), options)
    assert [(r.layout, r.status) for r in rows] == [
        ("contiguous", "ok"),
        ("channels_last", "ok"),
        ("channel_slice", "ok"),
    ]
