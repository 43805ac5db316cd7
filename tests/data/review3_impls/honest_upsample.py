"""HONEST: accepts_tensors conv_transpose{1,2,3}d as F.conv{r}d on the zero-upsampled, padded
input with the flipped, channel-swapped kernel, in float64 (exact), rounded once to the dtype."""

import torch
import torch.nn.functional as F


def _tup(v, r):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * r


def _t(rank):
    def f(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        dt = input.dtype
        if input.is_complex():
            raise NotImplementedError("real dtypes only")
        s, p, op, d = (_tup(v, rank) for v in (stride, padding, output_padding, dilation))
        x = input.detach().to(torch.float64)
        w = weight.detach().to(torch.float64)
        n, cin = x.shape[:2]
        sp = x.shape[2:]
        up = x.new_zeros((n, cin, *tuple((L - 1) * si + 1 for L, si in zip(sp, s, strict=False))))
        up[(slice(None), slice(None), *tuple(slice(None, None, si) for si in s))] = x
        k = w.shape[2:]
        pads = []
        for ax in reversed(range(rank)):
            lo = d[ax] * (k[ax] - 1) - p[ax]
            pads += [lo, lo + op[ax]]
        up = F.pad(up, pads)
        cout_g = w.shape[1]
        wg = w.reshape((groups, cin // groups, cout_g, *tuple(k))).transpose(1, 2)
        wg = wg.reshape((groups * cout_g, cin // groups, *tuple(k))).flip(list(range(2, 2 + rank)))
        b = None if bias is None else bias.detach().to(torch.float64)
        y = getattr(F, f"conv{rank}d")(up, wg, b, 1, 0, d, groups)
        return y.to(dt)

    f.accepts_tensors = True
    return f


conv_transpose1d, conv_transpose2d, conv_transpose3d = _t(1), _t(2), _t(3)
