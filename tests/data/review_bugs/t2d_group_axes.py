"""conv_transpose2d with groups run one group at a time, the group's weight block read as if the
weight were stored (groups, C_out/groups, C_in/groups, ...) and then swapped back: the in/out
channel axes of every block are transposed. Expected cause: groups."""

import torch
import torch.nn.functional as F

from ._util import t


def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    x, w = t(input), t(weight)
    c_in, per_out = w.shape[:2]
    per_in = c_in // groups
    blocks = w.reshape(groups, per_out, per_in, *w.shape[2:])  # BUG: wrong axis order
    outs = []
    for g in range(groups):
        wg = blocks[g].transpose(0, 1).contiguous()  # (per_in, per_out, kH, kW)
        xg = x[:, g * per_in : (g + 1) * per_in]
        outs.append(F.conv_transpose2d(xg, wg, None, stride, padding, output_padding, 1, dilation))
    out = torch.cat(outs, 1)
    if bias is not None:
        out = out + t(bias)[None, :, None, None]
    return out.numpy()
