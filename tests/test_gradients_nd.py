"""harness.computations.gradients in 1-D and 3-D (and its 2-D names on other ranks): the backward
pass and the transposed convolution worked out by hand on tiny cases, and against torch's autograd
(F.pad + F.conv1d/conv3d, F.conv_transpose1d/3d) on seeded random configurations.

The padding torch gets is computed here from the drawn form, not by harness.computations.reference.
Comparisons in float64 to 1e-10 absolute.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.computations import gradients

MODES = ["zeros", "reflect", "replicate", "circular"]
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TRANSPOSED = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """torch on one thread: its thread pool costs ~0.1 s per tiny grouped call on a busy
    machine, and these cases are tiny."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tensors(*arrays):
    return [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]


def autograd(y, inputs, gy):
    """The gradients of y for grad_output gy, one per input (None for a missing bias)."""
    present = [t for t in inputs if t is not None]
    grads = iter(torch.autograd.grad(y, present, torch.from_numpy(gy)))
    return [None if t is None else next(grads).numpy() for t in inputs]


def assert_gradients(got, expected, what) -> None:
    for name, g, e in zip(("grad_input", "grad_weight", "grad_bias"), got, expected, strict=True):
        if e is None:
            assert g is None, f"{what}: {name} should be None"
        else:
            assert g.shape == e.shape, f"{what}: {name} shape"
            np.testing.assert_allclose(g, e, rtol=0, atol=1e-10, err_msg=f"{what}: {name}")


def draw_groups(rng):
    kind = rng.choice(["plain", "grouped", "depthwise"])
    if kind == "depthwise":
        groups = int(rng.integers(1, 4))
        return groups, groups, groups * int(rng.integers(1, 3))
    groups = 1 if kind == "plain" else int(rng.integers(2, 4))
    return groups, groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))


