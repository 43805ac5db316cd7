"""Peer implementations: other libraries' conv2d, cross-validated like the built-ins.

Each is optional: it appears when its package is installed (`pip install 'conv-harness[peers]'`)
and otherwise raises `ImplementationUnavailable`, which the CLI reports as a usage error and the
pytest matrix as a skip with the reason. All follow the harness's conv2d signature on NumPy
arrays; the harness applies padding modes and asymmetric padding first unless a peer says it
handles them (`handles_padding_mode`).

Known, documented differences (declared per case with `diverges:` in the registry):
- `opencv` spreads a dilated kernel with zeros (as the built-in scipy leg does) yet skips zero
  taps when it filters, so dilation does not spread NaN there; `scipy_ndimage` skips zero
  weights (0*Inf is not NaN there) and drops weights with |w| <= ~2.2e-16.
- `onnxruntime`'s CPU provider has a Conv kernel for float32 only: float64 and float16 rows (the
  bfloat16 cases arrive as float32 and run) are `unsupported`.
- `opencv` and `scipy_ndimage` skip zero taps, so NaN/Inf under a zero weight does not give NaN.
- `jax` returns an empty output where the kernel is larger than the padded input; torch raises.
- `torch_cuda_tf32` rounds float32 inputs to TF32 (10-bit mantissa) as cuDNN does by default:
  float32 rows diverge by `precision`, which that implementation declares as known.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable

import numpy as np

from harness import reference
from harness.errors import ImplementationError
from harness.implementations import spread_kernel, torch_forward, torch_tensors


class ImplementationUnavailable(ImplementationError):
    """A peer implementation whose package (or device) is not available here."""


def _require(module: str, name: str, extra: str = "peers") -> None:
    if importlib.util.find_spec(module) is None:
        raise ImplementationUnavailable(
            f"implementation '{name}' needs the {module} package, which is not installed: "
            f"pip install 'conv-harness[{extra}]'"
        )


def _explicit_pads(padding, kernel, dilation, stride) -> tuple[int, int, int, int]:
    if padding == "same" and reference.as_pair(stride, "stride") != (1, 1):
        raise ValueError("padding='same' is not supported for strided convolutions")
    top, bottom, left, right = reference.padding_amounts(
        padding, kernel, reference.as_pair(dilation, "dilation")
    )
    return top, bottom, left, right


def _slice_loop(x, weight, bias, stride, dilation, groups, correlate_valid, work_dtype):
    """Per (n, o, c) 2-D 'valid' correlations of an already padded input, depth summed."""
    out_dtype = x.dtype
    x = x.astype(work_dtype)
    w = spread_kernel(
        np.asarray(weight).astype(work_dtype), reference.as_pair(dilation, "dilation")
    )
    reference.check_arguments(x, w, None, groups)
    sh, sw = reference.as_pair(stride, "stride")
    c_out, cg, ekh, ekw = w.shape
    n, _, hp, wp = x.shape
    if hp < ekh or wp < ekw:
        raise ValueError("the dilated kernel is larger than the padded input")
    og = c_out // groups
    out = np.zeros((n, c_out, hp - ekh + 1, wp - ekw + 1), dtype=work_dtype)
    for i in range(n):
        for o in range(c_out):
            g = o // og
            for c in range(cg):
                out[i, o] += correlate_valid(x[i, g * cg + c], w[o, c])
    out = out[:, :, ::sh, ::sw]
    if bias is not None:
        out = out + np.asarray(bias).astype(work_dtype)[None, :, None, None]
    return out.astype(out_dtype)


def _per_slice(input, weight, bias, stride, padding, dilation, groups, correlate_valid):
    """Zero-pad, then correlate every 2-D slice ('valid'), in float32 for float16 inputs."""
    x = np.asarray(input)
    pads = _explicit_pads(padding, tuple(np.asarray(weight).shape[2:]), dilation, stride)
    if any(pads):
        x = reference.pad(x, pads, "zeros")
    work = np.float32 if x.dtype == np.float16 else x.dtype
    return _slice_loop(x, weight, bias, stride, dilation, groups, correlate_valid, work)


# --- scipy.ndimage ------------------------------------------------------------------------------


def scipy_ndimage_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """scipy.ndimage.correlate per 2-D slice, origin set so out[i, j] reads x[i + u, j + v]."""
    from scipy import ndimage

    def correlate_valid(x2d, w2d):
        kh, kw = w2d.shape
        full = ndimage.correlate(
            x2d, w2d, mode="constant", cval=0.0, origin=(-(kh // 2), -(kw // 2))
        )
        return full[: x2d.shape[0] - kh + 1, : x2d.shape[1] - kw + 1]

    return _per_slice(input, weight, bias, stride, padding, dilation, groups, correlate_valid)


# --- OpenCV -------------------------------------------------------------------------------------


def opencv_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """cv2.filter2D per 2-D slice (correlation), anchor (0, 0) on the padded input."""
    _require("cv2", "opencv")
    import cv2

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


def jax_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """jax.lax.conv_general_dilated, NCHW/OIHW, precision HIGHEST, float64 enabled."""
    _require("jax", "jax")
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    x = np.asarray(input)
    w = np.asarray(weight)
    top, bottom, left, right = _explicit_pads(padding, w.shape[2:], dilation, stride)
    reference.check_arguments(x, w, bias, groups)
    out = jax.lax.conv_general_dilated(
        jnp.asarray(x),
        jnp.asarray(w.astype(x.dtype)),
        window_strides=reference.as_pair(stride, "stride"),
        padding=[(top, bottom), (left, right)],
        rhs_dilation=reference.as_pair(dilation, "dilation"),
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        feature_group_count=groups,
        precision=jax.lax.Precision.HIGHEST,
    )
    if bias is not None:
        out = out + jnp.asarray(np.asarray(bias).astype(x.dtype))[None, :, None, None]
    return np.asarray(out)


# --- ONNX Runtime -------------------------------------------------------------------------------

_ONNX_TYPES = {np.dtype(np.float32): 1, np.dtype(np.float64): 11, np.dtype(np.float16): 10}
_ONNX_PAD_MODES = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
}


def onnxruntime_conv2d(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"
):
    """An ONNX graph (Pad for non-zero padding modes, then Conv) run on the CPU provider."""
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
    top, bottom, left, right = _explicit_pads(padding, w.shape[2:], dilation, stride)
    reference.check_padding(x.shape[2:], (top, bottom, left, right), padding_mode)
    nodes, inputs, initializers = [], [helper.make_tensor_value_info("x", elem, list(x.shape))], []
    conv_input, conv_pads = "x", [top, left, bottom, right]
    if padding_mode != "zeros" and any((top, bottom, left, right)):
        pads = np.array([0, 0, top, left, 0, 0, bottom, right], dtype=np.int64)
        initializers.append(helper.make_tensor("pads", TensorProto.INT64, [8], pads.tolist()))
        nodes.append(
            helper.make_node("Pad", ["x", "pads"], ["padded"], mode=_ONNX_PAD_MODES[padding_mode])
        )
        conv_input, conv_pads = "padded", [0, 0, 0, 0]
    conv_inputs = [conv_input, "w"] + (["b"] if bias is not None else [])
    nodes.append(
        helper.make_node(
            "Conv",
            conv_inputs,
            ["y"],
            strides=list(reference.as_pair(stride, "stride")),
            dilations=list(reference.as_pair(dilation, "dilation")),
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


onnxruntime_conv2d.handles_padding_mode = True  # type: ignore[attr-defined]


# --- torch variants -----------------------------------------------------------------------------


def _torch_call(input, weight, bias, stride, padding, dilation, groups, prepare, device="cpu"):
    x, w, b = torch_tensors(input, weight, bias, device)
    return torch_forward(prepare(x), prepare(w), b, stride, padding, dilation, groups)


def torch_channels_last_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv2d on channels_last (NHWC-strided) tensors: another kernel path of torch."""
    import torch

    return _torch_call(
        input,
        weight,
        bias,
        stride,
        padding,
        dilation,
        groups,
        lambda t: t.to(memory_format=torch.channels_last),
    )


