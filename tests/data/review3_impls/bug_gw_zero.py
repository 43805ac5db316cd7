"""BUGGY: backward whose grad_weight is all zeros (run on bfloat16 cases): must not be ok."""

from ._common import backward64, round_np


def _bw(rank):
    def f(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        gi, gw, gb = backward64(
            rank, grad_output, input, weight, bias, stride, padding, dilation, groups
        )
        like = [grad_output, input, weight] + ([bias] if bias is not None else [])
        return (
            round_np(gi, like),
            round_np(gw * 0, like),
            None if gb is None else round_np(gb, like),
        )

    return f


conv1d_backward, conv2d_backward, conv3d_backward = _bw(1), _bw(2), _bw(3)