def draw_conv(rng, rank: int):
    """A convolution of `rank` axes with its padding flat (before, after per axis), or 'same' /
    'valid' (stride 1), every mode, groups, odd/even kernels, sometimes one spanning an axis."""
    groups, c_in, c_out = draw_groups(rng)
    sizes = [int(v) for v in rng.integers(2, 6 if rank == 3 else 10, rank)]
    kernel = [int(v) for v in rng.integers(1, 4, rank)]
    stride = [int(v) for v in rng.integers(1, 4, rank)] if rng.random() < 0.6 else [1] * rank
    dilation = [int(v) for v in rng.integers(1, 3, rank)]
    pads = [int(v) for v in rng.integers(0, 3, 2 * rank)]
    if rng.random() < 0.2:  # kernel spanning the whole padded axis
        axis = int(rng.integers(rank))
        dilation[axis], kernel[axis] = 1, sizes[axis] + pads[2 * axis] + pads[2 * axis + 1]
    padding: object = tuple(pads)
    if rng.random() < 0.2 and stride == [1] * rank:
        padding = str(rng.choice(["same", "valid"]))
        totals = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
        pads = (
            [p for t in totals for p in (t // 2, t - t // 2)]
            if padding == "same"
            else [0] * 2 * rank
        )
    x = rng.standard_normal((int(rng.integers(1, 3)), c_in, *sizes))
    w = rng.standard_normal((c_out, c_in // groups, *kernel))
    b = rng.standard_normal(c_out) if rng.random() < 0.5 else None
    mode = str(rng.choice(MODES))
    return x, w, b, tuple(stride), padding, tuple(pads), tuple(dilation), groups, mode


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_conv_backward_matches_autograd(rank):
    rng = np.random.default_rng(40 + rank)
    checked, modes = 0, set()
    for _ in range(120):
        x, w, b, stride, padding, pads, dilation, groups, mode = draw_conv(rng, rank)
        xt, wt, bt = tensors(x, w, b)
        torch_order = [p for axis in reversed(range(rank)) for p in pads[2 * axis : 2 * axis + 2]]
        try:
            padded = F.pad(xt, torch_order, mode="constant" if mode == "zeros" else mode)
            y = CONV[rank](padded, wt, bt, stride, 0, dilation, groups)
        except RuntimeError:  # refused by torch: refused here too
            with pytest.raises(ValueError, match=r"larger than|smaller than|wraps more"):
                gradients.conv_backward(
                    np.zeros(1), x, w, b, stride, padding, dilation, groups, mode
                )
            continue
        gy = rng.standard_normal(tuple(y.shape))
        got = gradients.conv_backward(gy, x, w, b, stride, padding, dilation, groups, mode)
        assert_gradients(got, autograd(y, [xt, wt, bt], gy), (stride, padding, dilation, mode))
        checked += 1
        modes.add(mode)
    assert checked >= 80
    assert modes == set(MODES)


def draw_transposed(rng, rank: int):
    groups, c_in, c_out = draw_groups(rng)
    sizes = [int(v) for v in rng.integers(1, 5 if rank == 3 else 8, rank)]
    kernel = [int(v) for v in rng.integers(1, 5, rank)]
    stride = [int(v) for v in rng.integers(1, 4, rank)]
    dilation = [int(v) for v in rng.integers(1, 3, rank)]
    padding = [int(v) for v in rng.integers(0, 3, rank)]
    output_padding = [
        int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation, strict=True)
    ]
    x = rng.standard_normal((int(rng.integers(1, 3)), c_in, *sizes))
    w = rng.standard_normal((c_in, c_out // groups, *kernel))
    b = rng.standard_normal(c_out) if rng.random() < 0.5 else None
    params = (tuple(stride), tuple(padding), tuple(output_padding), groups, tuple(dilation))
    if rng.random() < 0.2:  # ints for every parameter
        params = (stride[0], padding[0], min(output_padding[0], max(stride[0], dilation[0]) - 1),
                  groups, dilation[0])  # fmt: skip
    return x, w, b, params


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_conv_transpose_and_its_backward_match_torch(rank):
    rng = np.random.default_rng(60 + rank)
    checked = with_output_padding = 0
    for _ in range(150):
        x, w, b, params = draw_transposed(rng, rank)
        xt, wt, bt = tensors(x, w, b)
        try:
            y = TRANSPOSED[rank](xt, wt, bt, *params)
        except RuntimeError:  # refused by torch: refused here too
            with pytest.raises(ValueError, match=r"output size|output_padding"):
                gradients.conv_transpose(x, w, b, *params)
            continue
        got = gradients.conv_transpose(x, w, b, *params)
        assert got.shape == tuple(y.shape)
        np.testing.assert_allclose(got, y.detach().numpy(), rtol=0, atol=1e-10, err_msg=str(params))
        gy = rng.standard_normal(tuple(y.shape))
        backward = gradients.conv_transpose_backward(gy, x, w, b, *params)
        assert_gradients(backward, autograd(y, [xt, wt, bt], gy), params)
        checked += 1
        with_output_padding += np.any(np.asarray(params[2]) > 0)
    assert checked >= 90  # the rest refused alike by torch and here (no positive output size)
    assert with_output_padding >= 25


def test_1d_backward_by_hand():
    # y[i] = x[i] + 10*x[i+1] for x = 1, 2, 3, 4; grad_output gy = 1, 100, 10000
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    w = np.array([[[1.0, 10.0]]])
    gy = np.array([[[1.0, 100.0, 10000.0]]])
    grad_input, grad_weight, grad_bias = gradients.conv_backward(gy, x, w, np.zeros(1))
    # grad_x[p] = sum_i gy[i]*w[p - i]: 1, 10 + 100, 1000 + 10000, 100000 (the true convolution)
    assert grad_input.ravel().tolist() == [1.0, 110.0, 11000.0, 100000.0]
    # grad_w[t] = sum_i gy[i]*x[i + t]: 1 + 200 + 30000, 2 + 300 + 40000
    assert grad_weight.ravel().tolist() == [30201.0, 40302.0]
    assert grad_bias.tolist() == [10101.0]
    # stride 2 over x = 1..5 with w = (1, 10): y = (x0 + 10*x1, x2 + 10*x3), gy = (1, 100);
    # x4 is read by no window: its gradient is exactly zero
    x5 = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    grad_input, grad_weight, _ = gradients.conv2d_backward(
        np.array([[[1.0, 100.0]]]), x5, w, None, 2
    )
    assert grad_input.ravel().tolist() == [1.0, 10.0, 100.0, 1000.0, 0.0]
    assert grad_weight.ravel().tolist() == [1.0 + 300.0, 2.0 + 400.0]


def test_1d_transposed_by_hand():
    # out[p] = sum over 2i + t = p of x[i]*w[t], x = (1, 2), w = (1, 10, 100), stride 2:
    # p = 0: 1; 1: 10; 2: 100 + 2; 3: 20; 4: 200
    x, w = np.array([[[1.0, 2.0]]]), np.array([[[1.0, 10.0, 100.0]]])
    assert gradients.conv_transpose(x, w, None, 2).ravel().tolist() == [1, 10, 102, 20, 200]
    # padding 1 crops one element at each end (10, 102, 20); output_padding 1 gives one back
    # after them: 10, 102, 20, 200
    out = gradients.conv_transpose2d(x, w, None, 2, 1, 1)
    assert out.ravel().tolist() == [10, 102, 20, 200]
    # its backward for grad_output g = (1, 2, 3, 4): grad_x[i] = sum_t g[2i + t - 1]*w[t]
    # (g[-1] = 0): x0: 0*1 + 1*10 + 2*100 = 210; x1: 2*1 + 3*10 + 4*100 = 432
    g = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    grad_input, grad_weight, _ = gradients.conv_transpose_backward(g, x, w, None, 2, 1, 1)
    assert grad_input.ravel().tolist() == [210.0, 432.0]
    # grad_w[t] = sum_i x[i]*g[2i + t - 1]: t = 0: 1*0 + 2*2; t = 1: 1*1 + 2*3; t = 2: 1*2 + 2*4
    assert grad_weight.ravel().tolist() == [4.0, 7.0, 10.0]


def test_3d_replicate_padding_folds_by_hand():
    # a 1x1x2 volume (a, b) = (5, 7), 1x1x1 kernel of weight 1, replicate padding (2, 1) on the
    # last axis: xp = (a, a, a, b, b), so the padded gradient (1, 2, 3, 4, 5) folds to (1+2+3, 4+5)
    x = np.array([5.0, 7.0]).reshape(1, 1, 1, 1, 2)
    w = np.ones((1, 1, 1, 1, 1))
    gy = np.arange(1.0, 6.0).reshape(1, 1, 1, 1, 5)
    grad_input, grad_weight, _ = gradients.conv_backward(
        gy, x, w, None, 1, (0, 0, 0, 0, 2, 1), 1, 1, "replicate"
    )
    assert grad_input.ravel().tolist() == [6.0, 9.0]
    assert grad_weight.ravel().tolist() == [5 * 1 + 5 * 2 + 5 * 3 + 7 * 4 + 7 * 5]
    # the same padding in circular mode: xp = (a, b, a, b, a): (1 + 3 + 5, 2 + 4)
    grad_input, _, _ = gradients.conv_backward(
        gy, x, w, None, 1, (0, 0, 0, 0, 2, 1), 1, 1, "circular"
    )
    assert grad_input.ravel().tolist() == [9.0, 6.0]


def test_3d_transposed_by_hand():
    # one input element 2 and a 2x2x2 kernel w[u, v, t] = 100u + 10v + t at stride 3 and two
    # input elements along the depth: each lands as 2*w in its own 2x2x2 block, depth gap of one
    x = np.array([2.0, 3.0]).reshape(1, 1, 2, 1, 1)
    u, v, t = np.meshgrid(np.arange(2), np.arange(2), np.arange(2), indexing="ij")
    w = (100.0 * u + 10.0 * v + t)[None, None]
    out = gradients.conv_transpose(x, w, None, 3)
    assert out.shape == (1, 1, 5, 2, 2)
    expected = np.zeros((5, 2, 2))
    expected[0:2] = 2 * w[0, 0]
    expected[3:5] = 3 * w[0, 0]
    assert out[0, 0].tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gradients.conv_backward(np.zeros((1, 1, 3)), *_tiny(1)), "grad_output"),
        (lambda: gradients.conv_backward(np.zeros((1, 1, 3, 3)), *_tiny(3, 1)), "grad_output"),
        (lambda: gradients.conv_transpose(*_tiny(3), padding="same"), "int or one value"),
        (lambda: gradients.conv_transpose(*_tiny(1), stride=2, output_padding=2), "output_padding"),
        (lambda: gradients.conv_transpose(*_tiny(3), padding=(1, 1)), "padding must be"),
    ],
)
def test_refusals(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _tiny(rank: int, kernel: int = 2):
    return np.ones((1, 1, *([3] * rank))), np.ones((1, 1, *([kernel] * rank)))
