"""conv3d_backward: grad_bias sums grad_output of image 0 only. Expected cause: bias."""

from ._u import conv_grads


def conv3d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    gi, gw, _ = conv_grads(grad_output, input, weight, None, stride, padding, dilation, groups)
    gb = None if bias is None else grad_output[0].sum(axis=(1, 2, 3))
    return gi, gw, gb
