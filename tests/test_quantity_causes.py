"""Bug families for every quantity, judged with plug-ins written apart from the harness's
explanations (tests/data/gradient_bugs, cases in tests/data/gradient_cases): each buggy
plug-in plants one mistake of one family in the gradients or the transposed convolution, at
ranks 1, 2 and 3, in several styles (tap loops, im2col, FFT, autograd through a misconfigured
F.conv_transposeNd, a custom autograd.Function).

- The plug-ins themselves are checked against torch computed here (autograd through F.convNd,
  F.conv_transposeNd): a planted quantity differs, every other one matches.
- `run --backward` must name exactly the planted family on each planted quantity and leave the
  others ok; correct plug-ins are ok everywhere; a module with only conv_transpose2d_backward is
  run.
- `diagnose` must name the same cause (a separate test).
"""

from __future__ import annotations

import functools
import importlib
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness import load_cases, run
from harness.cases.data import materialize
from harness.cli import main as cli_main
from harness.running.backward import grad_output_arrays
from tests.conftest import ROOT
from tests.data.gradient_bugs import CORRECT, EXPECTED, FAMILIES

PACKAGE = "tests.data.gradient_bugs"
CASES_DIR = ROOT / "tests" / "data" / "gradient_cases"
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


@functools.cache
def cases_by_id():
    return {case.id: case for case in load_cases([CASES_DIR])}


def expectations():
    for module, by_case in EXPECTED.items():
        for case_id, by_quantity in by_case.items():
            for quantity, cause in by_quantity.items():
                yield pytest.param(
                    module, case_id, quantity, cause, id=f"{module}-{case_id}-{quantity}"
                )


# --- torch, computed here ----------------------------------------------------------------------


def _compact(values):
    return values[0] if len(set(values)) == 1 else tuple(values)


def _arguments(case):
    """The keyword arguments the plug-in contract gives (one int when every axis agrees)."""
    config = {
        "stride": _compact(case.stride),
        "padding": _compact(case.pads[0::2]),
        "dilation": _compact(case.dilation),
        "groups": case.groups,
    }
    if case.transposed:
        config["output_padding"] = _compact(case.output_padding)
    return config


def _inputs(case):
    arrays = materialize(case)
    g, _ = grad_output_arrays(case)
    bias = None if arrays.bias is None else np.array(arrays.bias)
    return np.array(g), np.array(arrays.input), np.array(arrays.weight), bias


@functools.cache
def torch_quantities(case_id: str) -> dict[str, np.ndarray]:
    """output and the gradients, by torch.autograd in float64/complex128."""
    case = cases_by_id()[case_id]
    g, x, w, b = _inputs(case)
    config = _arguments(case)
    tensors = [None if a is None else torch.from_numpy(a).requires_grad_() for a in (x, w, b)]
    xt, wt, bt = tensors
    if case.transposed:
        y = TRANSPOSE[case.rank](
            xt,
            wt,
            bt,
            config["stride"],
            config["padding"],
            config["output_padding"],
            config["groups"],
            config["dilation"],
        )
    else:
        y = CONV[case.rank](
            xt, wt, bt, config["stride"], config["padding"], config["dilation"], config["groups"]
        )
    leaves = [t for t in tensors if t is not None]
    grads = torch.autograd.grad(y, leaves, torch.from_numpy(g))
    values = {"output": y.detach().numpy()}
    values.update(
        zip(("grad_input", "grad_weight", "grad_bias"), (t.numpy() for t in grads), strict=False)
    )
    return values


