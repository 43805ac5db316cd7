"""Layouts beyond the forward convolution: transposed cases (input and weight) and gradients
(grad_output, the gradients of a laid-out input, the weight) get layout rows in `run`, torch is
right on all of them, and a plug-in that reads one tensor's storage as contiguous is caught with
cause `layout` on exactly the rows whose layout moves that tensor's memory and whose quantity
reads it; diagnose probes weights, size-1 axes, transposed convolutions and gradients."""

from __future__ import annotations

import pytest

from harness.cases import case_from_dict
from harness.cases.layouts import parse_layouts
from harness.computations.registry import resolve, resolve_implementations
from harness.probing.diagnose import diagnose
from harness.probing.layout_probe import layout_results
from harness.running.runner import RunOptions, run_case

BUGS = "tests/data/layout_role_bugs.py"
HONEST = "tests/data/layout_honest.py"

# every input and output tensor has more than one channel and distinct last two spatial sizes
SPATIAL = {1: [7], 2: [4, 5], 3: [3, 4, 5]}
KERNEL = {1: [3], 2: [2, 3], 3: [2, 2, 3]}


def _case(kind: str, rank: int, batch: int = 2):
    transposed = kind.startswith("conv_transpose")
    weight = [3, 2, *KERNEL[rank]] if transposed else [4, 3, *KERNEL[rank]]
    return case_from_dict(
        {
            "id": f"{kind}_{rank}",
            "op": f"{'conv_transpose' if transposed else 'conv'}{rank}d",
            "input": {"shape": [batch, 3, *SPATIAL[rank]], "init": "normal", "seed": 1},
            "weight": {"shape": weight, "init": "normal", "seed": 2},
            "bias": {"shape": [2 if transposed else 4], "init": "normal", "seed": 3},
            "stride": 2 if transposed else 1,
            "padding": 1,
        }
    )


# the layouts the names promise, written out: suffix -> the one role laid out
def _base(layout: str, role: str) -> str:
    for suffix in ("_grad_output", "_input", "_weight"):
        if layout.endswith(suffix):
            return layout.removesuffix(suffix) if role == suffix[1:] else "contiguous"
    whole_graph = {"channels_last", "channel_slice", "transposed", "strided"}
    if role == "grad_output" and layout not in whole_graph:
        return "contiguous"
    if layout == "expanded" and role != "input":
        return "contiguous"
    return layout


# what a quantity reads (bias never laid out by the tested names but channel_slice/strided)
READS = {
    "output": {"input", "weight"},
    "grad_input": {"grad_output", "weight"},
    "grad_weight": {"grad_output", "input"},
    "grad_bias": {"grad_output"},
}


def _misread_changes(base: str, quantity: str) -> bool:
    """Whether reading a tensor of this base layout's storage as contiguous changes a quantity
    (every tensor here has C > 1 and distinct spatial sizes)."""
    if base in ("channels_last", "channel_slice", "strided"):
        return True
    if base == "transposed":  # a spatial transpose within each channel keeps per-channel sums
        return quantity != "grad_bias"
    return False  # contiguous, expanded (N = 1: the same memory), unit_strides (size-1 axes)


def _layout_rows(name: str, case, backward: bool):
    options = RunOptions(variants=False, backward=backward, layouts=parse_layouts("all"))
    rows = run_case(case, resolve_implementations([name]), options)
    return [r for r in rows if r.implementation == name and r.variant == "as_is"]


def _expected_layouts(rank: int, gradient: bool) -> set[str]:
    names = {"channels_last", "channel_slice", "strided"}
    names |= {f"{n}_{role}" for n in set(names) for role in ("input", "weight")}
    if rank >= 2:
        names |= {"transposed", "transposed_input", "transposed_weight"}
    if gradient:
        names |= {"channels_last_grad_output", "channel_slice_grad_output", "strided_grad_output"}
        if rank >= 2:
            names.add("transposed_grad_output")
    return names


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_torch_has_ok_layout_rows_for_transposed_outputs_and_every_gradient(rank):
    for kind in ("conv", "conv_transpose"):
        case = _case(kind, rank)
        rows = _layout_rows("torch", case, backward=True)
        assert rows
        assert all(r.status == "ok" for r in rows), [r.message for r in rows]
        by_quantity: dict[str, set[str]] = {}
        for row in rows:
            by_quantity.setdefault(row.quantity, set()).add(row.layout)
        assert set(by_quantity) == {"output", "grad_input", "grad_weight", "grad_bias"}
        for quantity, layouts in by_quantity.items():
            gradient = quantity != "output"
            if kind == "conv" and not gradient:
                assert layouts == _expected_layouts(rank, False) | {"contiguous"}
                continue
            assert layouts == _expected_layouts(rank, gradient) | {"contiguous"}, quantity