def torch_no_mkldnn_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv2d with the oneDNN (mkldnn) backend disabled: torch's own CPU kernels."""
    import torch

    with warnings.catch_warnings():  # entering/leaving the flags warns about Intel GPUs' TF32
        warnings.filterwarnings("ignore", message="TF32 acceleration", category=UserWarning)
        with torch.backends.mkldnn.flags(enabled=False):
            return _torch_call(input, weight, bias, stride, padding, dilation, groups, lambda t: t)


def _cuda(name: str):
    import torch

    if not torch.cuda.is_available():
        raise ImplementationUnavailable(f"implementation '{name}' needs a CUDA device; none here")


def torch_cuda_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv2d on the GPU with TF32 disabled (full float32 precision in cuDNN)."""
    import torch

    _cuda("torch_cuda")
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        return _torch_call(
            input, weight, bias, stride, padding, dilation, groups, lambda t: t, "cuda"
        )


def torch_cuda_tf32_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv2d on the GPU with TF32 allowed, as cuDNN does by default for float32."""
    import torch

    _cuda("torch_cuda_tf32")
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=True):
        return _torch_call(
            input, weight, bias, stride, padding, dilation, groups, lambda t: t, "cuda"
        )


torch_cuda_tf32_conv2d.known_causes = ("precision",)  # type: ignore[attr-defined]


def _require_onnxruntime() -> None:
    _require("onnxruntime", "onnxruntime")
    _require("onnx", "onnxruntime")


PEERS: dict[str, tuple[Callable, Callable[[], None]]] = {
    "jax": (jax_conv2d, lambda: _require("jax", "jax")),
    "onnxruntime": (
        onnxruntime_conv2d,
        _require_onnxruntime,
    ),
    "opencv": (opencv_conv2d, lambda: _require("cv2", "opencv")),
    "scipy_ndimage": (scipy_ndimage_conv2d, lambda: None),
    "torch_channels_last": (torch_channels_last_conv2d, lambda: None),
    "torch_no_mkldnn": (torch_no_mkldnn_conv2d, lambda: None),
    "torch_cuda": (torch_cuda_conv2d, lambda: _cuda("torch_cuda")),
    "torch_cuda_tf32": (torch_cuda_tf32_conv2d, lambda: _cuda("torch_cuda_tf32")),
}


def get_peer(name: str) -> Callable:
    """The peer implementation `name`; ImplementationUnavailable if its package is missing."""
    function, check = PEERS[name]
    check()
    return function
