"""One rounding model for every quantity (harness.verdicts.compare,
harness.explaining.quantity_rounding): the forward output, a transposed convolution's output,
grad_input, grad_weight and grad_bias, in every dtype.

Honest implementations are never flagged: torch at 1 and 2 threads, the reference, scipy, an FFT
convolution written for the test and torch autograd in float64 rounded once
(tests/data/quantity_impls.py). torch's own values zeroed, halved, averaged instead of summed or
with one channel dropped are flagged wherever that moves a value by more than the allowance; and
no allowance reaches 1/8 of |y| + q, so a zeroed or averaged quantity cannot pass on large
reductions in float16/bfloat16 (it did at K = 1024 in bfloat16 with u_dtype * sqrt(K)).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings

from harness import load_cases
from harness.cases import case_from_dict
from harness.running.backward import backward_records, variant_rows
from harness.strategies import conv_cases
from harness.verdicts.compare import UNIT_ROUNDOFF, compare
from tests.conftest import ROOT
from tests.data import quantity_impls as qi

REGISTRY = [c for c in load_cases(ROOT / "cases") if not c.rejects]


def _settings(cases):
    found = [qi.setting(c) for c in cases]
    return [s for s in found if s is not None]


def _own_and_sampled_recasts():
    """Every registry case in its own dtype (but the heaviest, with 65,600 output channels), and
    every tenth re-cast into each other dtype."""
    cases = [c for c in REGISTRY if math.prod(c.weight_shape) < 100_000]
    for case in cases[::10]:
        cases += [qi.recast(case, d) for d in qi.recast_dtypes(case)]
    return cases


def _every_recast():
    return [qi.recast(c, d) for c in REGISTRY for d in qi.recast_dtypes(c)]


def _agree(value, baseline) -> bool:
    return compare(np.asarray(value), baseline.output, baseline.tolerance).agree


def check_honest(s: qi.Setting, implementations) -> list[str]:
    """The (implementation, quantity) pairs that are flagged on this setting."""
    flagged = []
    for name in implementations:
        if name in s.case.diverges:
            continue
        values = qi.HONEST[name](s)
        for quantity, baseline in s.baselines.items():
            if quantity in values and not _agree(values[quantity], baseline):
                ratio = qi.ratio(values[quantity], baseline.output, qi.allowed(baseline))
                flagged.append(f"{s.case.id} {name} {quantity}: {ratio:.3g} x allowed")
    return flagged


def check_mutations(s: qi.Setting) -> tuple[list[str], int]:
    """Mutations of torch's values that move some element by more than twice its allowance
    (torch itself being within it) yet pass; and how many mutations were flagged."""
    torch_values = qi.HONEST["torch_1_thread"](s)
    missed, flagged = [], 0
    for (quantity, mutation), value in qi.mutations(s, torch_values).items():
        baseline = s.baselines[quantity]
        allowance = qi.allowed(baseline)
        agree = _agree(value, baseline)
        flagged += not agree
        # compare's rule, restated: flagged exactly when some element is beyond its allowance
        assert agree == (qi.ratio(value, baseline.output, allowance) <= 1), (s.case.id, quantity)
        if agree and qi.ratio(value, np.asarray(torch_values[quantity]), allowance) > 2:
            missed.append(f"{s.case.id} {quantity} {mutation}")
    return missed, flagged


def check_cap(s: qi.Setting) -> list[str]:
    """Elements whose allowance reaches 1/8 of |y| + q (beyond the FFT and subnormal terms)."""
    over = []
    for quantity, baseline in s.baselines.items():
        m = baseline.magnitudes
        dtype = baseline.dtype
        accumulation = "float32" if dtype in ("float16", "bfloat16") else dtype
        factor = 2.0 if dtype.startswith("complex") else 1.0
        spread = 8 * UNIT_ROUNDOFF[accumulation] * m.largest_terms * factor
        # above every subnormal term: two of the dtype's smallest, K of float32's
        floor = 2 * {"float16": 2.0**-24}.get(dtype, 2.0**-133) + m.reduction_length * 2.0**-126
        size = np.abs(baseline.output) + np.nan_to_num(m.term_norm)
        if (qi.allowed(baseline) > size / 8 + spread * (1 + 1e-9) + floor).any():
            over.append(f"{s.case.id} {quantity}")
    return over


FAST_HONEST = ("torch_1_thread", "fft_float64", "float64_then_rounded", "torch_in_dtype")


def test_registry_honest_implementations_agree_on_every_quantity():
    """torch on every setting, each other implementation on one setting in five, in turn (all of
    them on all settings: the slow test)."""
    flagged = []
    others = [name for name in qi.HONEST if name != "torch_1_thread"]
    for k, s in enumerate(_settings(_own_and_sampled_recasts())):
        flagged += check_honest(s, ("torch_1_thread", others[k % len(others)]))
    assert not flagged, flagged[:10]


def test_registry_mutations_flagged_beyond_the_allowance_and_cap_holds():
    missed, flagged, over, quantities = [], 0, [], 0
    for s in _settings(_own_and_sampled_recasts()):
        m, f = check_mutations(s)
        missed += m
        flagged += f
        over += check_cap(s)
        quantities += len(s.baselines)
    assert not missed, missed[:10]
    assert not over, over[:10]
    # most mutations are visible: every quantity of random data shows at least two of four
    assert flagged >= 2 * quantities


@pytest.mark.slow
def test_every_recast_dtype_honest_and_mutations():
    flagged, missed, over = [], [], []
    for s in _settings(_every_recast()):
        flagged += check_honest(s, qi.HONEST)
        missed += check_mutations(s)[0]
        over += check_cap(s)
    assert not flagged, flagged[:10]
    assert not missed, missed[:10]
    assert not over, over[:10]


def _case(op: str, dtype: str, input_shape, weight_shape, bias=True, **extra):
    raw = {
        "id": f"{op}_{dtype}",
        "op": op,
        "dtype": dtype,
        "input": {"shape": list(input_shape), "init": "normal", "seed": 3},
        "weight": {"shape": list(weight_shape), "init": "normal", "seed": 4},
        **extra,
    }
    if bias:
        channels = (
            weight_shape[1] * extra.get("groups", 1) if "transpose" in op else weight_shape[0]
        )
        raw["bias"] = {"shape": [channels], "init": "normal", "seed": 5}
    return case_from_dict(raw)


LARGE_REDUCTIONS = [  # grad_weight and grad_bias sum N * prod(output spatial) products
    _case("conv2d", "bfloat16", (4, 2, 18, 18), (3, 2, 3, 3)),  # K = 4 * 16 * 16 = 1024
    _case("conv1d", "float16", (1, 1, 65538), (2, 1, 3)),  # K = 65,536
    _case("conv3d", "bfloat16", (2, 2, 10, 10, 10), (2, 2, 3, 3, 3)),  # K = 1024
    _case("conv_transpose2d", "bfloat16", (2, 3, 16, 16), (3, 2, 3, 3), stride=2),
    _case("conv_transpose1d", "float16", (8, 2, 512), (2, 3, 5)),
    _case("conv_transpose3d", "bfloat16", (2, 2, 6, 6, 6), (2, 2, 3, 3, 3)),
]


@pytest.mark.parametrize("case", LARGE_REDUCTIONS, ids=lambda c: c.id)
def test_zeroed_halved_averaged_quantities_fail_on_large_reductions(case):
    s = qi.setting(case)
    assert s is not None
    assert set(s.baselines) == set(qi.QUANTITIES)
    torch_values = qi.HONEST["torch_1_thread"](s)
    for quantity, baseline in s.baselines.items():
        assert _agree(torch_values[quantity], baseline), quantity
        reduction = baseline.magnitudes.reduction_length
        value = np.asarray(torch_values[quantity], dtype=np.float64)
        for name, mutated in (
            ("zeroed", 0 * value),
            ("halved", value / 2),
            ("mean", value / reduction),
        ):
            assert not _agree(mutated, baseline), (quantity, name, reduction)
    assert baseline.tolerance.rtol < 1 / 8


def test_grad_bias_mean_is_visible_in_half_precision_and_identical_values_do_not_change():
    for dtype in ("float16", "bfloat16"):
        case = _case("conv2d", dtype, (2, 3, 6, 6), (4, 3, 3, 3))  # 32 positions per channel
        s = qi.setting(case)
        grad_bias = s.baselines["grad_bias"]
        variants = [
            ("grad_bias_mean", "grad_bias", "bias", grad_bias.exact / 32),
            ("grad_bias_mean", "grad_bias", "bias", grad_bias.output),  # the same values
        ]
        mean, same = variant_rows(case, s.baselines, variants)
        assert (mean.observed, mean.cause) == ("diverge", "bias"), mean.message
        assert (same.observed, same.status) == ("agree", "ok")
        assert same.message.startswith("grad_bias_mean does not change this case's grad_bias")


def test_variant_row_that_changes_values_within_the_allowance_says_so():
    case = _case("conv2d", "bfloat16", (2, 3, 6, 6), (4, 3, 3, 3))
    s = qi.setting(case)
    exact = s.baselines["grad_bias"].exact
    step = np.abs(s.baselines["grad_bias"].output) * 2.0**-7  # one bfloat16 unit in the last place
    rows = variant_rows(case, s.baselines, [("grad_bias_mean", "grad_bias", "bias", exact + step)])
    assert rows[0].observed == "agree"
    assert "does not change" not in rows[0].message
    largest = float(np.max(step))
    assert f"by at most {largest:.3g}, within the rounding allowance" in rows[0].message


def test_registry_half_precision_grad_bias_mean_rows_diverge_with_cause_bias():
    options = dataclasses.make_dataclass("Options", [("timeout", object), ("variants", bool)])
    for case in REGISTRY:
        if case.dtype in ("float16", "bfloat16") and case.bias is not None and not case.transposed:
            s = qi.setting(case)
            if s is None:
                continue
            rows = backward_records(case, [], s.arrays, options(None, True))
            mean = [r for r in rows if r.variant == "grad_bias_mean"]
            positions = case.output_shape[0] * math.prod(case.output_shape[2:])
            if positions > 1:
                assert (mean[0].observed, mean[0].cause) == ("diverge", "bias"), case.id


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(conv_cases(case_id="drawn"))
def test_drawn_configurations_honest_on_every_quantity(raw):
    s = qi.setting(case_from_dict(raw))
    if s is None:
        return
    assert not check_honest(s, (*FAST_HONEST, "reference"))


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(qi.transposed_cases())
def test_drawn_transposed_configurations_honest_on_every_quantity(raw):
    try:
        case = case_from_dict(raw)
    except Exception:  # an output size of zero or less: not a configuration torch accepts
        assume(False)
    s = qi.setting(case)
    if s is None:
        return
    assert not check_honest(s, (*FAST_HONEST, "reference"))