PLANTED = [
    (kind, role, rank)
    for rank in (1, 2, 3)
    for kind, roles in (
        ("conv{r}d", ("input", "weight")),
        ("conv_transpose{r}d", ("input", "weight")),
        ("conv{r}d_backward", ("input", "weight", "grad_output")),
        ("conv_transpose{r}d_backward", ("input", "weight", "grad_output")),
    )
    for role in roles
]


@pytest.mark.parametrize(("kind", "role", "rank"), PLANTED)
def test_a_tensor_read_as_contiguous_is_layout_on_exactly_its_rows(kind, role, rank):
    op = kind.format(r=rank)
    name = f"{BUGS}:{role}_strides_ignored_{op}"
    backward = op.endswith("_backward")
    case = _case(op.removesuffix("_backward")[:-2], rank)
    rows = [r for r in _layout_rows(name, case, backward) if (r.quantity != "output") == backward]
    assert rows
    flagged, expected = set(), set()
    for row in rows:
        if row.status != "ok":
            assert (row.status, row.cause) == ("unexpected_divergence", "layout"), row.message
            assert f"in layout {row.layout} it differs" in row.message
            flagged.add((row.layout, row.quantity))
        if role in READS[row.quantity] and _misread_changes(_base(row.layout, role), row.quantity):
            expected.add((row.layout, row.quantity))
    assert flagged == expected
    assert ("contiguous", "grad_input" if backward else "output") not in flagged


def test_the_gradients_of_a_channels_last_input_and_a_weight_only_bug_are_named():
    case = _case("conv", 2)
    weight_bug = f"{BUGS}:weight_strides_ignored_conv2d_backward"
    rows = {(r.layout, r.quantity): r for r in _layout_rows(weight_bug, case, True)}
    # grad_input reads the weight, grad_weight does not
    assert rows[("channels_last_weight", "grad_input")].cause == "layout"
    assert rows[("channels_last_weight", "grad_weight")].status == "ok"
    assert rows[("channels_last_input", "grad_input")].status == "ok"
    honest = {(r.layout, r.quantity): r for r in _layout_rows(f"{HONEST}", case, True)}
    assert {r.status for r in honest.values()} == {"ok"}
    assert ("channels_last_input", "grad_input") in honest


def _property(result, label):
    return result.as_json()["properties"][label]


@pytest.mark.parametrize("rank", [1, 3])
def test_diagnose_finds_a_weight_only_layout_bug(rank):
    name = f"{BUGS}:weight_strides_ignored_conv{rank}d"
    result = diagnose(resolve(name))
    assert result.causes == ["layout"]
    weight = _property(result, f"conv{rank}d:weight_layout")
    assert (weight["status"], weight["causes"]) == ("diverges", ["layout"])
    assert "channels_last_weight" in weight["finding"]
    assert "strided_weight" in weight["finding"]
    size1 = _property(result, f"conv{rank}d:size1_strides")
    assert size1["status"] == "ok"  # a size-1 axis's stride moves no value it reads


def test_diagnose_finds_a_format_guessed_from_the_weight_strides():
    name = f"{BUGS}:format_from_weight_strides_conv2d"
    result = diagnose(resolve(name))
    assert result.causes == ["layout"]
    assert _property(result, "layout")["status"] == "ok"  # input and weight channels_last agree
    size1 = _property(result, "size1_strides")
    assert size1["status"] == "diverges"
    # the weight alone, then input and weight: the contiguous input read as channels-last
    layouts = "unit_strides_weight, unit_strides"
    assert size1["finding"] == f"results depend on the memory layout ({layouts})"


