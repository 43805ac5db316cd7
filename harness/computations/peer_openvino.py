"""The `openvino` peer: small OpenVINO models (opset13: Convolution, GroupConvolution,
ConvolutionBackpropData, GroupConvolutionBackpropData, ReduceSum, Add for the bias) compiled for
the "CPU" device with f32 inference precision, on NumPy arrays in torch's conventions
(harness.computations.operations). OpenVINO's layouts are torch's (NC*S data, (C_out, C_in/g, *k)
filters, (C_in, C_out/g, *k) for the backprop-data ops); grouped filters get a leading groups axis.

Forward: Convolution (GroupConvolution with groups), 'same' as SAME_UPPER (torch's extra pixel
at the end), 'valid' as VALID, numbers as explicit pads_begin/pads_end. Transposed:
ConvolutionBackpropData with pads on both sides and output_padding. The forward's backward:
grad_input is ConvolutionBackpropData of grad_output (output_padding makes up the input size),
grad_weight a convolution of the input (its channels as the batch, the batch as channels) with
grad_output as the filter, stride and dilation exchanged, grad_bias a ReduceSum. The transposed
backward: grad_input a Convolution of grad_output, grad_weight that same weight-gradient
convolution with the roles of the two tensors exchanged. Compiled models are cached by shapes,
dtype and parameters.

What OpenVINO lacks (NotImplementedError, an `unsupported` row): complex dtypes (no complex
element type). OpenVINO's CPU plugin runs float64 models in float32 (its documented supported
precisions); `known_causes` declares `precision` for that.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from harness.computations import reference
from harness.computations.implementations import spatial_index

_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}


@functools.cache
def _core():
    import openvino as ov

    return ov.Core()


def _ops():
    import openvino.opset13 as ops

    return ops


@functools.lru_cache(maxsize=128)
def _compiled(kind: str, shapes: tuple, dtype: str, params: tuple):
    """The compiled model of one operation for these shapes, dtype and parameters."""
    import openvino as ov

    ops = _ops()
    inputs = [ops.parameter(list(shape), np.dtype(dtype)) for shape in shapes]
    outputs = _BUILDERS[kind](
        ops, inputs, *(list(p) if isinstance(p, tuple) else p for p in params)
    )
    return _core().compile_model(ov.Model(outputs, inputs, kind), "CPU", _CONFIG)


def check_output_padding(output_padding, strides, dilations) -> None:
    """Refuse what torch refuses: output_padding not smaller than the stride or the dilation."""
    for op, s, d in zip(output_padding, strides, dilations, strict=True):
        if op >= max(s, d):
            raise ValueError(f"output_padding {op} must be smaller than the stride or dilation")


def _check_dtype(dtype, gradient: bool = False) -> None:
    if np.issubdtype(dtype, np.complexfloating):
        raise NotImplementedError(f"openvino has no complex element type (not {dtype})")
    if gradient and dtype == np.float64:
        raise NotImplementedError(
            "openvino's CPU plugin has no float64 kernels (it runs a float64 model in float32): "
            "its gradients are checked in float32 and float16"
        )


def _run(kind: str, arrays: list[np.ndarray], params: tuple) -> list[np.ndarray]:
    dtype = arrays[0].dtype
    _check_dtype(dtype)
    arrays = [np.ascontiguousarray(a.astype(dtype)) for a in arrays]
    try:
        model = _compiled(kind, tuple(a.shape for a in arrays), dtype.name, params)
        result = model(arrays)
    except RuntimeError as error:
        text = str(error)
        if "not supported" in text.lower() or "unsupported" in text.lower():
            raise NotImplementedError(f"openvino: {text.strip().splitlines()[0][:200]}") from None
        raise
    return [np.asarray(result[i]).astype(dtype, copy=False) for i in range(len(result))]


def _conv(ops, data, filters, strides, begins, ends, dilations, auto_pad, groups):
    if groups > 1:
        return ops.group_convolution(data, filters, strides, begins, ends, dilations, auto_pad)
    return ops.convolution(data, filters, strides, begins, ends, dilations, auto_pad)


def _with_bias(ops, node, inputs):
    return [ops.add(node, inputs[2]) if len(inputs) > 2 else node]


def _build_forward(ops, inputs, strides, begins, ends, dilations, auto_pad, groups):
    y = _conv(ops, inputs[0], inputs[1], strides, begins, ends, dilations, auto_pad, groups)
    return _with_bias(ops, y, inputs)


def _build_transposed(ops, inputs, strides, pads, dilations, output_padding, groups):
    back = ops.group_convolution_backprop_data if groups > 1 else ops.convolution_backprop_data
    y = back(
        inputs[0],
        inputs[1],
        strides,
        pads_begin=pads,
        pads_end=pads,
        dilations=dilations,
        auto_pad="explicit",
        output_padding=output_padding,
    )
    return _with_bias(ops, y, inputs)


def _build_convolution(ops, inputs, strides, begins, ends, dilations, groups):
    return [_conv(ops, inputs[0], inputs[1], strides, begins, ends, dilations, "explicit", groups)]


def _build_reduce(ops, inputs, axes):
    return [ops.reduce_sum(inputs[0], np.array(axes, dtype=np.int64), False)]


_BUILDERS: dict[str, Callable[..., list]] = {
    "forward": _build_forward,
    "transposed": _build_transposed,
    "convolution": _build_convolution,
    "reduce": _build_reduce,
}


def _grouped_filter(w: np.ndarray, groups: int) -> np.ndarray:
    """(C_a, C_b, *k) -> (groups, C_a/groups, C_b, *k) for the grouped ops; as is for 1 group."""
    if groups == 1:
        return w
    return w.reshape(groups, w.shape[0] // groups, *w.shape[1:])


def _parameters(x, w, stride, dilation):
    rank = x.ndim - 2
    return (
        list(reference.as_tuple(stride, rank, "stride")),
        list(reference.as_tuple(dilation, rank, "dilation")),
    )


def _pads(padding, kernel, dilation, stride) -> tuple[str, list[int], list[int]]:
    """OpenVINO's auto_pad and explicit pads_begin, pads_end for torch's padding forms."""
    rank = len(kernel)
    if isinstance(padding, str):
        if padding == "same" and reference.as_tuple(stride, rank, "stride") != (1,) * rank:
            raise ValueError("padding='same' is not supported for strided convolutions")
        return ("same_upper" if padding == "same" else "valid"), [0] * rank, [0] * rank
    pads = reference.padding_amounts(
        padding, tuple(kernel), reference.as_tuple(dilation, rank, "dilation")
    )
    return "explicit", list(pads[0::2]), list(pads[1::2])


def _bias_shape(b: np.ndarray, rank: int) -> np.ndarray:
    return b.reshape((1, -1) + (1,) * rank)


def openvino_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Convolution / GroupConvolution (+ Add of the bias) compiled for the CPU plugin."""
    x = np.asarray(input)
    w = np.asarray(weight).astype(x.dtype)
    reference.check_arguments(x, w, bias, groups)
    strides, dilations = _parameters(x, w, stride, dilation)
    auto_pad, begins, ends = _pads(padding, w.shape[2:], dilation, stride)
    arrays = [x, _grouped_filter(w, groups)]
    if bias is not None:
        arrays.append(_bias_shape(np.asarray(bias).astype(x.dtype), x.ndim - 2))
    params = _listed(strides, begins, ends, dilations, auto_pad, groups)
    return _run("forward", arrays, params)[0]


