"""BUGGY: conv_transpose output halved (run on bfloat16 cases): any non-ok cause."""

from ._common import round_np, transpose64


def _t(rank):
    def f(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        like = [input, weight] + ([bias] if bias is not None else [])
        return round_np(
            0.5
            * transpose64(
                rank, input, weight, bias, stride, padding, output_padding, groups, dilation
            ),
            like,
        )

    return f


conv_transpose1d, conv_transpose2d, conv_transpose3d = _t(1), _t(2), _t(3)
