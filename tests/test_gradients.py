"""The backward pass and transposed convolution: harness.computations.gradients (the reference) and
harness.computations.scipy_gradients (scipy per slice) against the catalog's seed numbers and
against torch's autograd on random configurations.

Expected values are independent of both modules: the catalog's hand-checked grad_input, and torch
(autograd through F.pad + F.conv2d, F.conv_transpose2d); the padding torch gets is computed here
from the drawn form, not by harness.computations.reference. Comparisons in float64 to ~1e-10
relative.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from conftest import examples
from harness.computations import gradients, scipy_gradients

MODULES = [gradients, scipy_gradients]
MODES = ["zeros", "reflect", "replicate", "circular"]
SEED_INPUT = np.array(
    [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], float
)
KERNEL_B = np.array([[1, 2, 0], [0, 1, 0], [0, 0, 3]], float)
GRAD_G = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], float)
# autograd's grad_input of F.conv2d(SEED_INPUT, KERNEL_B) for GRAD_G, from ../shared/CATALOG.md
CATALOG_GRAD_INPUT = [
    [1, 4, 7, 6, 0],
    [4, 14, 18, 15, 0],
    [7, 26, 33, 30, 9],
    [0, 7, 20, 24, 18],
    [0, 0, 21, 24, 27],
]
PROPERTY = settings(max_examples=examples(150), deadline=None, derandomize=True, database=None)


def as_tensor(a, grad: bool = False):
    return None if a is None else torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def as_array(t):
    return None if t is None else t.detach().numpy()


def torch_conv2d_gradients(gy, x, w, b, stride, pads, dilation, groups, mode):
    """(grad_input, grad_weight, grad_bias) by autograd through F.pad + F.conv2d."""
    xt, wt, bt = as_tensor(x, True), as_tensor(w, True), as_tensor(b, True)
    top, bottom, left, right = pads
    padded = F.pad(xt, (left, right, top, bottom), mode="constant" if mode == "zeros" else mode)
    y = F.conv2d(padded, wt, bt, stride=stride, dilation=dilation, groups=groups)
    y.backward(as_tensor(gy))
    return as_array(xt.grad), as_array(wt.grad), None if bt is None else as_array(bt.grad)


def assert_close(actual, expected, what: str) -> None:
    if expected is None:
        assert actual is None, f"{what}: expected None"
        return
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, not {expected.shape}"
    assert actual.dtype == np.float64, f"{what}: dtype {actual.dtype}"
    scale = max(1.0, float(np.abs(expected).max(initial=0)))
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10 * scale, err_msg=what)


def test_catalog_seed_grad_input_is_a_true_convolution():
    xt = as_tensor(SEED_INPUT[None, None], True)
    y = F.conv2d(xt, as_tensor(KERNEL_B[None, None]))
    y.backward(as_tensor(GRAD_G[None, None]))
    assert xt.grad[0, 0].tolist() == CATALOG_GRAD_INPUT
    assert signal.convolve2d(GRAD_G, KERNEL_B, "full").tolist() == CATALOG_GRAD_INPUT
    no_flip = signal.correlate2d(GRAD_G, KERNEL_B, "full")
    assert np.abs(no_flip - CATALOG_GRAD_INPUT).max() == 18.0
    transposed = F.conv_transpose2d(as_tensor(GRAD_G[None, None]), as_tensor(KERNEL_B[None, None]))
    assert transposed[0, 0].tolist() == CATALOG_GRAD_INPUT


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_catalog_seed_in_both_modules(module):
    x, w, g = SEED_INPUT[None, None], KERNEL_B[None, None], GRAD_G[None, None]
    grad_input, grad_weight, grad_bias = module.conv2d_backward(g, x, w)
    assert grad_input[0, 0].tolist() == CATALOG_GRAD_INPUT
    assert grad_bias is None
    # grad_weight = the valid correlation of the input with g, by hand with scipy
    assert grad_weight[0, 0].tolist() == signal.correlate2d(SEED_INPUT, GRAD_G, "valid").tolist()
    assert module.conv_transpose2d(g, w)[0, 0].tolist() == CATALOG_GRAD_INPUT


@st.composite
def conv2d_cases(draw):
    """A random valid conv2d configuration (torch's rules) and the pads torch gets."""
    groups, cg, og = (draw(st.integers(1, 3)) for _ in range(3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    mode = draw(st.sampled_from(MODES))
    form = draw(st.sampled_from(["int", "pair", "four", "same", "valid"]))
    if form == "same":
        stride = (1, 1)
        totals = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
        padding = "same"
        pads = (
            totals[0] // 2,
            totals[0] - totals[0] // 2,
            totals[1] // 2,
            totals[1] - totals[1] // 2,
        )
    elif form == "valid":
        padding, pads = "valid", (0, 0, 0, 0)
    elif form == "int":
        padding = draw(st.integers(0, 3))
        pads = (padding,) * 4
    elif form == "pair":
        padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
        pads = (padding[0], padding[0], padding[1], padding[1])
    else:
        padding = pads = tuple(draw(st.integers(0, 3)) for _ in range(4))
    sizes = []
    for axis in range(2):
        before, after = pads[2 * axis], pads[2 * axis + 1]
        least = max(1, dilation[axis] * (kernel[axis] - 1) + 1 - before - after)
        if mode == "reflect":
            least = max(least, max(before, after) + 1)
        if mode == "circular":
            least = max(least, before, after)
        sizes.append(draw(st.integers(least, least + 4)))
    batch = draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((batch, groups * cg, *sizes))
    w = rng.standard_normal((groups * og, cg, *kernel))
    b = rng.standard_normal(groups * og) if draw(st.booleans()) else None
    arguments = {"stride": stride, "dilation": dilation, "groups": groups}
    return x, w, b, padding, pads, mode, arguments, rng


def check_conv2d(x, w, b, padding, pads, mode, arguments, rng) -> None:
    """Both modules' conv2d_backward equal autograd for a random grad_output."""
    top, bottom, left, right = pads
    xp = F.pad(as_tensor(x), (left, right, top, bottom), "constant" if mode == "zeros" else mode)
    y = F.conv2d(xp, as_tensor(w), **arguments)
    gy = rng.standard_normal(tuple(y.shape))
    expected = torch_conv2d_gradients(gy, x, w, b, pads=pads, mode=mode, **arguments)
    for module in MODULES:
        got = module.conv2d_backward(gy, x, w, b, padding=padding, padding_mode=mode, **arguments)
        for name, actual, wanted in zip(("input", "weight", "bias"), got, expected, strict=True):
            assert_close(actual, wanted, f"{module.__name__} grad_{name} {padding} {mode}")


@PROPERTY
@given(conv2d_cases())
def test_conv2d_backward_equals_autograd(case):
    check_conv2d(*case)


@pytest.mark.parametrize("mode", ["zeros", "replicate"])
def test_conv2d_backward_where_the_padding_outreaches_every_window(mode):
    """One input row at padded row 5, stride 2 reads padded rows 0, 2, 4: grad_output reaches
    no input row (zeros), or only through the replicated border (replicate)."""
    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal((2, 2, 1, 3)), rng.standard_normal((3, 2, 1, 2)), np.ones(3)
    arguments = {"stride": (2, 1), "dilation": 1, "groups": 1}
    check_conv2d(x, w, b, (5, 0, 1, 0), (5, 0, 1, 0), mode, arguments, rng)


@st.composite
def transposed_cases(draw):
    """A random valid conv_transpose2d configuration (output_padding < stride or dilation)."""
    groups, cg, og = (draw(st.integers(1, 3)) for _ in range(3))
    kernel, stride, dilation, padding, extra, sizes = [], [], [], [], [], []
    for _ in range(2):
        k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        op = draw(st.integers(0, max(s, d) - 1))
        size = draw(st.integers(1, 5))
        reach = (size - 1) * s + d * (k - 1) + op  # output size is reach - 2p + 1 >= 1
        p = draw(st.integers(0, min(3, reach // 2)))
        for values, value in zip(
            (kernel, stride, dilation, padding, extra, sizes), (k, s, d, p, op, size), strict=True
        ):
            values.append(value)
    batch = draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((batch, groups * cg, *sizes))
    w = rng.standard_normal((groups * cg, og, *kernel))
    b = rng.standard_normal(groups * og) if draw(st.booleans()) else None
    arguments = {
        "stride": tuple(stride),
        "padding": tuple(padding),
        "output_padding": tuple(extra),
        "groups": groups,
        "dilation": tuple(dilation),
    }
    return x, w, b, arguments, rng


def check_transposed(x, w, b, arguments, rng) -> None:
    """Both modules' conv_transpose2d and its backward equal torch (random grad_output)."""
    xt, wt, bt = as_tensor(x, True), as_tensor(w, True), as_tensor(b, True)
    y = F.conv_transpose2d(xt, wt, bt, **arguments)
    gy = rng.standard_normal(tuple(y.shape))
    y.backward(as_tensor(gy))
    expected = (as_array(xt.grad), as_array(wt.grad), None if bt is None else as_array(bt.grad))
    for module in MODULES:
        assert_close(module.conv_transpose2d(x, w, b, **arguments), as_array(y), module.__name__)
        got = module.conv_transpose2d_backward(gy, x, w, b, **arguments)
        for name, actual, wanted in zip(("input", "weight", "bias"), got, expected, strict=True):
            assert_close(actual, wanted, f"{module.__name__} transposed grad_{name} {arguments}")


@settings(PROPERTY, max_examples=examples(100))
@given(transposed_cases())
def test_conv_transpose2d_and_its_backward_equal_torch(case):
    check_transposed(*case)


@pytest.mark.parametrize("padding", [(0, 1), (1, 0), (2, 2)])
@pytest.mark.parametrize("groups", [1, 2])
def test_conv_transpose2d_with_output_padding_beyond_the_stride(padding, groups):
    """Stride 1 with output_padding 2 < dilation 3 (rows) and 1 < dilation 2 (columns): the
    output_padding rows are more than a stride, so they are not part of grad_input's size."""
    rng = np.random.default_rng(13)
    x, w, b = (
        rng.standard_normal((2, 4, 3, 4)),
        rng.standard_normal((4, 3, 2, 3)),
        np.ones(3 * groups),
    )
    arguments = {"stride": 1, "padding": padding, "output_padding": (2, 1), "groups": groups}
    check_transposed(x, w, b, arguments | {"dilation": (3, 2)}, rng)


@settings(PROPERTY, max_examples=examples(60))
@given(conv2d_cases())
def test_conv_transpose2d_is_conv2d_grad_input(case):
    """F.conv_transpose2d with the conv's stride, padding, dilation and groups, and output_padding
    the rows the floor in the output size dropped, is autograd's grad_input of F.conv2d."""
    x, w, _, _, _, _, arguments, rng = case
    stride, dilation, groups = arguments["stride"], arguments["dilation"], arguments["groups"]
    padding = tuple(-(-d * (k - 1) // 2) for d, k in zip(dilation, w.shape[2:], strict=True))
    xt = as_tensor(x, True)
    y = F.conv2d(xt, as_tensor(w), stride=stride, padding=padding, dilation=dilation, groups=groups)
    gy = rng.standard_normal(tuple(y.shape))
    y.backward(as_tensor(gy))
    extra = tuple(
        size + 2 * p - d * (k - 1) - 1 - (out - 1) * s
        for size, p, d, k, out, s in zip(
            x.shape[2:], padding, dilation, w.shape[2:], y.shape[2:], stride, strict=True
        )
    )
    arguments = {"stride": stride, "padding": padding, "output_padding": extra}
    arguments |= {"groups": groups, "dilation": dilation}
    transposed = F.conv_transpose2d(as_tensor(gy), as_tensor(w), **arguments)
    assert_close(as_array(transposed), as_array(xt.grad), "F.conv_transpose2d")
    for module in MODULES:
        assert_close(module.conv_transpose2d(gy, w, **arguments), as_array(xt.grad), "module")


def test_positions_no_window_reaches_get_exactly_zero():
    """Kernel 2, stride 3 on 9x9: rows/columns 2 and 5 fall between windows, 8 past the last."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 2, 9, 9))
    w = rng.uniform(1, 2, (3, 2, 2, 2))
    gy = rng.uniform(1, 2, (1, 3, 3, 3))
    unreached = [2, 5, 8]
    reached = [0, 1, 3, 4, 6, 7]
    results = {"torch": torch_conv2d_gradients(gy, x, w, None, 3, (0,) * 4, 1, 1, "zeros")[0]}
    for module in MODULES:
        results[module.__name__] = module.conv2d_backward(gy, x, w, stride=3)[0]
        transposed = module.conv_transpose2d(gy, w, stride=3, output_padding=1)
        results[f"{module.__name__}.conv_transpose2d"] = transposed
    for name, grad_input in results.items():
        assert (grad_input[:, :, unreached, :] == 0).all(), name
        assert (grad_input[:, :, :, unreached] == 0).all(), name
        assert (grad_input[:, :, reached][:, :, :, reached] > 0).all(), name


@pytest.mark.parametrize(
    ("module", "stride"),
    [(gradients, 1), (gradients, 2), (scipy_gradients, 1)],
    ids=["reference-stride1", "reference-stride2", "scipy-stride1"],
)
def test_nan_in_grad_output_and_input_reaches_what_torch_reaches(module, stride):
    """NaN in grad_output and in the input: the same NaN positions as torch, the same values
    elsewhere. (scipy's grad_weight correlates with the zero-upsampled grad_output, so at stride
    2 an input NaN meets inserted zeros: 0 * NaN, a documented divergence, as in its forward.)"""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 2, 7, 7)), rng.standard_normal((2, 2, 3, 3))
    size = 7 if stride == 1 else 4
    gy = rng.standard_normal((1, 2, size, size))
    gy[0, 1, 2, 1] = np.nan
    x[0, 0, 3, 3] = np.nan
    expected = torch_conv2d_gradients(gy, x, w, None, stride, (1,) * 4, 1, 1, "zeros")
    got = module.conv2d_backward(gy, x, w, stride=stride, padding=1)
    for actual, wanted in zip(got[:2], expected[:2], strict=True):
        assert actual.shape == wanted.shape
        assert (np.isnan(actual) == np.isnan(wanted)).all()
        assert not np.isnan(wanted).all()
        finite = ~np.isnan(wanted)
        np.testing.assert_allclose(actual[finite], wanted[finite], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_results_keep_the_input_dtype(module, dtype):
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((4, 1, 3, 3)), np.ones(4)
    gy = rng.standard_normal((2, 4, 3, 3))
    exact = module.conv2d_backward(gy, x, w, b, stride=2, padding=1, groups=2)
    low = module.conv2d_backward(*(a.astype(dtype) for a in (gy, x, w, b)), 2, 1, 1, 2)
    for lower, wanted in zip(low, exact, strict=True):
        assert (lower.dtype, lower.shape) == (dtype, wanted.shape)
        np.testing.assert_allclose(lower, wanted, rtol=2e-2, atol=5e-2)
    assert module.conv_transpose2d(gy.astype(dtype), w.astype(dtype), stride=2).dtype == dtype


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_refusals_are_value_errors(module):
    x, w, gy = np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3)), np.zeros((1, 3, 3, 3))
    with pytest.raises(ValueError, match="grad_output"):
        module.conv2d_backward(gy[:, :2], x, w)
    with pytest.raises(ValueError, match="groups"):
        module.conv2d_backward(gy, x, w, groups=2)
    with pytest.raises(ValueError, match="reflect"):
        module.conv2d_backward(np.zeros((1, 3, 13, 13)), x, w, padding=5, padding_mode="reflect")
    with pytest.raises(ValueError, match="strided"):
        module.conv2d_backward(gy, x, w, stride=2, padding="same")
    t = np.zeros((3, 2, 3, 3))  # (C_in, C_out/groups, kH, kW)
    with pytest.raises(ValueError, match="padding"):
        module.conv_transpose2d(gy, t, padding="same")
    with pytest.raises(ValueError, match="padding"):
        module.conv_transpose2d(gy, t, padding=(1, 1, 1, 1))
    with pytest.raises(ValueError, match="output_padding"):
        module.conv_transpose2d(gy, t, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="grad_output"):
        module.conv_transpose2d_backward(gy, gy, t)
