"""A NaN spread is `nan` for every quantity: the forward output and the gradients share one rule
(harness.explaining.explanation.nan_spread), and the row's message names an element where NaN/Inf
differ, not a finite element within tolerance.

tests/data/nan_spread.py spreads a NaN of the input (its forward through a kernel with zeros
inserted for the dilation, its grad_weight through a grad_output mask over the whole input) and
computes in float32: on a float32 case every finite value is within tolerance (`nan`), on a
float64 case within float32 rounding (`precision+nan`).
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.cases import case_from_dict
from harness.cases.data import generate, materialize
from harness.computations.registry import resolve_implementations
from harness.running.runner import RunOptions, run_case

PLUGIN = "tests.data.nan_spread"
NAN_AT = (0, 1, 3, 3)


def _raw(dtype: str) -> dict:
    x = np.random.default_rng(5).standard_normal((2, 3, 7, 7))
    x[NAN_AT] = np.nan
    return {
        "id": f"nan_spread_{dtype}",
        "dtype": dtype,
        "input": x.tolist(),
        "weight": {"shape": [4, 3, 3, 3], "init": "normal", "seed": 6},
        "bias": {"shape": [4], "init": "normal", "seed": 7},
        "grad_output": {"shape": [2, 4, 3, 3], "init": "normal", "seed": 8},
        "dilation": 2,
    }


@functools.cache
def _rows(dtype: str) -> dict:
    case = case_from_dict(_raw(dtype))
    rows = run_case(
        case, resolve_implementations([PLUGIN]), RunOptions(variants=False, backward=True)
    )
    return {r.quantity: r for r in rows if r.implementation == PLUGIN}


def _torch_nan(quantity: str) -> np.ndarray:
    """Where torch's output or grad_weight is NaN (float64 autograd)."""
    case = case_from_dict(_raw("float64"))
    arrays = materialize(case)
    x = torch.from_numpy(np.array(arrays.input64)).requires_grad_()
    w = torch.from_numpy(np.array(arrays.weight64)).requires_grad_()
    out = F.conv2d(x, w, torch.from_numpy(np.array(arrays.bias64)), dilation=2)
    if quantity == "output":
        return torch.isnan(out).detach().numpy()
    g = torch.from_numpy(generate(case.grad_output))
    (grad_weight,) = torch.autograd.grad(out, (w,), g)
    return torch.isnan(grad_weight).numpy()


@pytest.mark.parametrize("quantity", ["output", "grad_weight"])
def test_a_nan_spread_is_nan_and_its_message_names_a_nan_element(quantity):
    row = _rows("float32")[quantity]
    assert (row.status, row.cause) == ("unexpected_divergence", "nan"), row.message
    found = re.search(r"NaN/Inf differ at \d+ elements at index \(([\d, ]+)\)", row.message)
    assert found is not None, row.message
    index = tuple(int(i) for i in found.group(1).split(","))
    assert not _torch_nan(quantity)[index]  # torch is finite there: the spread NaN is named
    assert "every finite element within tolerance" in row.message


@pytest.mark.parametrize("quantity", ["output", "grad_weight"])
def test_a_nan_spread_computed_in_narrower_arithmetic_is_nan_and_precision(quantity):
    row = _rows("float64")[quantity]
    assert (row.status, row.cause) == ("unexpected_divergence", "precision+nan"), row.message


def test_the_gradients_that_spread_nothing_stay_ok():
    rows = _rows("float32")
    assert rows["grad_input"].status == "ok"
    assert rows["grad_bias"].status == "ok"
