"""Peer implementations: other libraries' convolutions, cross-validated like the built-ins, for
every spatial rank (conv1d, conv2d, conv3d) except `opencv`, which is 2-D only.

Each is optional: it appears when its package is installed (`pip install 'conv-harness[peers]'`)
and otherwise raises `ImplementationUnavailable`, which the CLI reports as a usage error and the
pytest matrix as a skip with the reason. All follow the harness's convolution signature on NumPy
arrays (harness.computations.implementations; the rank read from the arrays); the harness applies
padding modes and asymmetric padding first unless a peer says it handles them
(`handles_padding_mode`). A rank a peer cannot compute raises NotImplementedError (an `unsupported`
row): `opencv` at ranks 1 and 3. `torch_channels_last` uses torch.channels_last in 2-D and
channels_last_3d in 3-D; 1-D has no such memory format, so there it passes (N, L, C)-contiguous
tensors (strides (L*C, 1, C)), which torch's conv1d views as channels_last 2-D tensors and hands to
that kernel path. The functions are named per library (`jax_conv`, ...); the `*_conv2d` names are
aliases.

Known, documented differences (declared per case with `diverges:` in the registry):
- `opencv` spreads a dilated kernel with zeros (as the built-in scipy leg does) yet skips zero
  taps when it filters, so dilation does not spread NaN there; `scipy_ndimage` skips zero
  weights (0*Inf is not NaN there) and drops weights with |w| <= ~2.2e-16.
- `onnxruntime`'s CPU provider has a Conv kernel for float32 only: float64 and float16 rows (the
  bfloat16 cases arrive as float32 and run) are `unsupported`.
- `opencv` and `scipy_ndimage` skip zero taps, so NaN/Inf under a zero weight does not give NaN.
- `jax` returns an empty output where the kernel is larger than the padded input; torch raises.
- Complex cases: `jax` and `scipy_ndimage` (its kernel conjugated first, since ndimage.correlate
  conjugates it) compute torch's plain sum of products; `opencv` and `onnxruntime` have no
  complex convolution and are `unsupported`.
- `torch_cuda_tf32` rounds float32 inputs to TF32 (10-bit mantissa) as cuDNN does by default:
  float32 rows diverge by `precision`, which that implementation declares as known.
- `tensorflow` (harness.computations.peer_tensorflow) and `openvino`
(harness.computations.peer_openvino) define every
  operation (`PEER_OPERATIONS`: the backward and transposed ones too; extras `tensorflow`,
  `openvino`). TensorFlow lacks complex dtypes, stride > 1 with dilation > 1 (1-D, 2-D) and
  grouped 3-D convolutions; in float64 and float16 (its own CPU kernels, not oneDNN's float32
  ones) also grouped gradients, grouped or dilated transposed and dilated 3-D convolutions
  (`unsupported`); its float16 grad_weight and Conv3D sum in float16 and a dilated grad_weight
  spreads NaN (its operations'
  `known_causes`). OpenVINO's CPU plugin runs float64 in float32 (`precision`, known) and turns
  +Inf into the largest float32 (declared on `inf_times_zero_weight`); complex dtypes and float64
  gradients are `unsupported`.
`torch_cuda` and `torch_cuda_tf32` are the historical names of `torch@cuda` and
`torch@cuda+tf32` (harness.computations.devices), which the registry resolves with every operation.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable

import numpy as np

from harness.computations import peer_openvino, peer_tensorflow, reference
from harness.computations.devices import ImplementationUnavailable as ImplementationUnavailable
from harness.computations.devices import check_device, device_conv
from harness.computations.implementations import (
    pad_pairs,
    spatial_index,
    spread_kernel,
    torch_forward,
    torch_tensors,
)


def _require(module: str, name: str, extra: str = "peers") -> None:
    if importlib.util.find_spec(module) is None:
        raise ImplementationUnavailable(
            f"implementation '{name}' needs the {module} package, which is not installed: "
            f"pip install 'conv-harness[{extra}]'"
        )


def _explicit_pads(padding, kernel, dilation, stride) -> tuple[int, ...]:
    """Flat (before, after) pads per axis for any accepted form of `padding`."""
    rank = len(kernel)
    if padding == "same" and reference.as_tuple(stride, rank, "stride") != (1,) * rank:
        raise ValueError("padding='same' is not supported for strided convolutions")
    return reference.padding_amounts(
        padding, tuple(kernel), reference.as_tuple(dilation, rank, "dilation")
    )


def _slice_loop(x, weight, bias, stride, dilation, groups, correlate_valid, work_dtype):
    """Per (n, o, c) 'valid' correlations of an already padded input (slices of any rank), depth
    summed."""
    out_dtype = x.dtype
    x = x.astype(work_dtype)
    rank = np.asarray(weight).ndim - 2
    w = spread_kernel(
        np.asarray(weight).astype(work_dtype), reference.as_tuple(dilation, rank, "dilation")
    )
    reference.check_arguments(x, w, None, groups)
    strides = reference.as_tuple(stride, rank, "stride")
    c_out, cg = w.shape[:2]
    n = x.shape[0]
    if any(size < k for size, k in zip(x.shape[2:], w.shape[2:], strict=True)):
        raise ValueError("the dilated kernel is larger than the padded input")
    sizes = tuple(size - k + 1 for size, k in zip(x.shape[2:], w.shape[2:], strict=True))
    og = c_out // groups
    out = np.zeros((n, c_out, *sizes), dtype=work_dtype)
    for i in range(n):
        for o in range(c_out):
            g = o // og
            for c in range(cg):
                out[i, o] += correlate_valid(x[i, g * cg + c], w[o, c])
    out = out[spatial_index(slice(None, None, s) for s in strides)]
    if bias is not None:
        out = out + np.asarray(bias).astype(work_dtype).reshape((1, c_out) + (1,) * rank)
    return out.astype(out_dtype)


def _per_slice(input, weight, bias, stride, padding, dilation, groups, correlate_valid):
    """Zero-pad, then correlate every slice ('valid'), in float32 for float16 inputs."""
    x = np.asarray(input)
    pads = _explicit_pads(padding, tuple(np.asarray(weight).shape[2:]), dilation, stride)
    if any(pads):
        x = np.pad(x, [(0, 0), (0, 0), *pad_pairs(pads)])
    work = np.float32 if x.dtype == np.float16 else x.dtype
    return _slice_loop(x, weight, bias, stride, dilation, groups, correlate_valid, work)


# --- scipy.ndimage ------------------------------------------------------------------------------


def scipy_ndimage_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """scipy.ndimage.correlate per slice of any rank, origin set so out[i] reads x[i + u]."""
    from scipy import ndimage

    def correlate_valid(slice_, kernel):
        # ndimage.correlate conjugates a complex kernel (as signal.correlate does); torch does not,
        # so it gets the conjugate, and its conjugation gives the kernel back
        full = ndimage.correlate(
            slice_,
            reference.conjugated(kernel),
            mode="constant",
            cval=0.0,
            origin=[-(k // 2) for k in kernel.shape],
        )
        return full[
            tuple(slice(0, s - k + 1) for s, k in zip(slice_.shape, kernel.shape, strict=True))
        ]

    return _per_slice(input, weight, bias, stride, padding, dilation, groups, correlate_valid)


# --- OpenCV -------------------------------------------------------------------------------------


def opencv_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """cv2.filter2D per 2-D slice (correlation), anchor (0, 0) on the padded input; 2-D only."""
    _require("cv2", "opencv")
    import cv2

    ndim = np.asarray(input).ndim
    if ndim in (3, 5) and np.asarray(weight).ndim == ndim:
        raise NotImplementedError(f"opencv's filter2D is 2-D only: no conv{ndim - 2}d")
    if np.iscomplexobj(input) or np.iscomplexobj(weight):
        raise NotImplementedError("opencv's filter2D has no complex numbers")

    def correlate_valid(x2d, w2d):
        kh, kw = w2d.shape
        full = cv2.filter2D(
            np.ascontiguousarray(x2d),
            -1,
            np.ascontiguousarray(w2d),
            anchor=(0, 0),
            borderType=cv2.BORDER_CONSTANT,
        )
        return full[: x2d.shape[0] - kh + 1, : x2d.shape[1] - kw + 1]

    return _per_slice(input, weight, bias, stride, padding, dilation, groups, correlate_valid)


# --- JAX ----------------------------------------------------------------------------------------


_JAX_LAYOUTS = {
    1: ("NCH", "OIH", "NCH"),
    2: ("NCHW", "OIHW", "NCHW"),
    3: ("NCDHW", "OIDHW", "NCDHW"),
}


def jax_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """jax.lax.conv_general_dilated, channels first (NCH / NCHW / NCDHW) by rank, precision
    HIGHEST, float64 enabled."""
    _require("jax", "jax")
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    x = np.asarray(input)
    w = np.asarray(weight)
    pads = _explicit_pads(padding, w.shape[2:], dilation, stride)
    reference.check_arguments(x, w, bias, groups)
    rank = x.ndim - 2
    out = jax.lax.conv_general_dilated(
        jnp.asarray(x),
        jnp.asarray(w.astype(x.dtype)),
        window_strides=reference.as_tuple(stride, rank, "stride"),
        padding=pad_pairs(pads),
        rhs_dilation=reference.as_tuple(dilation, rank, "dilation"),
        dimension_numbers=_JAX_LAYOUTS[rank],
        feature_group_count=groups,
        precision=jax.lax.Precision.HIGHEST,
    )
    if bias is not None:
        out = out + jnp.asarray(np.asarray(bias).astype(x.dtype)).reshape((1, -1) + (1,) * rank)
    return np.asarray(out)


# --- ONNX Runtime -------------------------------------------------------------------------------

_ONNX_TYPES = {np.dtype(np.float32): 1, np.dtype(np.float64): 11, np.dtype(np.float16): 10}
_ONNX_PAD_MODES = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
}


def onnxruntime_conv(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"
):
    """An ONNX graph (Pad for non-zero padding modes, then a Conv of the arrays' rank) run on the
    CPU provider."""
    _require("onnxruntime", "onnxruntime")
    _require("onnx", "onnxruntime")
    import onnxruntime
    from onnx import TensorProto, helper

    x = np.ascontiguousarray(input)
    w = np.ascontiguousarray(np.asarray(weight).astype(x.dtype))
    reference.check_arguments(x, w, bias, groups)
    if x.dtype != np.float32:
        raise NotImplementedError(
            f"onnxruntime's CPU provider has a Conv kernel for float32 only, not {x.dtype}"
        )
    elem = _ONNX_TYPES[x.dtype]
    rank = x.ndim - 2
    pads = _explicit_pads(padding, w.shape[2:], dilation, stride)
    reference.check_padding(x.shape[2:], pads, padding_mode)
    if padding_mode == "circular" and any(pads) and x.shape[0] == 0:
        raise NotImplementedError(
            "onnxruntime's Pad in wrap mode (circular) fails on an empty batch (N = 0)"
        )
    befores, afters = list(pads[0::2]), list(pads[1::2])
    nodes, inputs, initializers = [], [helper.make_tensor_value_info("x", elem, list(x.shape))], []
    conv_input, conv_pads = "x", befores + afters  # ONNX: every axis's begin, then every end
    if padding_mode != "zeros" and any(pads):
        pad_values = [0, 0, *befores, 0, 0, *afters]
        initializers.append(
            helper.make_tensor("pads", TensorProto.INT64, [len(pad_values)], pad_values)
        )
        nodes.append(
            helper.make_node("Pad", ["x", "pads"], ["padded"], mode=_ONNX_PAD_MODES[padding_mode])
        )
        conv_input, conv_pads = "padded", [0] * (2 * rank)
    conv_inputs = [conv_input, "w"] + (["b"] if bias is not None else [])
    nodes.append(
        helper.make_node(
            "Conv",
            conv_inputs,
            ["y"],
            strides=list(reference.as_tuple(stride, rank, "stride")),
            dilations=list(reference.as_tuple(dilation, rank, "dilation")),
            pads=conv_pads,
            group=groups,
            kernel_shape=list(w.shape[2:]),
        )
    )
    inputs.append(helper.make_tensor_value_info("w", elem, list(w.shape)))
    feeds = {"x": x, "w": w}
    if bias is not None:
        inputs.append(helper.make_tensor_value_info("b", elem, [w.shape[0]]))
        feeds["b"] = np.ascontiguousarray(np.asarray(bias).astype(x.dtype))
    graph = helper.make_graph(
        nodes, "conv", inputs, [helper.make_tensor_value_info("y", elem, None)], initializers
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # e.g. no kernel for this dtype
        if "NOT_IMPLEMENTED" in str(error) or "Could not find an implementation" in str(error):
            raise NotImplementedError(f"onnxruntime: {str(error).splitlines()[0]}") from None
        raise
    return session.run(["y"], feeds)[0]


onnxruntime_conv.handles_padding_mode = True  # type: ignore[attr-defined]


# --- torch variants -----------------------------------------------------------------------------


def _torch_call(input, weight, bias, stride, padding, dilation, groups, prepare, device="cpu"):
    x, w, b = torch_tensors(input, weight, bias, device)
    return torch_forward(prepare(x), prepare(w), b, stride, padding, dilation, groups)


def _channels_last(t):
    """t in the channels-last layout of its rank: channels_last (4-D), channels_last_3d (5-D), and
    (N, L, C)-contiguous strides for 3-D tensors, which have no such memory format."""
    import torch

    if t.ndim == 4:
        return t.to(memory_format=torch.channels_last)
    if t.ndim == 5:
        return t.to(memory_format=torch.channels_last_3d)
    if t.ndim == 3:
        return t.transpose(1, 2).contiguous().transpose(1, 2)
    return t


def torch_channels_last_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv1d / 2d / 3d on channels-last tensors: another kernel path of torch."""
    return _torch_call(input, weight, bias, stride, padding, dilation, groups, _channels_last)


def torch_no_mkldnn_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv1d / 2d / 3d with the oneDNN (mkldnn) backend disabled: torch's own CPU kernels."""
    import torch

    with warnings.catch_warnings():  # entering/leaving the flags warns about Intel GPUs' TF32
        warnings.filterwarnings("ignore", message="TF32 acceleration", category=UserWarning)
        with torch.backends.mkldnn.flags(enabled=False):
            return _torch_call(input, weight, bias, stride, padding, dilation, groups, lambda t: t)


# the historical names of torch@cuda and torch@cuda+tf32 (harness.computations.devices): the same
# functions, TF32 off / on, cuDNN deterministic, no benchmarking
torch_cuda_conv = device_conv("torch_cuda")
torch_cuda_tf32_conv = device_conv("torch_cuda_tf32")


def _require_onnxruntime() -> None:
    _require("onnxruntime", "onnxruntime")
    _require("onnx", "onnxruntime")


PEERS: dict[str, tuple[Callable, Callable[[], object]]] = {
    "jax": (jax_conv, lambda: _require("jax", "jax")),
    "onnxruntime": (onnxruntime_conv, _require_onnxruntime),
    "opencv": (opencv_conv, lambda: _require("cv2", "opencv")),
    "scipy_ndimage": (scipy_ndimage_conv, lambda: None),
    "torch_channels_last": (torch_channels_last_conv, lambda: None),
    "torch_no_mkldnn": (torch_no_mkldnn_conv, lambda: None),
    "torch_cuda": (torch_cuda_conv, lambda: check_device("torch_cuda")),
    "torch_cuda_tf32": (torch_cuda_tf32_conv, lambda: check_device("torch_cuda_tf32")),
    "tensorflow": (
        peer_tensorflow.tensorflow_conv,
        lambda: _require("tensorflow", "tensorflow", "tensorflow"),
    ),
    "openvino": (
        peer_openvino.openvino_conv,
        lambda: _require("openvino", "openvino", "openvino"),
    ),
}


def _every_rank(backward, transpose, transpose_backward) -> dict[str, Callable]:
    """harness.computations.operations' names at ranks 1, 2 and 3 for three rank-generic
    functions."""
    operations: dict[str, Callable] = {}
    for rank in (1, 2, 3):
        operations[f"conv{rank}d_backward"] = backward
        operations[f"conv_transpose{rank}d"] = transpose
        operations[f"conv_transpose{rank}d_backward"] = transpose_backward
    return operations


# the operations beyond the forward convolution a peer defines (harness.computations.operations'
# names; the forward conv1d/2d/3d is PEERS' function)
PEER_OPERATIONS: dict[str, dict[str, Callable]] = {
    "tensorflow": _every_rank(
        peer_tensorflow.tensorflow_conv_backward,
        peer_tensorflow.tensorflow_conv_transpose,
        peer_tensorflow.tensorflow_conv_transpose_backward,
    ),
    "openvino": _every_rank(
        peer_openvino.openvino_conv_backward,
        peer_openvino.openvino_conv_transpose,
        peer_openvino.openvino_conv_transpose_backward,
    ),
}


def get_peer(name: str) -> Callable:
    """The peer implementation `name`; ImplementationUnavailable if its package is missing."""
    function, check = PEERS[name]
    check()
    return function


# the historical 2-D names: the same rank-generic functions
jax_conv2d = jax_conv
onnxruntime_conv2d = onnxruntime_conv
opencv_conv2d = opencv_conv
scipy_ndimage_conv2d = scipy_ndimage_conv
torch_channels_last_conv2d = torch_channels_last_conv
torch_no_mkldnn_conv2d = torch_no_mkldnn_conv
torch_cuda_conv2d = torch_cuda_conv
torch_cuda_tf32_conv2d = torch_cuda_tf32_conv
