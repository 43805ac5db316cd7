"""Outside review 3: float16/bfloat16 gradients and transposed outputs, and memory layouts on
gradients and transposed ops. The plug-ins of tests/data/review3_impls run in-process
(`harness.run(..., backward=True, layouts=...)`) on the cases of tests/data/review3_cases: honest
ones must be all ok (or unsupported), buggy ones flagged with the expected cause. Expectations the
harness misses today are xfail (strict=False) with the reason.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from harness import load_cases, run

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "data" / "review3_cases"
PKG = "tests.data.review3_impls"
TENSOR_IMPLS = {
    "honest_torch32",
    "honest_upsample",
    "bug_t_weight_storage",
    "bug_bw_grad_output_storage",
}


@functools.cache
def _rows(module: str):
    cases = load_cases([str(CASES)])
    layouts = "all" if module in TENSOR_IMPLS else ()
    frame = run(cases, [f"{PKG}.{module}"], variants=False, backward=True, layouts=layouts)
    return frame[frame.implementation == f"{PKG}.{module}"]


def _fmt(frame):
    return frame[["case_id", "quantity", "layout", "status", "cause", "message"]].to_string()


@pytest.mark.parametrize("module", ["honest_np64", "honest_torch32", "honest_upsample"])
def test_honest_never_flagged(module):
    rows = _rows(module)
    assert (rows.status == "ok").any()
    bad = rows[~rows.status.isin(["ok", "unsupported"])]
    assert bad.empty, _fmt(bad)


def test_honest_upsample_transposed_all_ok():
    rows = _rows("honest_upsample")
    t = rows[rows.op.str.startswith("conv_transpose") & (rows.quantity == "output")]
    assert len(t) >= 6 * 10
    assert (t.status == "ok").all(), _fmt(t[t.status != "ok"])


def test_honest_np64_covers_every_gradient_and_transposed_output():
    rows = _rows("honest_np64")
    ok = rows[rows.status == "ok"]
    assert set(ok.quantity) == {"output", "grad_input", "grad_weight", "grad_bias"}
    assert {"float16", "bfloat16"} <= set(ok.dtype)


def _select(module, quantity, dtype=None, ops=("conv",), case_not=None):
    rows = _rows(module)
    sel = rows[(rows.quantity == quantity) & (rows.layout == "contiguous")]
    sel = sel[sel.op.str.startswith(ops)]
    if dtype:
        sel = sel[sel.dtype == dtype]
    if case_not:
        sel = sel[~sel.case_id.str.contains(case_not)]
    assert not sel.empty
    return sel


def test_bf16_grad_weight_zeros_flagged():
    sel = _select("bug_gw_zero", "grad_weight", "bfloat16", ops=("conv1d", "conv2d", "conv3d"))
    assert (sel.status == "unexpected_divergence").all(), _fmt(sel)


def test_f16_grad_bias_mean_is_bias():
    sel = _select("bug_gb_mean", "grad_bias", "float16", ops=("conv1d", "conv2d", "conv3d"))
    assert ((sel.status == "unexpected_divergence") & (sel.cause == "bias")).all(), _fmt(sel)


def test_bf16_transposed_output_halved_flagged():
    sel = _select("bug_t_half", "output", "bfloat16", ops=("conv_transpose",))
    assert (sel.status == "unexpected_divergence").all(), _fmt(sel)


def test_f16_grad_input_dropped_channel_is_depth_sum():
    sel = _select(
        "bug_gi_drop_channel",
        "grad_input",
        "float16",
        ops=("conv1d", "conv2d", "conv3d"),
        case_not="groups",
    )
    assert ((sel.status == "unexpected_divergence") & (sel.cause == "depth_sum")).all(), _fmt(sel)


def test_grouped_grad_input_dropped_channel_is_depth_sum():
    rows = _rows("bug_gi_drop_channel")
    sel = rows[
        (rows.quantity == "grad_input") & rows.case_id.str.contains("bw2d.*groups|min_bw1d_groups")
    ]
    assert len(sel) == 4
    assert ((sel.status == "unexpected_divergence") & (sel.cause == "depth_sum")).all(), _fmt(sel)


def test_transposed_weight_storage_is_layout():
    rows = _rows("bug_t_weight_storage")
    t = rows[rows.op.str.startswith("conv_transpose") & (rows.quantity == "output")]
    assert (t[t.layout == "contiguous"].status == "ok").all()
    cl = t[t.layout == "channels_last_weight"]
    assert len(cl) == 6, _fmt(t)
    assert ((cl.status == "unexpected_divergence") & (cl.cause == "layout")).all(), _fmt(cl)


def test_backward_grad_output_storage_is_layout():
    rows = _rows("bug_bw_grad_output_storage")
    g = rows[rows.quantity.str.startswith("grad_") & ~rows.op.str.startswith("conv_transpose")]
    assert (g[g.layout == "contiguous"].status == "ok").all(), _fmt(g[g.layout == "contiguous"])
    cl = g[(g.layout == "channels_last_grad_output") & (g.quantity == "grad_input")]
    assert len(cl) >= 11, _fmt(cl)
    assert ((cl.status == "unexpected_divergence") & (cl.cause == "layout")).all(), _fmt(cl)
    # a layout that leaves grad_output alone must stay ok
    w = g[g.layout == "channels_last_weight"]
    assert not w.empty
    assert (w.status == "ok").all(), _fmt(w[w.status != "ok"])


@functools.cache
def _registry_rows(module: str):
    cases = load_cases([str(ROOT / "cases")])
    frame = run(cases, [f"{PKG}.{module}"], variants=False, backward=True)
    return frame[frame.implementation == f"{PKG}.{module}"]


@pytest.mark.parametrize("module", ["honest_np64", "honest_torch32", "honest_upsample"])
def test_honest_never_flagged_on_registry(module):
    rows = _registry_rows(module)
    assert (rows.status == "ok").any()
    # accepts_invalid: honest_upsample (no validation) computes transposed_rejects_output_padding
    bad = rows[~rows.status.isin(["ok", "unsupported", "rejected", "accepts_invalid"])]
    assert bad.empty, _fmt(bad)


def test_transposed_backward_grad_output_storage_is_layout():
    rows = _rows("bug_bw_grad_output_storage")
    g = rows[rows.quantity.str.startswith("grad_") & rows.op.str.startswith("conv_transpose")]
    assert (g[g.layout == "contiguous"].status == "ok").all(), _fmt(g[g.layout == "contiguous"])
    cl = g[(g.layout == "channels_last_grad_output") & (g.quantity == "grad_input")]
    assert len(cl) == 6, _fmt(cl)
    assert ((cl.status == "unexpected_divergence") & (cl.cause == "layout")).all(), _fmt(cl)