def _listed(*values) -> tuple:
    """Parameters hashable for the cache, lists of ints as tuples."""
    return tuple(tuple(v) if isinstance(v, list) else v for v in values)


def _weight_gradient(data, grad, strides, begins, ends, dilations, groups, kernel):
    """(C_grad, C_data/groups, *kernel): sum over n and positions of grad[n, o, pos] times
    data[n, c, pos * stride + k * dilation] (data padded by begins/ends), as one (grouped)
    convolution with the batch as channels: data (c, groups * N, S), filter (groups, o, N, S_g),
    stride and dilation exchanged."""
    n, c_data = data.shape[:2]
    c_grad = grad.shape[1]
    if n == 0:  # no image: nothing to sum (OpenVINO takes no zero-channel data)
        return np.zeros((c_grad, c_data // groups, *kernel), dtype=data.dtype)
    rank = data.ndim - 2
    cd, og = c_data // groups, c_grad // groups
    spatial = tuple(range(3, 3 + rank))
    d = data.reshape(n, groups, cd, *data.shape[2:]).transpose(2, 1, 0, *spatial)
    d = d.reshape(cd, groups * n, *data.shape[2:])
    f = grad.reshape(n, groups, og, *grad.shape[2:]).transpose(1, 2, 0, *spatial)
    f = f if groups > 1 else f[0]
    # the step between taps is the forward's dilation; where the kernel has one tap it is moot and
    # 1 is used (OpenVINO's CPU Convolution errs with a stride > 1 over an axis whose output has a
    # single element while another axis has several: cases/findings/findings_openvino.yaml)
    steps = [dl if k > 1 else 1 for dl, k in zip(dilations, kernel, strict=True)]
    params = _listed(steps, list(begins), list(ends), list(strides), groups)
    out = _run("convolution", [d, f], params)[0]
    out = out[spatial_index(slice(0, k) for k in kernel)]
    return np.ascontiguousarray(np.swapaxes(out, 0, 1))


def _bias_gradient(grad, with_bias: bool):
    if not with_bias:
        return None
    axes = (0, *range(2, grad.ndim))
    if grad.shape[0] == 0 or math.prod(grad.shape[2:]) == 0:
        return np.zeros(grad.shape[1], dtype=grad.dtype)
    return _run("reduce", [grad], (axes,))[0]


def openvino_conv_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    """grad_input by ConvolutionBackpropData, grad_weight by a convolution, grad_bias by
    ReduceSum."""
    x = np.asarray(input)
    w = np.asarray(weight).astype(x.dtype)
    g = np.asarray(grad_output).astype(x.dtype)
    reference.check_arguments(x, w, bias, groups)
    strides, dilations = _parameters(x, w, stride, dilation)
    kernel = w.shape[2:]
    _check_dtype(x.dtype, gradient=True)
    pads = reference.padding_amounts(padding, tuple(kernel), tuple(dilations))
    begins, ends = list(pads[0::2]), list(pads[1::2])
    output_padding = [
        size + b + e - ((o - 1) * s + dl * (k - 1) + 1)
        for size, b, e, o, s, dl, k in zip(
            x.shape[2:], begins, ends, g.shape[2:], strides, dilations, kernel, strict=True
        )
    ]
    params = _listed(strides, begins, ends, dilations, output_padding, groups)
    gi = _run("transposed_asym", [g, _grouped_filter(w, groups)], params)[0]
    gw = _weight_gradient(x, g, strides, begins, ends, dilations, groups, kernel)
    return gi, gw.astype(x.dtype), _bias_gradient(g, bias is not None)


def _build_transposed_asym(ops, inputs, strides, begins, ends, dilations, output_padding, groups):
    back = ops.group_convolution_backprop_data if groups > 1 else ops.convolution_backprop_data
    y = back(
        inputs[0],
        inputs[1],
        strides,
        pads_begin=begins,
        pads_end=ends,
        dilations=dilations,
        auto_pad="explicit",
        output_padding=output_padding,
    )
    return [y]


_BUILDERS["transposed_asym"] = _build_transposed_asym


def _transposed_parameters(x, w, stride, padding, output_padding, dilation):
    rank = x.ndim - 2
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"input has {x.shape[1]} channels, the weight {w.shape[0]}")
    strides, dilations = _parameters(x, w, stride, dilation)
    pads = list(reference.as_tuple(padding, rank, "padding"))
    extra = list(reference.as_tuple(output_padding, rank, "output_padding"))
    check_output_padding(extra, strides, dilations)
    return strides, pads, extra, dilations


def openvino_conv_transpose(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """ConvolutionBackpropData / GroupConvolutionBackpropData (+ Add of the bias)."""
    x = np.asarray(input)
    w = np.asarray(weight).astype(x.dtype)
    strides, pads, op, dilations = _transposed_parameters(
        x, w, stride, padding, output_padding, dilation
    )
    arrays = [x, _grouped_filter(w, groups)]
    if bias is not None:
        arrays.append(_bias_shape(np.asarray(bias).astype(x.dtype), x.ndim - 2))
    return _run("transposed", arrays, _listed(strides, pads, dilations, op, groups))[0]


def openvino_conv_transpose_backward(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
):
    """grad_input by a Convolution of grad_output, grad_weight by the weight-gradient
    convolution (grad_output the data, the input the filter), grad_bias by ReduceSum."""
    x = np.asarray(input)
    w = np.asarray(weight).astype(x.dtype)
    g = np.asarray(grad_output).astype(x.dtype)
    _check_dtype(x.dtype, gradient=True)
    strides, pads, _, dilations = _transposed_parameters(
        x, w, stride, padding, output_padding, dilation
    )
    params = _listed(strides, pads, pads, dilations, groups)
    gi = _run("convolution", [g, _grouped_filter(w, groups)], params)[0]
    gi = gi[spatial_index(slice(0, size) for size in x.shape[2:])]
    gw = _weight_gradient(g, x, strides, pads, pads, dilations, groups, w.shape[2:])
    return np.ascontiguousarray(gi), gw.astype(x.dtype), _bias_gradient(g, bias is not None)


# the CPU plugin runs a float64 model in float32: float64 outputs differ by float32's rounding
openvino_conv.known_causes = ("precision",)  # type: ignore[attr-defined]
openvino_conv_transpose.known_causes = ("precision",)  # type: ignore[attr-defined]
# grad_weight of a transposed convolution is a convolution over grad_output zero-padded by
# `padding`: an input NaN times a zero of that border is NaN, as in torch's float64 kernel, where
# the reference leaves the border out (fuzz --op conv_transpose --backward --seed 2)
openvino_conv_transpose_backward.known_causes = ("nan",)  # type: ignore[attr-defined]
