"""The `tensorflow` peer: TensorFlow's convolution (tf.nn.convolution), transposed convolution
(tf.nn.conv_transpose) and their gradients (tf.GradientTape) at every rank, on NumPy arrays in
torch's conventions (harness.computations.operations), the layouts converted here: NC*S <-> N*SC for
data, (C_out, C_in/g, *k) -> (*k, C_in/g, C_out) for a forward filter and (C_in, C_out/g, *k) ->
(*k, C_out, C_in) for a transposed one.

Padding: 'same' and 'valid' are TensorFlow's SAME and VALID; numbers are zeros added with tf.pad
before a VALID convolution. A transposed convolution is TensorFlow's VALID one of the full size
(plus output_padding, up to stride - 1 of it, as TensorFlow takes it), cropped by `padding` on
both sides. TensorFlow is imported on first use, with its C++ logging quieted.

What TensorFlow lacks (NotImplementedError, an `unsupported` row; its own exceptions mapped only
where they say a feature is missing): complex dtypes (its Conv kernels are registered for real
types only), stride > 1 together with dilation > 1 in 1-D and 2-D (tf.nn.convolution refuses it),
grouped 3-D convolutions (Conv3D demands equal depths) and, in float64 and float16, which run on
TensorFlow's own CPU kernels instead of oneDNN's float32 ones, grouped gradients, grouped or
dilated transposed convolutions and dilated 3-D convolutions. Rank 3 calls tf.nn.conv3d: the 3-D
op that tf.nn.convolution builds has no gradient in eager mode (its data_format attribute is
missing when the tape replays it).
"""

from __future__ import annotations

import os
import sys

import numpy as np

from harness.computations import reference

# TensorFlow's messages for what its CPU kernels lack (grouped gradients, Conv3D dilation, grouped
# transposed convolutions, complex types)
_UNSUPPORTED_MESSAGES = (
    "could not create a primitive",
    "must have the same depth",
    "are not supported on cpu",
    "currently only supports",
    "not yet support",
    "not in the list of allowed values",
    "not supported in conjunction with",
    "must match last dimension of input",
    "must have the same number of channels",
)


def _tf():
    """tensorflow, imported on first use with its C++ logging off; the notices its native
    libraries print to stderr while loading (before any log level applies) are discarded."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def check_output_padding(output_padding, strides, dilations) -> None:
    """Refuse what torch refuses: output_padding not smaller than the stride or the dilation."""
    for op, s, d in zip(output_padding, strides, dilations, strict=True):
        if op >= max(s, d):
            raise ValueError(f"output_padding {op} must be smaller than the stride or dilation")


def _channels_last(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, 1, -1)


def _channels_first(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, -1, 1)


def _forward_filter(w: np.ndarray) -> np.ndarray:
    """(C_out, C_in/g, *k) -> (*k, C_in/g, C_out)."""
    return np.transpose(w, (*range(2, w.ndim), 1, 0))


def _forward_weight(f: np.ndarray) -> np.ndarray:
    """The inverse of _forward_filter."""
    rank = f.ndim - 2
    return np.transpose(f, (rank + 1, rank, *range(rank)))


def _transposed_filter(w: np.ndarray) -> np.ndarray:
    """(C_in, C_out, *k) -> (*k, C_out, C_in), TensorFlow's filter of conv_transpose."""
    return np.transpose(w, (*range(2, w.ndim), 1, 0))


def _check_supported(x: np.ndarray) -> None:
    if np.iscomplexobj(x):
        raise NotImplementedError(
            f"tensorflow's convolutions have no complex dtypes (not {x.dtype})"
        )


def _unsupported(error: Exception) -> Exception:
    """TensorFlow's own exception as NotImplementedError where it says a feature is missing."""
    tf = _tf()
    text = str(error)
    if isinstance(error, tf.errors.UnimplementedError) or (
        isinstance(error, (tf.errors.InvalidArgumentError, tf.errors.AbortedError, ValueError))
        and any(m in text.lower() for m in _UNSUPPORTED_MESSAGES)
    ):
        return NotImplementedError(f"tensorflow: {text.strip().splitlines()[0][:200]}")
    return error


def _tf_padding(padding, kernel, dilation, stride):
    """TensorFlow's padding string and the explicit (before, after) pads left to tf.pad."""
    rank = len(kernel)
    if isinstance(padding, str):
        if padding == "same" and reference.as_tuple(stride, rank, "stride") != (1,) * rank:
            raise ValueError("padding='same' is not supported for strided convolutions")
        return padding.upper(), (0,) * (2 * rank)
    pads = reference.padding_amounts(
        padding, tuple(kernel), reference.as_tuple(dilation, rank, "dilation")
    )
    return "VALID", pads