@functools.cache
def plugin_quantities(module_name: str, case_id: str) -> dict[str, np.ndarray]:
    """What the plug-in's own operations give on the case, called as the contract says."""
    case = cases_by_id()[case_id]
    module = importlib.import_module(f"{PACKAGE}.{module_name}")
    g, x, w, b = _inputs(case)
    config = _arguments(case)
    values = {}
    forward = getattr(module, case.op, None)
    backward = getattr(module, f"{case.op}_backward", None)
    if forward is not None and getattr(forward, "accepts_tensors", False):
        tensors = [None if a is None else torch.from_numpy(a).requires_grad_() for a in (x, w, b)]
        y = forward(*tensors, **config)
        values["output"] = y.detach().numpy()
        grads = torch.autograd.grad(y, [t for t in tensors if t is not None], torch.from_numpy(g))
        values.update(
            zip(
                ("grad_input", "grad_weight", "grad_bias"), (t.numpy() for t in grads), strict=False
            )
        )
        return values
    if forward is not None:
        values["output"] = np.asarray(forward(x, w, b, **config))
    if backward is not None:
        gradients = backward(g, x, w, b, **config)
        for quantity, value in zip(
            ("grad_input", "grad_weight", "grad_bias"), gradients, strict=True
        ):
            if value is not None:
                values[quantity] = np.asarray(value)
    return values


def _difference(value, expected) -> float:
    """max |value - expected| relative to the expected values' scale; inf for another shape."""
    if value.shape != expected.shape:
        return np.inf
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    return float(np.max(np.abs(value - expected), initial=0.0)) / scale


# --- the plug-ins, checked independently ------------------------------------------------------


@pytest.mark.parametrize(("module", "case_id", "quantity", "cause"), list(expectations()))
def test_plugin_differs_from_torch_exactly_where_planted(module, case_id, quantity, cause):
    expected = torch_quantities(case_id)[quantity]
    value = plugin_quantities(module, case_id)[quantity]
    difference = _difference(value, expected)
    if cause == "ok":
        assert difference < 1e-10, f"{module} {quantity} should match torch: {difference}"
    elif cause == "precision":  # float32 arithmetic: off by rounding only
        assert 1e-12 < difference < 1e-5, f"{module} {quantity}: {difference}"
    else:
        assert difference > 1e-3, f"{module} {quantity} should differ from torch: {difference}"


def _rank_cases(rank: int) -> list[str]:
    return sorted(case_id for case_id, case in cases_by_id().items() if case.rank == rank)


@pytest.mark.parametrize(("module", "rank"), CORRECT)
def test_correct_plugin_matches_torch_on_every_case_of_its_rank(module, rank):
    checked = 0
    for case_id in _rank_cases(rank):
        expected = torch_quantities(case_id)
        for quantity, value in plugin_quantities(module, case_id).items():
            assert _difference(value, expected[quantity]) < 1e-10, (module, case_id, quantity)
            checked += 1
    assert checked >= 40  # every family's conv and transposed case, every quantity


def test_every_family_is_planted_in_every_quantity_at_every_rank():
    """The table covers each (family, quantity) pair and each family at ranks 1, 2 and 3."""
    seen: dict[str, set] = {}
    for module, by_case in EXPECTED.items():
        family, _, rank = module.rpartition("_")
        if family not in FAMILIES:
            continue
        for case_id, by_quantity in by_case.items():
            kind = "transposed" if case_id.endswith("_transposed") else "conv"
            for quantity, cause in by_quantity.items():
                if cause != "ok":
                    seen.setdefault(cause, set()).add((kind, quantity, rank))
    every_geometric = {
        ("conv", "grad_input"),
        ("conv", "grad_weight"),
        ("transposed", "output"),
        ("transposed", "grad_input"),
        ("transposed", "grad_weight"),
    }
    for cause in ("groups", "dilation", "stride", "padding", "depth_sum", "kernel_flip"):
        assert {(kind, quantity) for kind, quantity, _ in seen[cause]} == every_geometric, cause
        assert {rank for *_, rank in seen[cause]} == {"1d", "2d", "3d"}, cause
    assert {(kind, quantity) for kind, quantity, _ in seen["conjugation"]} == every_geometric
    assert {(kind, quantity) for kind, quantity, _ in seen["bias"]} == {
        ("conv", "grad_bias"),
        ("transposed", "output"),
        ("transposed", "grad_bias"),
    }
    assert {rank for *_, rank in seen["bias"]} == {"1d", "2d", "3d"}


# --- run --backward ------------------------------------------------------------------------------


