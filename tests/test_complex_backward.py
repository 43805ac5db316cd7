"""Gradients of complex cases (`run --backward`): torch's conjugate vector-Jacobian products.

For y = conv(x, w) + b and grad_output g, torch gives grad_input from conj(w) (the real formula
with the weight conjugated), grad_weight from conj(x), grad_bias the plain sum of g; the
transposed convolution is a plain sum of products. A hand-worked 1-D example against
harness.computations.gradients, harness.computations.scipy_gradients and torch autograd, then random
complex configurations (every rank, groups, stride, dilation, padding modes, transposed) through
`run_case`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.cases import case_from_dict
from harness.computations import gradients, scipy_gradients
from harness.computations.registry import resolve_implementations
from harness.running.runner import RunOptions, run_case

BUILTINS = resolve_implementations(None)
X = [1 + 1j, 2 - 1j, 3j, -1]  # (N, C, L) = (1, 1, 4)
W = [1 + 2j, 3 - 1j]  # a 2-tap kernel
G = [1 - 1j, 2, 1j]  # grad_output, 4 - 2 + 1 = 3 outputs
B = [0.5 - 2j]


def _by_hand():
    """grad_input[p] = sum over i + t = p of g[i] * conj(w[t]); grad_weight[t] = sum_i g[i] *
    conj(x[i + t]); grad_bias = sum_i g[i]: plain Python complex arithmetic."""
    grad_input = [0j] * len(X)
    grad_weight = [0j] * len(W)
    for i, g in enumerate(G):
        for t, w in enumerate(W):
            grad_input[i + t] += g * w.conjugate()
            grad_weight[t] += g * X[i + t].conjugate()
    return grad_input, grad_weight, [sum(G)]


def test_the_hand_worked_example():
    grad_input, grad_weight, grad_bias = _by_hand()
    # worked on paper: (1-1j)(1-2j) = -1-3j; (1-1j)(3+1j) + 2(1-2j) = 6-6j; ...
    assert grad_input == [-1 - 3j, 6 - 6j, 8 + 3j, -1 + 3j]
    assert grad_weight == [7 + 0j, 3 - 8j]
    assert grad_bias == [3 + 0j]


@pytest.mark.parametrize("module", [gradients, scipy_gradients], ids=["reference", "scipy"])
def test_the_hand_worked_example_in_the_harness_and_in_torch(module):
    x, w, b, g = (np.array(v, np.complex128)[None, None] for v in (X, W, B, G))
    b = b[0, 0]
    expected = _by_hand()
    harness = module.conv_backward(g, x, w, b)
    xt, wt, bt = (torch.tensor(v).requires_grad_() for v in (x, w, b))
    torch_grads = torch.autograd.grad(F.conv1d(xt, wt, bt), (xt, wt, bt), torch.tensor(g))
    for mine, theirs, hand in zip(harness, torch_grads, expected, strict=True):
        assert np.allclose(mine.ravel(), hand, rtol=0, atol=1e-12)
        assert np.allclose(theirs.numpy().ravel(), hand, rtol=0, atol=1e-12)


def test_the_hand_worked_example_through_run():
    case = case_from_dict(
        {
            "id": "complex_by_hand",
            "op": "conv1d",
            "dtype": "complex128",
            "input": [str(v) for v in X],
            "weight": [str(v) for v in W],
            "bias": [str(v) for v in B],
            "grad_output": [str(v) for v in G],
        }
    )
    rows = run_case(case, BUILTINS, RunOptions(backward=True))
    grads = [r for r in rows if r.variant == "as_is" and r.quantity != "output"]
    assert len(grads) == 3 * len(BUILTINS)
    assert all(r.status == "ok" and r.max_abs_diff < 1e-14 for r in grads), grads


def _random(shape, seed):
    return {"shape": shape, "init": "normal", "seed": seed}


# (op, input, weight, extra fields): every rank, groups, stride, dilation, padding modes
CONFIGS = [
    ("conv1d", [2, 4, 9], [6, 2, 3], {"groups": 2, "stride": 2, "padding": 1}),
    ("conv1d", [1, 2, 8], [3, 2, 4], {"padding": 2, "padding_mode": "circular", "dilation": 2}),
    ("conv2d", [2, 3, 7, 6], [4, 3, 3, 3], {"padding": 1}),
    ("conv2d", [2, 4, 9, 8], [6, 2, 3, 2], {"groups": 2, "stride": [2, 1], "dilation": [1, 2]}),
    ("conv2d", [1, 2, 6, 7], [3, 2, 3, 3], {"padding": 1, "padding_mode": "reflect"}),
    ("conv2d", [1, 2, 5, 5], [2, 1, 2, 2], {"groups": 2, "padding": [1, 0], "stride": 2}),
    ("conv2d", [1, 3, 6, 6], [3, 3, 3, 3], {"padding": "same", "padding_mode": "replicate"}),
    ("conv3d", [1, 2, 5, 4, 6], [2, 2, 2, 3, 2], {"padding": 1, "stride": [1, 2, 1]}),
    ("conv3d", [1, 2, 4, 5, 4], [4, 1, 2, 2, 2], {"groups": 2, "dilation": 2, "padding": 1}),
    ("conv_transpose1d", [2, 3, 7], [3, 2, 3], {"stride": 2, "padding": 1}),
    ("conv_transpose2d", [2, 4, 5, 5], [4, 3, 3, 3], {"stride": 2, "output_padding": 1}),
    ("conv_transpose2d", [1, 4, 4, 6], [4, 2, 2, 3], {"groups": 2, "dilation": 2, "stride": 3}),
    ("conv_transpose3d", [1, 2, 3, 4, 3], [2, 2, 2, 2, 3], {"stride": [2, 1, 2], "padding": 1}),
]


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("config", range(len(CONFIGS)))
def test_random_complex_configurations_are_ok_in_every_row(config, dtype):
    op, input_shape, weight_shape, fields = CONFIGS[config]
    transposed = op.startswith("conv_transpose")
    channels = weight_shape[1] * fields.get("groups", 1) if transposed else weight_shape[0]
    case = case_from_dict(
        {
            "id": f"complex_{op}_{config}",
            "op": op,
            "dtype": dtype,
            "input": _random(input_shape, 10 * config + 1),
            "weight": _random(weight_shape, 10 * config + 2),
            "bias": _random([channels], 10 * config + 3),
            **fields,
        }
    )
    rows = run_case(case, BUILTINS, RunOptions(backward=True))
    quantities = {r.quantity for r in rows if r.variant == "as_is"}
    assert quantities == {"output", "grad_input", "grad_weight", "grad_bias"}
    as_is = [r for r in rows if r.variant == "as_is"]
    assert len(as_is) == 4 * len(BUILTINS)
    bad = [(r.implementation, r.quantity, r.status, r.message) for r in as_is if r.status != "ok"]
    assert not bad, bad
    faults = [(r.variant, r.message) for r in rows if "harness fault" in r.message]
    assert not faults, faults
    assert all(r.status == "ok" for r in rows), [(r.variant, r.status) for r in rows]


def test_a_complex_transposed_case_matches_torch_without_conjugation():
    case = case_from_dict(
        {
            "id": "complex_transposed",
            "op": "conv_transpose2d",
            "dtype": "complex128",
            "input": _random([1, 2, 3, 4], 7),
            "weight": _random([2, 2, 2, 3], 8),
            "stride": 2,
        }
    )
    rows = run_case(case, BUILTINS, RunOptions(backward=True, variants=False))
    assert {r.status for r in rows} == {"ok"}
    assert len(rows) == 3 * len(BUILTINS)  # output, grad_input, grad_weight (no bias)
    torch_rows = [r for r in rows if r.implementation == "torch"]
    assert all(r.max_abs_diff < 1e-13 for r in torch_rows), torch_rows
    x = np.array([[[1 + 1j]]])
    w = np.array([[[2 - 1j, 1j]]])
    out = gradients.conv_transpose(x, w)  # a plain product: (1+1j)(2-1j) = 3+1j, (1+1j)1j = -1+1j
    assert out.ravel().tolist() == [3 + 1j, -1 + 1j]
    assert F.conv_transpose1d(torch.tensor(x), torch.tensor(w)).numpy().ravel().tolist() == [
        3 + 1j,
        -1 + 1j,
    ]
