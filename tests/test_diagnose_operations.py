"""`diagnose` probes every operation a module defines, at every rank: conv{r}d, conv{r}d_backward,
conv_transpose{r}d and conv_transpose{r}d_backward, with probes for complex gradients, channel
counts that are not multiples of 4 or 8, depthwise with a channel multiplier; a module with
nothing to probe is exit 2; refused probes are retried in simpler forms and failures named; no
probe ends in a traceback; findings are one line each. The plug-ins are tests/data's, written for
these tests in their own styles (tap loops, scatter, sliding windows, JAX, torch wrappers)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import harness.probing.diagnose_quantities as quantities
from harness.cases import case_from_dict, torch_rejection
from harness.cases.data import materialize
from harness.computations.registry import get_implementation, implementation, resolve
from harness.probing import diagnose as diagnose_module
from harness.probing.diagnose import diagnose, human_lines
from harness.probing.diagnose_backward import backward_probes
from harness.probing.diagnose_quantities import probe_quantities, quantity_case
from harness.probing.diagnose_transposed import transposed_probes
from harness.probing.probes import probes_for
from tests.conftest import run_cli


def run_diagnose(name: str):
    return diagnose(resolve(name))


def by_label(result) -> dict:
    return {r.probe.label: r for r in result.results}


# --- the probes themselves -------------------------------------------------------------------


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_every_operation_has_probes_of_each_new_kind_at_every_rank(rank):
    """Odd channel counts (5-7 input channels per group), depthwise with a multiplier and complex
    data for the forward, its backward and the transposed convolution; the transposed probes
    also stride with output_padding, dilation and padding that differ per axis, groups, bias."""
    forward = {p.property: probe_case_of(p) for p in probes_for(rank)}
    backward = {p.property: quantity_case(p) for p in backward_probes(rank)}
    transposed = {p.property: quantity_case(p) for p in transposed_probes(rank)}
    for cases in (forward, backward, transposed):
        assert {"channels_odd", "depthwise", "complex"} <= set(cases)
        odd = cases["channels_odd"]
        per_group = odd.input_shape[1] // odd.groups
        assert 5 <= per_group <= 7
        assert per_group % 4 != 0
        depthwise = cases["depthwise"]
        c_in = depthwise.input_shape[1]
        assert depthwise.groups == c_in > 1
        assert depthwise.output_shape[1] in (2 * c_in, 3 * c_in)
        assert cases["complex"].dtype == "complex128"
        assert all(torch_rejection(c) is None for c in cases.values())
    assert any(5 <= c.input_shape[1] // c.groups <= 7 and c.groups > 1 for c in forward.values())
    stride = transposed["stride"]
    assert min(stride.stride) > 1
    assert any(stride.output_padding)
    if rank > 1:
        assert len(set(transposed["dilation"].dilation)) > 1
        assert len(set(transposed["padding"].pads[0::2])) > 1
        assert len(set(transposed["orientation_nonsquare"].kernel)) > 1
    assert transposed["groups"].groups > 1
    assert transposed["bias"].bias is not None
    # the backward of a complex probe gets a complex grad_output
    grad_output = materialize(backward["complex"]).input64  # the data are complex
    assert np.iscomplexobj(grad_output)


def probe_case_of(probe):
    from harness.probing.probes import probe_case

    return probe_case(probe)


# --- every operation a module defines is probed ------------------------------------------------


def test_a_module_with_only_a_transposed_backward_is_diagnosed_and_its_bug_found():
    """JAX's complex convention (no conjugation) in a module whose only operation is
    conv_transpose2d_backward: `conjugation`, on the complex probe only; the same loops with the
    conjugation match."""
    correct = run_diagnose("tests.data.transposed_backward_loops")
    assert (correct.verdict, correct.causes) == ("matches", [])
    assert {r.probe.op for r in correct.results} == {"conv_transpose2d_backward"}
    quantities_seen = {r.quantity for r in correct.results}
    assert quantities_seen == {"grad_input", "grad_weight", "grad_bias"}
    assert len(correct.results) >= 20

    buggy = run_diagnose("tests.data.transposed_backward_jax")
    assert (buggy.verdict, buggy.causes) == ("diverges", ["conjugation"])
    diverging = {r.probe.label for r in buggy.results if r.status == "diverges"}
    assert diverging == {
        "conv_transpose2d_backward:grad_input:complex",
        "conv_transpose2d_backward:grad_weight:complex",
    }
    lines = human_lines(buggy)
    assert lines[0].endswith(": conjugation")
    assert "matches" not in lines[0]


def test_a_backward_in_jax_convention_is_conjugation_on_complex_gradients():
    result = run_diagnose("tests.data.jax_backward")
    assert (result.verdict, result.causes) == ("diverges", ["conjugation"])
    labels = by_label(result)
    assert labels["grad_input:complex"].causes == ["conjugation"]
    assert labels["grad_weight:complex"].causes == ["conjugation"]
    assert labels["grad_input:stride"].status == "ok"  # real data: JAX agrees with torch


def test_real_only_backward_is_unsupported_on_the_complex_probe_not_failing():
    """backward_bugs.conv2d_backward casts to float64 (imaginary parts dropped): the complex probe
    is unsupported and left out of the headline; its planted grad_bias bug is still named."""
    result = run_diagnose("tests.data.backward_bugs:conv2d_backward")
    assert (result.verdict, result.causes) == ("diverges", ["bias"])
    complex_results = [r for r in result.results if r.probe.property.endswith(":complex")]
    assert complex_results
    assert {r.status for r in complex_results} == {"unsupported"}


@pytest.mark.parametrize(
    "name", ["tests.data.transposed_scatter", "tests.data.channel_bugs:exact_conv3d"]
)
def test_correct_plugins_match_every_probe(name):
    result = run_diagnose(name)
    assert (result.verdict, result.causes) == ("matches", [])
    assert {r.status for r in result.results} == {"ok"}


def test_the_torch_builtin_matches_every_operation_at_every_rank():
    result = run_diagnose("torch")
    assert (result.verdict, result.causes) == ("matches", [])
    operations = {r.probe.op for r in result.results}
    assert operations == {
        f"{stem}{rank}d{suffix}"
        for rank in (1, 2, 3)
        for stem in ("conv", "conv_transpose")
        for suffix in ("", "_backward")
    }
    assert {r.status for r in result.results} == {"ok"}


def test_a_transposed_convolution_without_the_flip_is_kernel_flip_at_every_rank():
    result = run_diagnose("tests.data.transposed_unflipped")
    assert (result.verdict, result.causes) == ("diverges", ["kernel_flip"])
    ranks = {s["rank"]: s for s in result.ranks}
    assert {r: s["causes"] for r, s in ranks.items()} == {r: ["kernel_flip"] for r in (1, 2, 3)}
    assert by_label(result)["conv_transpose3d:orientation"].causes == ["kernel_flip"]


# --- bugs that only some channel counts show ---------------------------------------------------


def test_a_tail_of_channels_dropped_after_full_blocks_shows_only_on_odd_counts():
    result = run_diagnose("tests.data.channel_bugs")
    assert (result.verdict, result.causes) == ("diverges", ["depth_sum"])
    diverging = {r.probe.property for r in result.results if r.status == "diverges"}
    assert diverging == {"channels_odd", "groups_odd"}
    odd = by_label(result)["conv3d:channels_odd"]
    assert "[4, 5, 6]" in odd.finding  # the three channels after the block of 4


def test_depthwise_with_a_multiplier_reading_o_mod_c_in_is_groups():
    result = run_diagnose("tests.data.channel_bugs:depthwise_modulo_conv2d")
    assert (result.verdict, result.causes) == ("diverges", ["groups"])
    assert {r.probe.property for r in result.results if r.status == "diverges"} == {"depthwise"}
    # an independent check of the probe: the bug changes torch's output on it
    probe = next(p for p in probes_for(2) if p.property == "depthwise")
    arrays = materialize(probe_case_of(probe))
    x, w = torch.tensor(arrays.input64), torch.tensor(arrays.weight64)
    right = F.conv2d(x, w, groups=3)
    wrong = torch.cat(
        [F.conv2d(x[:, [o % 3]], w[[o]]) for o in range(w.shape[0])], dim=1
    )  # o % C_in instead of o // 2
    assert not torch.equal(right, wrong)


# --- nothing to probe, refusals, failures, tracebacks -----------------------------------------


def test_a_module_with_nothing_to_probe_exits_2_with_one_line():
    result = run_cli("diagnose", "tests.data.no_operations")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "matches" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "defines none of" in lines[0]


def test_diagnose_without_any_operation_is_a_one_line_harness_error(monkeypatch):
    from harness.cases.errors import HarnessError

    monkeypatch.setattr(diagnose_module, "probed_operations", lambda implementation: {})
    with pytest.raises(HarnessError, match="defines no operation diagnose can probe"):
        diagnose(implementation("anything", lambda *args: None))


def test_probes_refused_on_groups_are_retried_with_one_group_and_say_so():
    result = run_diagnose("tests.data.refusing_impls")
    assert result.verdict == "matches"
    labels = by_label(result)
    for label in ("groups", "depthwise", "conv_transpose2d:groups", "conv_transpose2d:depthwise"):
        r = labels[label]
        assert r.status == "ok", label
        assert r.retried.startswith("groups 1 instead of"), r.retried
        assert "refused as given (raised ValueError: grouped convolution" in r.finding
        assert "agrees with torch" in r.finding
        assert "(as torch)" not in r.finding
    assert labels["complex"].status == labels["conv_transpose2d:complex"].status == "unsupported"
    assert "TypeError: complex inputs are not supported" in labels["complex"].finding
    head = human_lines(result)[0]
    assert "retried in simpler forms: groups" in head
    properties = result.as_json()["properties"]
    assert properties["groups"]["retried"] == "groups 1 instead of 2"
    assert "retried" not in properties["orientation"]


def test_an_error_verdict_names_the_failing_probes_and_why():
    result = run_cli("diagnose", "tests.data.refusing_impls:broken_conv_transpose2d")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    head = result.stdout.splitlines()[0]
    # every probe but the optional complex one (unsupported: real-only code may refuse it)
    assert "could not be checked: 9 probes fail" in head
    assert "raised RuntimeError: the device kernel failed to launch" in head
    assert "conv_transpose2d:orientation" in head


def test_a_gradient_of_an_impossible_shape_is_a_divergence_not_a_traceback():
    """A backward returning grad_input with its axes reversed, on a reflect-padded probe (the
    harness folds a padded grad_input back): no traceback, the shape is named."""
    result = run_cli("diagnose", "tests.data.refusing_impls_backward:conv2d_backward")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "shape" in result.stdout.splitlines()[0]


def test_an_exception_while_judging_is_the_probes_error_with_its_reason(monkeypatch):
    def cannot_broadcast(*args, **kwargs):
        raise ValueError("operands could not be broadcast together\nwith shapes (2,) (3,)")

    monkeypatch.setattr(quantities, "explain_quantity_output", cannot_broadcast)
    probe = next(p for p in transposed_probes(2) if p.property == "stride")
    unflipped = get_implementation("tests.data.transposed_unflipped:conv_transpose2d")
    (result,) = probe_quantities(unflipped, probe)
    assert result.status == "error"
    assert "could not be judged: ValueError: operands could not be broadcast together" in (
        result.finding
    )
    assert "with shapes" not in result.finding  # the first line only

    monkeypatch.setattr(diagnose_module, "explain_output", cannot_broadcast)
    flipped = get_implementation("examples.flipped_kernel:conv2d")
    probe = next(p for p in probes_for(2) if p.property == "orientation")
    forward = diagnose_module.run_probe(flipped, probe)
    assert forward.status == "error"
    assert "ValueError" in forward.finding


# --- human output --------------------------------------------------------------------------------


def test_one_line_per_finding_and_the_counterexample_named_for_its_cause():
    result = run_diagnose("examples.flipped_kernel:conv2d")
    lines = human_lines(result)
    flip_lines = [line for line in lines if line.endswith("-> kernel_flip")]
    assert len(flip_lines) == 1, flip_lines
    diverging = sum(r.status == "diverges" for r in result.results)
    assert f"also shows on {diverging - 1} other probes" in flip_lines[0]
    assert flip_lines[0].startswith("orientation:")
    assert "differs through another cause" not in "\n".join(lines)
    assert result.counterexample["id"].endswith("_kernel_flip")


def test_flipped_and_no_bias_still_names_both():
    result = run_cli("diagnose", "examples.flipped_and_no_bias")
    assert result.returncode == 1, result.stderr
    head = result.stdout.splitlines()[0]
    assert head.endswith("kernel_flip, bias"), head


# --- the `shape` leak ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "cause"),
    [
        ("rotated_conv2d", "kernel_flip"),
        ("rotated_conv3d", "kernel_flip"),
        ("stride_plus_one_conv2d", "stride"),
        ("stride_minus_one_conv3d", "stride"),
        ("dilation_minus_one_conv1d", "dilation"),
        ("dilation_d_ignored_conv3d", "dilation"),
    ],
)
def test_size_changing_bugs_are_their_family_alone(function, cause):
    result = run_diagnose(f"tests.data.shape_leak_bugs:{function}")
    assert (result.verdict, result.causes) == ("diverges", [cause])
    resized = [r for r in result.results if r.status == "diverges" and "returns shape" in r.finding]
    assert resized, "some probe's output size changes"
    assert all(r.causes == [cause] for r in resized)


@pytest.mark.parametrize(
    ("function", "fields", "cause"),
    [  # an empty batch: no values, the shape is all the evidence
        (
            "dilation_minus_one_conv1d",
            {"op": "conv1d", "input": {"shape": [0, 2, 9]}, "weight": {"shape": [3, 2, 3]},
             "dilation": 3},
            "dilation",
        ),
        (
            "stride_plus_one_conv2d",
            {"input": {"shape": [0, 1, 5, 9]}, "weight": {"shape": [2, 1, 2, 2]},
             "stride": [1, 2]},
            "stride",
        ),
        (  # an empty axis: the rotated 1x3 kernel is taller than the input
            "rotated_conv2d",
            {"input": {"shape": [1, 1, 2, 4]}, "weight": {"shape": [1, 1, 1, 3]}},
            "kernel_flip",
        ),
        (  # the rotated 1x2 kernel, dilated 2 along H, is taller than the input: an empty axis,
            # not a negative size (a reading whose size formula is negative reads nothing)
            "rotated_conv2d",
            {"input": {"shape": [1, 1, 1, 2]}, "weight": {"shape": [1, 1, 1, 2]},
             "dilation": [2, 1]},
            "kernel_flip",
        ),
        (  # every value NaN (torch's too): nothing to fit, the reading's shape decides
            "stride_minus_one_conv3d",
            {"op": "conv3d", "input": np.full([1, 1, 3, 3, 1], np.nan).tolist(),
             "weight": {"shape": [1, 1, 3, 3, 1]}, "stride": [1, 2, 1],
             "padding": [0, 0, 0, 1, 0, 0]},
            "stride",
        ),
    ],
)  # fmt: skip
def test_outputs_without_values_are_explained_by_a_family_not_shape(function, fields, cause):
    from harness.computations.calling import call_implementation
    from harness.computations.implementations import harness_pads_first
    from harness.explaining.explanation import explain_output
    from harness.verdicts.baseline import compute_baseline

    for tensor in ("input", "weight"):
        if isinstance(fields[tensor], dict):
            fields[tensor] = {"init": "normal", "seed": 3, **fields[tensor]}
    case = case_from_dict({"id": "empty_values", **fields}, source="<test>")
    arrays = materialize(case)
    baseline = compute_baseline(case, arrays)
    output = call_implementation(
        get_implementation(f"tests.data.shape_leak_bugs:{function}"), case, arrays
    ).output
    assert output is not None
    assert output.shape != baseline.output.shape
    prepadded = harness_pads_first(case, False)  # four-sided pads: the harness pads first
    assert explain_output(case, arrays, output, baseline, prepadded).causes == [cause]


def test_a_transposed_convolution_conjugating_its_kernel_is_conjugation_at_every_rank():
    result = run_diagnose("tests.data.transposed_conjugating")
    assert (result.verdict, result.causes) == ("diverges", ["conjugation"])
    diverging = {r.probe.label for r in result.results if r.status == "diverges"}
    assert diverging == {f"conv_transpose{rank}d:complex" for rank in (1, 2, 3)}


def test_run_backward_rows_of_an_impossible_grad_input_are_divergences_not_harness_faults(
    tmp_path,
):
    """The harness pads a reflect case first and folds grad_input back through the padding; a
    grad_input of another shape is not folded (it crashed the fold): a `shape` row."""
    out = tmp_path / "report.csv"
    result = run_cli(
        "run", "-k", "boundary_reflect_row_literal", "--backward", "--no-variants",
        "--impl", "tests.data.refusing_impls_backward:conv2d_backward", "--out", out,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    rows = [r for r in csv.DictReader(out.open()) if r["implementation"].startswith("tests.data")]
    grad_input = next(r for r in rows if r["quantity"] == "grad_input")
    assert (grad_input["status"], grad_input["cause"]) == ("unexpected_divergence", "shape")
    assert not any("harness fault" in r["message"] for r in rows)