@functools.cache
def report_rows(module: str):
    """The report's rows of the plug-in module on its own cases (run --backward)."""
    name = f"{PACKAGE}.{module}"
    cases = [cases_by_id()[case_id] for case_id in EXPECTED[module]]
    frame = run(cases, [name], variants=False, backward=True)
    return frame[(frame.implementation == name) & (frame.variant == "as_is")]


def _row(module, case_id, quantity):
    rows = report_rows(module)
    chosen = rows[(rows.case_id == case_id) & (rows.quantity == quantity)]
    assert len(chosen) == 1, f"{len(chosen)} rows for {module} {case_id} {quantity}"
    return chosen.iloc[0]


@pytest.mark.parametrize(("module", "case_id", "quantity", "cause"), list(expectations()))
def test_run_backward_names_exactly_the_planted_cause(module, case_id, quantity, cause):
    row = _row(module, case_id, quantity)
    if cause == "ok":
        assert row.status == "ok", row.message
    else:
        assert (row.status, row.cause) == ("unexpected_divergence", cause), row.message


@pytest.mark.parametrize(("module", "rank"), CORRECT)
def test_correct_plugins_are_ok_in_run_backward(module, rank):
    name = f"{PACKAGE}.{module}"
    defines_forward = hasattr(importlib.import_module(f"{PACKAGE}.{module}"), f"conv{rank}d")
    cases = [cases_by_id()[case_id] for case_id in _rank_cases(rank)]
    frame = run(cases, [name], variants=False, backward=True)
    rows = frame[frame.implementation == name]
    ok = rows[rows.status == "ok"]
    others = rows[rows.status != "ok"]
    # only the forward conv of a module that defines none is unsupported
    assert set(others.status) <= {"unsupported"}, others[["case_id", "quantity", "message"]]
    assert set(others.quantity) <= {"output"}
    assert others.empty or not defines_forward
    assert not others.op.str.startswith("conv_transpose").any()
    assert len(ok) >= 50


def test_a_module_with_only_conv_transpose2d_backward_gets_its_gradient_rows():
    rows = report_rows("only_transpose_backward_2d")
    by_quantity = {row.quantity: row for row in rows.itertuples()}
    assert by_quantity["output"].status == "unsupported"  # it defines no conv_transpose2d
    assert by_quantity["grad_weight"].status == "ok"
    assert by_quantity["grad_bias"].status == "ok"
    assert by_quantity["grad_input"].status == "unexpected_divergence"


# --- diagnose ------------------------------------------------------------------------------------


def diagnosed_modules():
    for module, by_case in EXPECTED.items():
        causes = {c for by_q in by_case.values() for c in by_q.values()} - {"ok"}
        yield pytest.param(module, sorted(causes), id=module)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize(("module", "causes"), list(diagnosed_modules()))
def test_diagnose_names_the_planted_cause(module, causes, capsys):
    code = cli_main(["diagnose", f"{PACKAGE}.{module}", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1, report["verdict"]
    assert report["causes"] == causes


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize(("module", "rank"), CORRECT)
def test_diagnose_finds_correct_plugins_match(module, rank, capsys):
    code = cli_main(["diagnose", f"{PACKAGE}.{module}", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["verdict"]) == (0, "matches"), report["causes"]


def test_the_command_line_gives_the_rows_the_api_gives(tmp_path):
    """`python -m harness run FILE --backward --impl MODULE` writes the rows harness.run returns
    (the same statuses and causes), so the expectations above hold for the command too."""
    from harness.reporting.report import read_csv

    module = "stride_3d"
    out = tmp_path / "report.csv"
    code = cli_main(
        [
            "run",
            str(CASES_DIR / "stride.yaml"),
            "-k",
            "gb_stride_3d",
            "--backward",
            "--no-variants",
            "--impl",
            f"{PACKAGE}.{module}",
            "--out",
            str(out),
        ]
    )
    assert code == 1  # its planted quantities diverge
    written = read_csv(out)
    written = written[written.implementation == f"{PACKAGE}.{module}"]
    columns = ["case_id", "quantity", "status", "cause"]
    from_api = report_rows(module)[columns].fillna("").reset_index(drop=True)
    from_cli = written[columns].fillna("").reset_index(drop=True)
    assert from_cli.to_dict("records") == from_api.to_dict("records")
