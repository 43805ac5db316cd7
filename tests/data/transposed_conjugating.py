"""conv_transpose1d/2d/3d through torch with the kernel conjugated first (a Hermitian product,
where torch multiplies plainly): right on real data, `conjugation` on complex data."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

TRANSPOSED = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def conv_transpose(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    x = torch.from_numpy(np.array(input))
    w = torch.from_numpy(np.conj(np.array(weight)))
    b = None if bias is None else torch.from_numpy(np.array(bias))
    function = TRANSPOSED[x.dim() - 2]
    return function(x, w, b, stride, padding, output_padding, groups, dilation).numpy()


conv_transpose1d = conv_transpose2d = conv_transpose3d = conv_transpose
