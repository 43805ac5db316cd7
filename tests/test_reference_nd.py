"""The reference's forward pass in 1-D and 3-D (and its 2-D names on other ranks): numbers worked
out by hand, torch as a second opinion on seeded random configurations, and the loop form.

torch gets the padding computed here from the drawn form (F.pad with the axes in torch's order,
last axis first), or its own nn.ConvNd modules for 'same' and 'valid', not
harness.computations.reference's padding_amounts. Comparisons in float64 to 1e-12 absolute.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness.computations import reference
from harness.computations.reference_loop import conv2d_loop, conv_loop

MODES = ["zeros", "reflect", "replicate", "circular"]
FUNCTIONAL = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
MODULES = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
REFUSALS = "larger than the padded input|must be smaller than the input|wraps more than once"
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """torch on one thread: its thread pool costs ~0.1 s per tiny grouped call on a busy
    machine, and these cases are tiny."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def torch_conv(x, w, b, stride, padding, dilation, groups, mode):
    """torch's answer: nn.ConvNd for 'same'/'valid', else F.pad (flat (before, after) per axis,
    handed to torch last axis first) and F.convNd without padding."""
    rank = x.ndim - 2
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    bt = None if b is None else torch.from_numpy(b)
    with torch.no_grad():
        if isinstance(padding, str):
            module = MODULES[rank](
                x.shape[1],
                w.shape[0],
                tuple(w.shape[2:]),
                stride,
                padding,
                dilation,
                groups,
                bias=b is not None,
                padding_mode=mode,
                dtype=torch.float64,
            )
            module.weight.copy_(wt)
            if bt is not None:
                module.bias.copy_(bt)
            return module(xt).numpy()
        if isinstance(padding, int):
            padding = (padding,) * rank
        if len(padding) == rank:
            padding = tuple(p for value in padding for p in (value, value))
        torch_order = [
            p for axis in reversed(range(rank)) for p in padding[2 * axis : 2 * axis + 2]
        ]
        padded = F.pad(xt, torch_order, mode="constant" if mode == "zeros" else mode)
        return FUNCTIONAL[rank](padded, wt, bt, stride, 0, dilation, groups).numpy()


