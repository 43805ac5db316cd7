"""conv_transpose3d computed with padding 0 and then cropped by `padding` at the start of each axis
only (the end crop forgotten): the output is `padding` samples too long per axis. Expected cause:
padding."""

import torch.nn.functional as F

from ._util import per_axis, t


def conv_transpose3d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    p = per_axis(padding, 3)
    full = F.conv_transpose3d(
        t(input), t(weight), t(bias), stride, 0, output_padding, groups, dilation
    )
    return full[:, :, p[0] :, p[1] :, p[2] :].contiguous().numpy()
