"""BUGGY: grad_input that leaves the last output channel out of its sum over grad_output channels
(run on float16 cases): cause `depth_sum`."""

from ._common import _t64, backward64, round_np


def _bw(rank):
    def f(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        _gi, gw, gb = backward64(
            rank, grad_output, input, weight, bias, stride, padding, dilation, groups
        )
        g2 = _t64(grad_output)
        g2[:, -1] = 0
        gi2, _, _ = backward64(
            rank, g2.numpy(), input, weight, bias, stride, padding, dilation, groups
        )
        like = [grad_output, input, weight] + ([bias] if bias is not None else [])
        return (round_np(gi2, like), round_np(gw, like), None if gb is None else round_np(gb, like))

    return f


conv1d_backward, conv2d_backward, conv3d_backward = _bw(1), _bw(2), _bw(3)