def draw_config(rng, rank: int, small: bool = False):
    """A random convolution of `rank` spatial axes: groups (depthwise among them), stride,
    dilation, padding in every accepted form, every padding mode, odd and even kernels, now and
    then a kernel spanning a whole padded axis, bias or not."""
    kind = rng.choice(["plain", "grouped", "depthwise"])
    if kind == "depthwise":
        groups = int(rng.integers(1, 4))
        c_in, c_out = groups, groups * int(rng.integers(1, 3))
    else:
        groups = 1 if kind == "plain" else int(rng.integers(2, 4))
        c_in = groups * int(rng.integers(1, 3 if small else 4))
        c_out = groups * int(rng.integers(1, 3 if small else 4))
    top = 5 if small else 8
    sizes = [int(v) for v in rng.integers(2, top if rank == 3 else top + 4, rank)]
    kernel = [int(v) for v in rng.integers(1, 4 if rank == 3 else 5, rank)]
    stride = [int(v) for v in rng.integers(1, 4, rank)] if rng.random() < 0.6 else [1] * rank
    dilation = [int(v) for v in rng.integers(1, 3, rank)]
    mode = str(rng.choice(MODES))
    form = rng.choice(["int", "per_axis", "flat", "same", "valid"])
    if form == "same" and any(s != 1 for s in stride):
        form = "flat"
    padding: object
    if form == "int":
        padding = int(rng.integers(0, 3))
    elif form == "per_axis":
        padding = tuple(int(v) for v in rng.integers(0, 3, rank))
    elif form == "flat":
        padding = tuple(int(v) for v in rng.integers(0, 3, 2 * rank))
    else:
        padding = str(form)
    if rng.random() < 0.2 and not isinstance(padding, str):  # one kernel spans a whole axis
        axis = int(rng.integers(rank))
        flat = reference.padding_amounts(padding, tuple(kernel), tuple(dilation))
        dilation[axis] = 1
        kernel[axis] = sizes[axis] + flat[2 * axis] + flat[2 * axis + 1]
    n = int(rng.integers(1, 3))
    x = rng.standard_normal((n, c_in, *sizes))
    w = rng.standard_normal((c_out, c_in // groups, *kernel))
    b = rng.standard_normal(c_out) if rng.random() < 0.5 else None
    return x, w, b, tuple(stride), padding, tuple(dilation), groups, mode


def torch_or_none(config):
    """torch's output, or None where torch refuses the configuration (kernel larger than the
    padded input, reflect padding not smaller than the input, ...)."""
    try:
        return torch_conv(*config)
    except RuntimeError:
        return None


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_matches_torch_on_random_configurations(rank):
    rng = np.random.default_rng(100 + rank)
    checked, forms, modes = 0, set(), set()
    for _ in range(250):
        config = draw_config(rng, rank)
        expected = torch_or_none(config)
        if expected is None:  # refused by torch: refused here too, with the reason
            with pytest.raises(ValueError, match=REFUSALS):
                reference.conv(*config)
            continue
        padding, mode = config[4], config[7]
        got = reference.conv(*config)
        assert got.shape == expected.shape, config[3:]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, err_msg=str(config[3:]))
        checked += 1
        forms.add(padding if isinstance(padding, str) else type(padding).__name__)
        modes.add(mode)
    assert checked >= 170
    assert modes == set(MODES)
    assert {"same", "valid", "int", "tuple"} <= forms


@pytest.mark.parametrize("rank", [1, 3])
def test_loop_form_matches_the_vectorised_form(rank):
    rng = np.random.default_rng(7 + rank)
    checked = 0
    for _ in range(40 if rank == 1 else 30):
        config = draw_config(rng, rank, small=True)
        try:
            fast = reference.conv(*config)
        except ValueError:
            continue
        np.testing.assert_allclose(conv_loop(*config), fast, rtol=0, atol=1e-12)
        checked += 1
    assert checked >= 15


def test_1d_by_hand():
    x = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    w = np.array([[[1.0, 10.0, 100.0]]])
    # cross-correlation, not flipped: out[i] = x[i] + 10*x[i+1] + 100*x[i+2]
    assert reference.conv1d(x, w)[0, 0].tolist() == [321.0, 432.0, 543.0]
    # reflect padding (2, 0): xp = [3, 2 | 1, 2, 3, 4, 5]; stride 2, dilation 2:
    # out[i] = xp[2i] + 10*xp[2i+2] + 100*xp[2i+4] -> [3 + 10 + 300, 1 + 30 + 500]
    out = reference.conv1d(x, w, None, 2, (2, 0), 2, 1, "reflect")
    assert out[0, 0].tolist() == [313.0, 531.0]
    # two input channels summed, bias 0.5: the second channel is all ones, its taps all 1
    x2 = np.concatenate([x, np.ones_like(x)], axis=1)
    w2 = np.concatenate([w, np.ones_like(w)], axis=1)
    assert reference.conv1d(x2, w2, np.array([0.5]))[0, 0].tolist() == [324.5, 435.5, 546.5]
    for form in (conv_loop, conv2d_loop, reference.conv2d):
        assert form(x, w)[0, 0].tolist() == [321.0, 432.0, 543.0]


def test_3d_by_hand():
    # x[d, h, w] = 100*d + 10*h + w over a 2x3x3 volume; kernel 2x1x2 with taps
    # w[u, 0, v] = 1, 2 (u = 0) and 3, 4 (u = 1); stride (1, 2, 1), no padding: output 1x2x2,
    # out[0, i, j] = 1*x[0, 2i, j] + 2*x[0, 2i, j+1] + 3*x[1, 2i, j] + 4*x[1, 2i, j+1]
    #             = 10*(20i + j) + (2 + 300 + 400 + 4)
    d, h, w_ = np.meshgrid(np.arange(2), np.arange(3), np.arange(3), indexing="ij")
    x = (100.0 * d + 10.0 * h + w_)[None, None]
    w = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 1, 2)
    expected = [[[706.0, 716.0], [906.0, 916.0]]]
    for form in (reference.conv3d, reference.conv, reference.conv2d, conv_loop):
        assert form(x, w, stride=(1, 2, 1))[0, 0].tolist() == expected
    # circular padding (0, 0, 0, 0, 1, 1) of the last axis with a 1x1x3 kernel (0, 1, 10):
    # out[.., j] = xp[j+1] + 10*xp[j+2], xp = [x2 | x0 x1 x2 | x0] -> x0 + 10*x1, x1 + 10*x2,
    # x2 + 10*x0 along every row
    row = np.array([1.0, 2.0, 3.0]).reshape(1, 1, 1, 1, 3)
    out = reference.conv3d(row, np.array([0.0, 1.0, 10.0]).reshape(1, 1, 1, 1, 3), None, 1,
                           (0, 0, 0, 0, 1, 1), 1, 1, "circular")  # fmt: skip
    assert out.ravel().tolist() == [21.0, 32.0, 13.0]


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("mode", MODES)
def test_pad_matches_torch_for_any_rank(rank, mode):
    rng = np.random.default_rng(rank)
    x = rng.standard_normal((2, 3, *(int(v) for v in rng.integers(3, 6, rank))))
    pads = tuple(int(v) for v in rng.integers(0, 3, 2 * rank))
    torch_order = [p for axis in reversed(range(rank)) for p in pads[2 * axis : 2 * axis + 2]]
    expected = F.pad(torch.from_numpy(x), torch_order, mode="constant" if mode == "zeros" else mode)
    np.testing.assert_array_equal(reference.pad(x, pads, mode), expected.numpy())
    with pytest.raises(ValueError, match="padding amounts"):
        reference.pad(x, pads[:-1], mode)


