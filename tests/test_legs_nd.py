"""The torch and scipy legs, their backward and transposed operations and the peers at every
spatial rank (conv1d, conv2d, conv3d): each against an independent float64 computation written
here (explicit index padding, one strided slice per kernel tap, einsum per group) and against each
other, on seeded random configurations."""

from __future__ import annotations

import importlib.util
import itertools
import types

import numpy as np
import pytest

from harness.computations import scipy_gradients
from harness.computations.implementations import (
    harness_pads_first,
    reference_conv,
    scipy_conv,
    scipy_conv2d,
    spread_kernel,
    torch_conv,
    torch_conv2d,
)
from harness.computations.operations import (
    BUILTIN_OPERATIONS,
    KINDS,
    OPERATIONS,
    autograd_backward,
    module_operations,
    operation_kind,
    operation_name,
    operation_of,
    torch_conv_backward,
    torch_conv_transpose,
    torch_conv_transpose_backward,
)
from harness.computations.peers import PEERS

MODES = ("zeros", "reflect", "replicate", "circular")


# --- the independent computation ----------------------------------------------------------------


def source(position: int, size: int, mode: str) -> int:
    """The input index a padded position reads (-1: a zero), by the modes' definitions."""
    if 0 <= position < size:
        return position
    if mode == "zeros":
        return -1
    if mode == "replicate":
        return min(max(position, 0), size - 1)
    if mode == "circular":
        return position % size
    while not 0 <= position < size:  # reflect: mirror about the edge samples, repeatedly
        position = -position if position < 0 else 2 * (size - 1) - position
    return position


def padded(x: np.ndarray, pads, mode: str) -> np.ndarray:
    """x padded by flat (before, after) pads per spatial axis, one axis at a time by gathering."""
    for axis in range(x.ndim - 2):
        before, after = pads[2 * axis], pads[2 * axis + 1]
        size = x.shape[axis + 2]
        index = np.array([source(p, size, mode) for p in range(-before, size + after)])
        gathered = np.take(x, np.maximum(index, 0), axis=axis + 2)
        mask_shape = [1] * x.ndim
        mask_shape[axis + 2] = len(index)
        x = np.where((index >= 0).reshape(mask_shape), gathered, 0.0)
    return x