def _forward(tf, x, f, b, strides, padding_name, pads, dilations):
    """The forward graph on channels-last tensors (the tape records it)."""
    rank = len(strides)
    if any(pads):
        x = tf.pad(x, [[0, 0], *[[pads[2 * a], pads[2 * a + 1]] for a in range(rank)], [0, 0]])
    if rank == 3:  # tf.nn.convolution's 3-D op has no gradient in eager mode (its data_format
        # attribute is missing when the tape replays it); tf.nn.conv3d is the same op with it set
        y = tf.nn.conv3d(
            x, f, [1, *strides, 1], padding_name, "NDHWC", dilations=[1, *dilations, 1]
        )
    else:
        y = tf.nn.convolution(x, f, strides=strides, padding=padding_name, dilations=dilations)
    if b is None or y.shape[-1] != b.shape[0]:
        # float32 on an empty batch: TensorFlow's oneDNN convolution returns its input as is
        # (C_in channels, the input's sizes); that shape is the result, with no bias to add
        return y
    return y + b


def _prepare(input, weight, bias, stride, dilation, groups, transposed):
    x = np.asarray(input)
    w = np.asarray(weight).astype(x.dtype)
    b = None if bias is None else np.asarray(bias).astype(x.dtype)
    _check_supported(x)
    rank = x.ndim - 2
    strides = list(reference.as_tuple(stride, rank, "stride"))
    dilations = list(reference.as_tuple(dilation, rank, "dilation"))
    return x, w, b, strides, dilations


def tensorflow_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """tf.nn.convolution on the input in channels-last layout, the filter as (*k, C_in/g, C_out);
    groups as TensorFlow infers them from the depths."""
    x, w, b, strides, dilations = _prepare(input, weight, bias, stride, dilation, groups, False)
    reference.check_arguments(x, w, b, groups)
    name, pads = _tf_padding(padding, w.shape[2:], dilation, stride)
    tf = _tf()
    try:
        y = _forward(tf, _channels_last(x), _forward_filter(w), b, strides, name, pads, dilations)
    except Exception as error:
        raise _unsupported(error) from None
    return _channels_first(y.numpy())


def tensorflow_conv_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    """grad_input, grad_weight, grad_bias from tf.GradientTape over tensorflow_conv's graph."""
    x, w, b, strides, dilations = _prepare(input, weight, bias, stride, dilation, groups, False)
    reference.check_arguments(x, w, b, groups)
    name, pads = _tf_padding(padding, w.shape[2:], dilation, stride)
    return _tape_gradients(
        grad_output,
        x,
        w,
        b,
        _forward_filter,
        lambda tf, xt, ft, bt: _forward(tf, xt, ft, bt, strides, name, pads, dilations),
    )


def _tape_gradients(grad_output, x, w, b, filter_of, graph):
    """grad_input, grad_weight, grad_bias of `graph(tf, x, filter, bias)` (channels-last
    tensors, the filter as `filter_of` lays out w) from tf.GradientTape, in torch's layouts."""
    tf = _tf()
    leaves = [tf.Variable(_channels_last(x)), tf.Variable(filter_of(w))]
    if b is not None:
        leaves.append(tf.Variable(b))
    g = tf.constant(_channels_last(np.asarray(grad_output).astype(x.dtype)))
    try:
        with tf.GradientTape() as tape:
            y = graph(tf, leaves[0], leaves[1], leaves[2] if b is not None else None)
        grads = tape.gradient(y, leaves, output_gradients=g)
    except Exception as error:
        raise _unsupported(error) from None
    return _gradients(grads, x, w, b, _forward_weight)


def _gradients(grads, x, w, b, weight_of):
    """The tape's gradients in torch's layouts; a leaf the graph does not reach gets zeros."""
    arrays = [None if t is None else t.numpy() for t in grads]
    gi = np.zeros_like(x) if arrays[0] is None else _channels_first(arrays[0])
    gw = np.zeros_like(w) if arrays[1] is None else weight_of(arrays[1])
    gb = None
    if b is not None:
        gb = np.zeros_like(b) if arrays[2] is None else arrays[2]
    return gi, gw, gb