@pytest.mark.parametrize(
    "setting",
    [
        ("BLOCK_BYTES", 1),  # one row of the last axis per block (3-D: level 1)
        ("BLOCK_BYTES", 6000),  # slabs of the leading axis
        ("TAP_COLUMNS", 1),  # one product per tap
        ("TAP_COLUMNS", 10**6),  # every tap in one product (im2col)
        ("DEPTHWISE_BLOCK_BYTES", 1),  # one plane per depthwise block
        ("DEEP_PRODUCT", 1),  # long BLAS calls (whole images) for every product
    ],
)
def test_block_and_product_sizes_do_not_change_the_result(monkeypatch, setting):
    rng = np.random.default_rng(11)
    configs = [
        (rng.standard_normal((2, 3, 40)), rng.standard_normal((4, 3, 3)), {"padding": 2}),
        (
            rng.standard_normal((2, 4, 5, 9, 7)),
            rng.standard_normal((6, 2, 2, 3, 2)),
            {
                "stride": (1, 2, 1),
                "padding": (1, 0, 2, 1, 0, 1),
                "dilation": (2, 1, 2),
                "groups": 2,
            },
        ),
        (
            rng.standard_normal((2, 3, 6, 8, 7)),
            rng.standard_normal((5, 3, 3, 2, 3)),
            {"stride": (2, 1, 2), "padding": 1, "padding_mode": "reflect"},
        ),
        (
            rng.standard_normal((2, 5, 4, 6, 7)),
            rng.standard_normal((5, 1, 2, 3, 3)),
            {"padding": (1, 1, 2), "dilation": (1, 2, 1), "groups": 5, "padding_mode": "circular"},
        ),
    ]
    expected = [reference.conv(x, w, **params) for x, w, params in configs]
    monkeypatch.setattr(reference, *setting)
    for (x, w, params), before in zip(configs, expected, strict=True):
        got = reference.conv(x, w, **params)
        np.testing.assert_allclose(got, before, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got, torch_conv(x, w, None, **_torch_params(params)), atol=1e-12)


def _torch_params(params: dict) -> dict:
    return {
        "stride": params.get("stride", 1),
        "padding": params.get("padding", 0),
        "dilation": params.get("dilation", 1),
        "groups": params.get("groups", 1),
        "mode": params.get("padding_mode", "zeros"),
    }


@pytest.mark.parametrize("rank", [1, 3])
def test_depthwise_planes_do_not_depend_on_the_threads(monkeypatch, rank):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 6, *([5] * rank)))
    x[(1, 2, *([2] * rank))] = np.nan
    w = rng.standard_normal((6, 1, *([3] * rank)))
    monkeypatch.setattr(reference, "DEPTHWISE_BLOCK_BYTES", 1)  # one plane per block
    results = []
    for threads in ("1", "3"):
        monkeypatch.setenv("OMP_NUM_THREADS", threads)
        results.append(reference.conv(x, w, None, 1, 1, 1, 6, "replicate"))
    assert results[0].tobytes() == results[1].tobytes()
    expected = torch_conv(x, w, None, 1, 1, 1, 6, "replicate")
    np.testing.assert_allclose(results[0], expected, rtol=0, atol=1e-12)  # NaN where expected
    assert np.isnan(results[0]).any()


@pytest.mark.parametrize("rank", [1, 3])
def test_float32_is_computed_in_float32(rank):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 8, *([6] * rank))).astype(np.float32)
    w = rng.standard_normal((4, 8, *([3] * rank))).astype(np.float32)
    got = reference.conv(x, w, padding=1)
    assert got.dtype == np.float32
    expected = torch_conv(x.astype(np.float64), w.astype(np.float64), None, 1, 1, 1, 1, "zeros")
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_the_rank_names_are_one_function():
    assert reference.conv1d is reference.conv2d is reference.conv3d is reference.conv
    assert conv2d_loop is conv_loop


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "params", "message"),
    [
        ((1, 1, 5), (1, 1, 3, 3), {}, "same rank"),
        ((1, 1, 2, 2, 2, 2), (1, 1, 1, 1, 1, 1), {}, "3-D to 5-D"),
        ((1, 1, 5), (1, 1, 3), {"padding": (1, 1, 1)}, "padding must be"),
        ((1, 1, 5, 5, 5), (1, 1, 3, 3, 3), {"stride": (1, 2)}, "stride must be"),
        ((1, 1, 5), (1, 1, 3), {"padding": "same", "stride": 2}, "strided"),
        ((1, 1, 3, 3, 3), (1, 1, 1, 1, 1), {"padding": 3, "padding_mode": "reflect"}, "reflect"),
        ((1, 1, 2, 2, 2), (1, 1, 3, 1, 1), {}, "larger than the padded input"),
        ((1, 4, 5), (2, 3, 3), {"groups": 2}, "groups=2"),
    ],
)
def test_refusals(x_shape, w_shape, params, message):
    with pytest.raises(ValueError, match=message):
        reference.conv(np.zeros(x_shape), np.zeros(w_shape), **params)