def independent(x, w, b, stride, pads, dilation, groups, mode="zeros") -> np.ndarray:
    """out[n, o, *i] = b[o] + sum_c,u xp[n, g*Cg + c, *(i*s + u*d)] * w[o, c, *u] in float64."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    rank = x.ndim - 2
    xp = padded(x, pads, mode)
    kernel = w.shape[2:]
    sizes = [
        (xp.shape[2 + a] - dilation[a] * (kernel[a] - 1) - 1) // stride[a] + 1 for a in range(rank)
    ]
    n = x.shape[0]
    c_out, cg = w.shape[:2]
    og = c_out // groups
    grouped_x = xp.reshape(n, groups, cg, *xp.shape[2:])
    grouped_w = w.reshape(groups, og, cg, *kernel)
    out = np.zeros((n, groups, og, *sizes))
    for tap in itertools.product(*(range(k) for k in kernel)):
        window = tuple(
            slice(u * d, u * d + s * (size - 1) + 1, s)
            for u, d, s, size in zip(tap, dilation, stride, sizes, strict=True)
        )
        patch = grouped_x[(slice(None), slice(None), slice(None), *window)]
        out += np.einsum("ngc...,goc->ngo...", patch, grouped_w[(..., *tap)])
    out = out.reshape(n, c_out, *sizes)
    if b is not None:
        out = out + np.asarray(b, np.float64).reshape((1, c_out) + (1,) * rank)
    return out


# --- random configurations ----------------------------------------------------------------------


def resolved_pads(padding, kernel, dilation) -> tuple[int, ...]:
    rank = len(kernel)
    if padding == "valid":
        return (0,) * (2 * rank)
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return tuple(p for t in totals for p in (t // 2, t - t // 2))
    if isinstance(padding, int):
        return (padding,) * (2 * rank)
    if len(padding) == rank:
        return tuple(p for p in padding for _ in range(2))
    return tuple(padding)


def configuration(rng, rank: int, index: int):
    """A valid convolution of this rank: every padding form, mode, groups (depthwise too)."""
    mode = MODES[index % len(MODES)]
    small = rank == 3
    groups = int(rng.choice([1, 2, 3]))
    depthwise = index % 3 == 2
    cg = 1 if depthwise else int(rng.integers(1, 3))
    og = int(rng.integers(1, 3))
    kernel = tuple(int(k) for k in rng.integers(1, 3 if small else 4, rank))
    dilation = tuple(int(d) for d in rng.integers(1, 3, rank))
    stride = tuple(int(s) for s in rng.integers(1, 3, rank))
    form = index % 5
    if form == 0:
        padding = int(rng.integers(0, 3))
    elif form == 1:
        padding = tuple(int(p) for p in rng.integers(0, 3, rank))
    elif form == 2:
        padding = tuple(int(p) for p in rng.integers(0, 3, 2 * rank))
    elif form == 3:
        padding, stride = "same", (1,) * rank
    else:
        padding = "valid"
    pads = resolved_pads(padding, kernel, dilation)
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    low = 3 if small else 4
    sizes = [
        max(int(rng.integers(low, low + 3)), max(pads[2 * a], pads[2 * a + 1]) + 1, reach[a])
        for a in range(rank)
    ]
    n = int(rng.integers(1, 3))
    x = rng.standard_normal((n, cg * groups, *sizes))
    w = rng.standard_normal((og * groups, cg, *kernel))
    b = rng.standard_normal(og * groups) if index % 2 else None
    return x, w, b, stride, padding, dilation, groups, mode, pads


def tolerance(expected: np.ndarray, dtype=np.float64) -> float:
    eps = 1e-12 if dtype == np.float64 else 1e-5
    return eps * max(1.0, float(np.abs(expected).max(initial=0.0))) * 10


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_torch_and_scipy_legs_agree_with_the_independent_computation(rank):
    rng = np.random.default_rng(100 + rank)
    for index in range(10):
        x, w, b, stride, padding, dilation, groups, mode, pads = configuration(rng, rank, index)
        expected = independent(x, w, b, stride, pads, dilation, groups, mode)
        for leg in (torch_conv, scipy_conv):
            got = leg(x, w, b, stride, padding, dilation, groups, padding_mode=mode)
            assert got.shape == expected.shape, (leg.__name__, index)
            np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance(expected))
        if rank == 2:  # the reference is 2-D only in this branch (others make it N-d)
            got = reference_conv(x, w, b, stride, padding, dilation, groups, padding_mode=mode)
            np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance(expected))


@pytest.mark.parametrize("rank", [1, 3])
def test_legs_keep_dtype_refuse_strided_same_and_sample_output_maps(rank):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, *(5,) * rank)).astype(np.float16)
    w = rng.standard_normal((4, 2, *(2,) * rank)).astype(np.float16)
    for leg in (torch_conv, scipy_conv):
        assert leg(x, w, None, 1, 1, 1, 2).dtype == np.float16
    with pytest.raises(RuntimeError, match="same"):
        torch_conv(x, w, None, 2, "same", 1, 2, padding_mode="reflect")
    with pytest.raises(ValueError, match="same"):
        scipy_conv(x, w, None, 2, "same", 1, 2)
    x, w = x.astype(np.float64), w.astype(np.float64)
    full = scipy_conv(x, w, None, 1, 1, 1, 2)
    sampled = scipy_conv(x, w, None, 1, 1, 1, 2, output_maps=[(1, 3)])
    np.testing.assert_array_equal(sampled[1, 3], full[1, 3])
    assert np.isnan(sampled[0]).all()
    assert scipy_conv2d is scipy_conv
    assert torch_conv2d is torch_conv
    assert scipy_conv.samples_output_maps
    assert scipy_conv.known_causes == ("nan",)


def test_spread_kernel_puts_dilation_zeros_along_every_axis():
    w = np.arange(1, 9, dtype=float).reshape(1, 1, 2, 2, 2)
    spread = spread_kernel(w, (1, 2, 3))
    assert spread.shape == (1, 1, 2, 3, 4)
    assert spread[0, 0, 1, 2, 3] == 8
    assert np.count_nonzero(spread) == 8
    assert spread_kernel(w[..., 0, 0], (3,)).tolist() == [[[1, 0, 0, 5]]]


@pytest.mark.parametrize(
    ("pads", "padding", "mode", "expected"),
    [
        ((1, 1), (1, 1), "zeros", False),
        ((0, 1), (0, 1), "zeros", True),
        ((0, 1), "same", "zeros", False),
        ((1, 1, 2, 2, 0, 0), (1, 2, 0), "zeros", False),
        ((1, 1, 2, 2, 0, 1), (1, 1, 2, 2, 0, 1), "zeros", True),
        ((1, 1, 2, 2, 0, 0), (1, 2, 0), "circular", True),
    ],
)
def test_harness_pads_first_reads_flat_pads_of_any_rank(pads, padding, mode, expected):
    case = types.SimpleNamespace(pads=pads, padding=padding, padding_mode=mode)
    assert harness_pads_first(case, False) is expected
    assert harness_pads_first(case, True) is False


# --- backward and transposed --------------------------------------------------------------------


@pytest.mark.parametrize("rank", [1, 3])
def test_conv_backward_torch_and_scipy_agree(rank):
    rng = np.random.default_rng(200 + rank)
    for index in range(6):
        x, w, b, stride, padding, dilation, groups, mode, _ = configuration(rng, rank, index)
        y = torch_conv(x, w, b, stride, padding, dilation, groups, padding_mode=mode)
        gy = rng.standard_normal(y.shape)
        arguments = (gy, x, w, b, stride, padding, dilation, groups)
        want = torch_conv_backward(*arguments, padding_mode=mode)
        got = scipy_gradients.conv_backward(*arguments, padding_mode=mode)
        assert (got[2] is None) == (b is None)
        for g, t in zip(got, want, strict=True):
            if t is not None:
                assert g.shape == t.shape
                np.testing.assert_allclose(g, t, rtol=0, atol=tolerance(t))


def transposed_configuration(rng, rank: int, index: int):
    groups = int(rng.choice([1, 2]))
    c_in, og = 2 * groups, int(rng.integers(1, 3))
    kernel = tuple(int(k) for k in rng.integers(1, 4, rank))
    stride = tuple(int(s) for s in rng.integers(1, 3, rank))
    dilation = tuple(int(d) for d in rng.integers(1, 3, rank))
    padding = tuple(int(p) for p in rng.integers(0, 2, rank)) if index % 2 else int(index % 3 == 0)
    output_padding = tuple(
        int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation, strict=True)
    )
    x = rng.standard_normal((2, c_in, *rng.integers(2, 5, rank)))
    w = rng.standard_normal((c_in, og, *kernel))
    b = rng.standard_normal(og * groups) if index % 2 else None
    return x, w, b, stride, padding, output_padding, groups, dilation


@pytest.mark.parametrize("rank", [1, 3])
def test_conv_transpose_and_its_backward_torch_and_scipy_agree(rank):
    rng = np.random.default_rng(300 + rank)
    for index in range(6):
        arguments = transposed_configuration(rng, rank, index)
        want = torch_conv_transpose(*arguments)
        got = scipy_gradients.conv_transpose(*arguments)
        np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(want))
        gy = rng.standard_normal(want.shape)
        want_grads = torch_conv_transpose_backward(gy, *arguments)
        got_grads = scipy_gradients.conv_transpose_backward(gy, *arguments)
        for g, t in zip(got_grads, want_grads, strict=True):
            assert (g is None) == (t is None)
            if t is not None:
                np.testing.assert_allclose(g, t, rtol=0, atol=tolerance(t))


def test_operation_names_cover_every_rank():
    assert len(OPERATIONS) == 12
    assert len(set(OPERATIONS)) == 12
    for kind in KINDS:
        for rank in (1, 2, 3):
            name = operation_name(kind, rank)
            assert operation_kind(name) == (kind, rank)
            assert operation_of(name) == name == operation_of("my_" + name)
    assert operation_name("conv_transpose_backward", 3) == "conv_transpose3d_backward"
    assert operation_of("whatever") == "conv2d"
    with pytest.raises(ValueError, match="rank 4"):
        operation_name("conv", 4)
    for name, table in BUILTIN_OPERATIONS.items():
        assert set(OPERATIONS) <= set(table), name
        assert table["conv1d_backward"] is table["conv3d_backward"]
        assert table["conv3d_backward"].handles_padding_mode
    module = types.SimpleNamespace(conv1d=len, conv_transpose3d_backward=len, conv4d=len)
    assert set(module_operations(module)) == {"conv1d", "conv_transpose3d_backward"}


@pytest.mark.parametrize("rank", [1, 3])
def test_autograd_backward_of_a_tensor_taking_convolution(rank):
    import torch.nn.functional as F

    def conv(x, w, b, stride=1, padding=0, dilation=1, groups=1):
        convolve = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]
        return convolve(x, w, b, stride, padding, dilation, groups)

    rng = np.random.default_rng(5)
    x, w, b = (
        rng.standard_normal((2, 4, *(5,) * rank)),
        rng.standard_normal((2, 2, *(3,) * rank)),
        None,
    )
    gy = rng.standard_normal(torch_conv(x, w, b, 2, 1, 1, 2).shape)
    backward = autograd_backward(conv, operation_name("conv_backward", rank))
    assert backward.__name__ == f"conv{rank}d_backward"
    got = backward(gy, x, w, b, 2, 1, 1, 2)
    want = torch_conv_backward(gy, x, w, b, 2, 1, 1, 2)
    for g, t in zip(got, want, strict=True):
        assert (g is None) == (t is None)
        if t is not None:
            np.testing.assert_allclose(g, t, rtol=0, atol=1e-12)


# --- peers --------------------------------------------------------------------------------------

NEEDS = {"jax": "jax", "onnxruntime": "onnxruntime", "opencv": "cv2"}
CPU_PEERS = ["jax", "onnxruntime", "scipy_ndimage", "torch_channels_last", "torch_no_mkldnn"]


def _skip_unless_installed(name: str) -> None:
    module = NEEDS.get(name)
    if module and importlib.util.find_spec(module) is None:
        pytest.skip(f"{name} needs the {module} package")


@pytest.mark.parametrize("rank", [1, 3])
@pytest.mark.parametrize("name", CPU_PEERS)
def test_peer_agrees_with_the_independent_computation(name, rank):
    _skip_unless_installed(name)
    peer = PEERS[name][0]
    rng = np.random.default_rng(400 + rank)
    for index in range(4):
        x, w, b, stride, padding, dilation, groups, mode, pads = configuration(rng, rank, index)
        if not getattr(peer, "handles_padding_mode", False):  # the harness pads first
            x, padding, mode = padded(x, pads, mode), 0, "zeros"
            pads = (0,) * (2 * rank)
        x32, w32 = x.astype(np.float32), w.astype(np.float32)
        b32 = None if b is None else b.astype(np.float32)
        expected = independent(x32, w32, b32, stride, pads, dilation, groups, mode)
        kwargs = {"padding_mode": mode} if mode != "zeros" else {}
        got = np.asarray(peer(x32, w32, b32, stride, padding, dilation, groups, **kwargs))
        assert got.shape == expected.shape, (name, index)
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance(expected, np.float32))


@pytest.mark.parametrize("rank", [1, 3])
def test_opencv_is_unsupported_beyond_2d(rank):
    _skip_unless_installed("opencv")
    x, w = np.ones((1, 1, *(4,) * rank), np.float32), np.ones((1, 1, *(2,) * rank), np.float32)
    with pytest.raises(NotImplementedError, match=f"conv{rank}d"):
        PEERS["opencv"][0](x, w)
