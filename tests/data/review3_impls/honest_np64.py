"""HONEST: NumPy-array plug-in; every gradient and transposed output computed exactly in float64,
then rounded once to the case dtype (float32 arrays holding bfloat16 values -> bfloat16)."""

from ._common import backward64, round_np, tbackward64, transpose64


def _bw(rank):
    def f(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        gi, gw, gb = backward64(
            rank, grad_output, input, weight, bias, stride, padding, dilation, groups
        )
        like = [grad_output, input, weight] + ([bias] if bias is not None else [])
        return (round_np(gi, like), round_np(gw, like), None if gb is None else round_np(gb, like))

    return f


def _t(rank):
    def f(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        like = [input, weight] + ([bias] if bias is not None else [])
        return round_np(
            transpose64(
                rank, input, weight, bias, stride, padding, output_padding, groups, dilation
            ),
            like,
        )

    return f


def _tbw(rank):
    def f(
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
        gi, gw, gb = tbackward64(
            rank,
            grad_output,
            input,
            weight,
            bias,
            stride,
            padding,
            output_padding,
            groups,
            dilation,
        )
        like = [grad_output, input, weight] + ([bias] if bias is not None else [])
        return (round_np(gi, like), round_np(gw, like), None if gb is None else round_np(gb, like))

    return f


conv1d_backward, conv2d_backward, conv3d_backward = _bw(1), _bw(2), _bw(3)
conv_transpose1d, conv_transpose2d, conv_transpose3d = _t(1), _t(2), _t(3)
conv_transpose1d_backward, conv_transpose2d_backward, conv_transpose3d_backward = (
    _tbw(1),
    _tbw(2),
    _tbw(3),
)
