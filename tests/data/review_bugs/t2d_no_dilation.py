"""conv_transpose2d forwarding every argument to torch except dilation (a real shipped bug shape:
a wrapper whose signature has `dilation` but never passes it on). Expected cause: dilation."""

import torch.nn.functional as F

from ._util import t


def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    out = F.conv_transpose2d(t(input), t(weight), t(bias), stride, padding, output_padding, groups)
    return out.numpy()