def _transposed(tf, x, f, b, strides, pads, output_padding, dilations, sizes, groups):
    """TensorFlow's VALID conv_transpose of the full size (+ output_padding where TensorFlow takes
    it), zero-extended by the rest of output_padding, cropped by `pads` on each side."""
    rank = len(strides)
    n, c_out = x.shape[0], f.shape[-2] * groups  # a grouped filter: (*k, C_out/g, C_in)
    full = [
        (size - 1) * s + d * (k - 1) + 1
        for size, s, d, k in zip(sizes, strides, dilations, f.shape[:rank], strict=True)
    ]
    taken = [min(op, s - 1) for op, s in zip(output_padding, strides, strict=True)]
    shape = [n, *[a + t for a, t in zip(full, taken, strict=True)], c_out]
    y = tf.nn.conv_transpose(x, f, shape, strides=strides, padding="VALID", dilations=dilations)
    rest = [op - t for op, t in zip(output_padding, taken, strict=True)]
    if any(rest):
        y = tf.pad(y, [[0, 0], *[[0, r] for r in rest], [0, 0]])
    index = tuple(slice(p, y.shape[1 + a] - p) for a, p in enumerate(pads))
    y = y[tuple([slice(None), *index, slice(None)])]
    return y if b is None else y + b


def _transposed_prepare(input, weight, bias, stride, padding, output_padding, groups, dilation):
    x, w, b, strides, dilations = _prepare(input, weight, bias, stride, dilation, groups, True)
    rank = x.ndim - 2
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"input has {x.shape[1]} channels, the weight {w.shape[0]}")
    pads = list(reference.as_tuple(padding, rank, "padding"))
    output_padding = list(reference.as_tuple(output_padding, rank, "output_padding"))
    check_output_padding(output_padding, strides, dilations)
    return x, w, b, strides, dilations, pads, output_padding


def tensorflow_conv_transpose(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """tf.nn.conv_transpose (conv1d/2d/3d_transpose) in channels-last layout, the filter as
    (*k, C_out, C_in)."""
    x, w, b, strides, dilations, pads, op = _transposed_prepare(
        input, weight, bias, stride, padding, output_padding, groups, dilation
    )
    tf = _tf()
    try:
        y = _transposed(
            tf,
            _channels_last(x),
            _transposed_filter(w),
            b,
            strides,
            pads,
            op,
            dilations,
            x.shape[2:],
            groups,
        )
    except Exception as error:
        raise _unsupported(error) from None
    return _channels_first(y.numpy())


def tensorflow_conv_transpose_backward(
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
    """grad_input, grad_weight, grad_bias from tf.GradientTape over the transposed graph."""
    x, w, b, strides, dilations, pads, op = _transposed_prepare(
        input, weight, bias, stride, padding, output_padding, groups, dilation
    )
    return _tape_gradients(
        grad_output,
        x,
        w,
        b,
        _transposed_filter,
        lambda tf, xt, ft, bt: _transposed(
            tf, xt, ft, bt, strides, pads, op, dilations, x.shape[2:], groups
        ),
    )


# float16: the CPU filter gradient (Conv2DBackpropFilter and its 1-D/3-D forms) accumulates over
# images and positions in float16 (it equals a sequential float16 sum of the products), so
# grad_weight differs by rounding (`precision`); NaN: a dilated convolution's float64 filter
# gradient has NaN at taps that never read the NaN input (cases/numerics.yaml nan_dilation_taps:
# 4 taps where a hand loop gives 1), `nan`
tensorflow_conv_backward.known_causes = ("precision", "nan")  # type: ignore[attr-defined]
# float16: the CPU Conv3D sums in float16 (measured: 5 to 10 times the error of one rounding, as a
# float16 running sum; conv1d/conv2d round once)
tensorflow_conv.known_causes = ("precision",)  # type: ignore[attr-defined]
# float16: the transposed convolution and its gradients sum in float16 in part (measured: 2 to 9
# times the error of one rounding); NaN: the transposed output is computed in full and cropped
# (TensorFlow's has no explicit padding), so grad_weight sums 0 * input over the cropped border,
# where a NaN input gives NaN (as torch's float64 path does); shape: on an empty batch in float32
# grad_input comes from the oneDNN convolution that returns its input, so it has grad_output's
# shape
tensorflow_conv_transpose.known_causes = ("precision",)  # type: ignore[attr-defined]
tensorflow_conv_transpose_backward.known_causes = (  # type: ignore[attr-defined]
    "precision",
    "nan",
    "shape",
)
