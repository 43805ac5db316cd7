"""BUGGY: accepts_tensors conv_transpose that reads the weight's storage as if contiguous (its
strides ignored): wrong on a channels_last weight only -> `layout`."""

import torch
import torch.nn.functional as F


def _naive(t):
    st, stride = [], 1
    for n in reversed(t.shape):
        st.append(stride)
        stride *= n
    return torch.as_strided(t.detach(), t.shape, tuple(reversed(st)), t.storage_offset())


def _t(rank):
    def f(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        dt = input.dtype
        if input.is_complex():
            raise NotImplementedError("real dtypes only")
        w = _naive(weight).to(torch.float64)
        b = None if bias is None else bias.detach().to(torch.float64)
        y = getattr(F, f"conv_transpose{rank}d")(
            input.detach().to(torch.float64),
            w,
            b,
            stride,
            padding,
            output_padding,
            groups,
            dilation,
        )
        return y.to(dt)

    f.accepts_tensors = True
    return f


conv_transpose1d, conv_transpose2d, conv_transpose3d = _t(1), _t(2), _t(3)