def test_diagnose_probes_transposed_and_backward_layouts():
    transposed = f"{BUGS}:weight_strides_ignored_conv_transpose2d"
    result = diagnose(resolve(transposed))
    found = _property(result, "conv_transpose2d:layout")
    assert (found["status"], found["causes"]) == ("diverges", ["layout"])
    assert "channels_last_input" not in found["finding"]
    assert "channels_last_weight" in found["finding"]
    gradient = f"{BUGS}:grad_output_strides_ignored_conv3d_backward"
    result = diagnose(resolve(gradient))
    found = _property(result, "conv3d_backward:gradient_layout")
    assert (found["status"], found["causes"]) == ("diverges", ["layout"])
    assert "grad_input+grad_weight+grad_bias in channels_last_grad_output" in found["finding"]
    assert "channels_last_input" not in found["finding"]


def test_diagnose_matches_an_honest_tensor_module_and_keeps_the_old_call():
    result = diagnose(resolve(HONEST))
    assert result.verdict == "matches", result.as_json()
    labels = {r.probe.label for r in result.results}
    probed = {"weight_layout", "size1_strides", "gradient_layout", "conv_transpose2d:layout"}
    assert probed <= labels
    conv1d = resolve(f"{HONEST}:conv1d")
    old = layout_results(conv1d.operation("conv1d"), conv1d.tensor_operation("conv1d"), 1)
    assert [r.probe.label for r in old] == [
        "conv1d:layout",
        "conv1d:weight_layout",
        "conv1d:size1_strides",
    ]
    assert {r.status for r in old} == {"ok"}


def test_torch_at_device_gets_gradient_layout_rows_on_its_device():
    case = _case("conv_transpose", 2)
    rows = _layout_rows("torch@cpu", case, backward=True)
    assert {r.status for r in rows} == {"ok"}
    gradient = {r.layout for r in rows if r.quantity == "grad_weight"}
    assert gradient == _expected_layouts(2, True) | {"contiguous"}


def test_pytest_matrix_ids_name_gradient_layouts():
    import subprocess
    import sys

    from tests.conftest import ROOT

    args = ["tests/test_matrix.py", "-p", "no:cacheprovider", "--conv-impl", "torch"]
    args += ["--conv-backward", "--layouts", "channels_last_grad_output,channels_last_weight"]
    args += ["--conv-cases", "cases/transposed.yaml", "-q"]
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "--co"], cwd=ROOT, capture_output=True, text=True
    )
    ids = [line for line in listed.stdout.splitlines() if "::test_matrix[" in line]
    assert any(i.endswith("-torch-grad_input@channels_last_grad_output]") for i in ids)
    assert any(i.endswith("-torch-as_is@channels_last_weight]") for i in ids)
    assert not any(i.endswith("-torch-as_is@channels_last_grad_output]") for i in ids)
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "-k", "channels_last"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stdout[-2000:]


MISBEHAVING = "tests/data/layout_misbehaving.py"


@pytest.mark.parametrize("mode", ["shape", "raise", "none", "short", "nan"])
def test_misbehaving_only_in_a_layout_is_a_row_never_a_harness_fault(mode):
    for op, rank in (("conv_transpose{r}d", 1), ("conv{r}d_backward", 3)):
        name = f"{MISBEHAVING}:{mode}_{op.format(r=rank)}"
        backward = op.endswith("_backward")
        case = _case("conv" if backward else "conv_transpose", rank)
        rows = [
            r for r in _layout_rows(name, case, backward) if (r.quantity != "output") == backward
        ]
        assert all("harness fault" not in r.message for r in rows), [r.message for r in rows]
        contiguous = [r for r in rows if r.layout == "contiguous"]
        assert {r.status for r in contiguous} == {"ok"}
        laid = [r for r in rows if r.layout != "contiguous"]
        assert laid
        changed = mode != "nan" or not backward  # its NaN replaces only a transposed output
        for row in laid:
            if changed and _moves(row.layout, backward):
                assert row.status in ("unexpected_divergence", "error"), row.message
            else:
                assert row.status == "ok", (row.layout, row.message)


def _moves(layout: str, backward: bool) -> bool:
    """Whether the tensor the plug-in checks (grad_output in a backward, else the input) is
    laid out non-contiguously by this layout (every test tensor has C > 1)."""
    base = _base(layout, "grad_output" if backward else "input")
    return base in ("channels_last", "channel_slice", "transposed", "strided")
