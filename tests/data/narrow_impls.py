"""conv2d implementations that compute in narrower arithmetic than the case dtype.

Used by the tests as implementations the harness has never seen: each one is correct in its
semantics (groups, stride, dilation, every padding form) but rounds the inputs or the running
sums to a narrower format, so its output differs from the float64 reference by rounding-sized
amounts only. Each returns the input's dtype. Where the case dtype is already as narrow as the
format used (e.g. float16 data through float16_inputs) the result is honest.
"""

import numpy as np
import torch
import torch.nn.functional as F

try:  # imported as part of a package
    from . import _conv_args as ca
except ImportError:  # loaded from its file path, as the harness does with "file.py:function"
    import importlib.util
    import pathlib

    _spec = importlib.util.spec_from_file_location(
        "_conv_args", pathlib.Path(__file__).with_name("_conv_args.py")
    )
    ca = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(ca)


def round_mantissa(a, bits):
    """float32 copy of `a` with only `bits` explicit mantissa bits, rounded to nearest even."""
    a32 = np.ascontiguousarray(a, dtype=np.float32)
    drop = 23 - bits
    u = a32.view(np.uint32).astype(np.uint64)
    half = (1 << (drop - 1)) - 1 + ((u >> drop) & 1)  # ties go to the even neighbour
    rounded = (((u + half) >> drop) << drop).astype(np.uint32).view(np.float32)
    return np.where(np.isfinite(a32), rounded, a32)  # inf and NaN pass unchanged


def _float32_conv(conv, x32, w32, b32):
    """im2col + einsum (BLAS) in float32 on the given float32 copies of x, w and b."""
    f = ca.fields(conv, ca.padded(conv, x32))  # (N, C, Ho, Wo, kH, kW)
    f = f.reshape(f.shape[0], conv.groups, -1, *f.shape[2:])  # (N, G, Cg, Ho, Wo, kH, kW)
    wg = w32.reshape(conv.groups, -1, *w32.shape[1:])  # (G, Og, Cg, kH, kW)
    out = np.einsum("ngcijuv,gocuv->ngoij", f, wg, optimize=True)
    out = out.reshape(out.shape[0], -1, *conv.out_hw)
    if b32 is not None:
        out = out + b32[:, None, None]
    return out.astype(conv.x.dtype)


def _f32(a):
    """float32 copy of an array, None kept."""
    return None if a is None else np.asarray(a, dtype=np.float32)


def float64_via_float32(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv2d on float32 copies of the arrays (padding applied first), cast back."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    x, w, b = (None if a is None else torch.from_numpy(_f32(a)) for a in (conv.xp, conv.w, conv.b))
    out = F.conv2d(x, w, b, conv.stride, 0, conv.dilation, conv.groups)
    return out.numpy().astype(conv.x.dtype)


def tf32_emulated(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """x and w rounded to TF32 (10 mantissa bits, RNE); products, sums and bias in float32."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    return _float32_conv(conv, round_mantissa(conv.x, 10), round_mantissa(conv.w, 10), _f32(conv.b))


def bfloat16_inputs(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """x, w and b rounded to bfloat16 (7 mantissa bits, RNE); accumulation in float32."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    b = None if conv.b is None else round_mantissa(conv.b, 7)
    return _float32_conv(conv, round_mantissa(conv.x, 7), round_mantissa(conv.w, 7), b)


def float16_inputs(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """x, w and b cast to float16; products and accumulation in float32."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    with np.errstate(over="ignore"):  # beyond float16's range is inf, as a cast to half gives
        x, w, b = (
            None if a is None else _f32(a.astype(np.float16)) for a in (conv.x, conv.w, conv.b)
        )
    return _float32_conv(conv, x, w, b)


def float16_accumulate(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Everything in float16: each product and running sum rounded, taps summed in order."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    xg, wg = ca.by_group(conv)
    with np.errstate(over="ignore"):
        xg, wg = xg.astype(np.float16), wg.astype(np.float16)
        b = None if conv.b is None else conv.b.astype(np.float16)
    n, g, cg = xg.shape[:3]
    acc = np.zeros((n, g, wg.shape[1], *conv.out_hw), dtype=np.float16)
    for c in range(cg):
        for u in range(wg.shape[3]):
            for v in range(wg.shape[4]):
                x_tap = ca.tap(conv, u, v, xg[:, :, c])  # (N, G, Ho, Wo)
                acc += x_tap[:, :, None] * wg[None, :, :, c, u, v, None, None]
    acc = acc.reshape(n, -1, *conv.out_hw)
    if b is not None:
        acc += b[:, None, None]
    return acc.astype(conv.x.dtype)


def complex128_via_complex64(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv2d on complex64 copies of complex128 arrays (padding applied first), cast back."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    x, w, b = (
        None if a is None else torch.from_numpy(np.asarray(a, dtype=np.complex64))
        for a in (conv.xp, conv.w, conv.b)
    )
    out = F.conv2d(x, w, b, conv.stride, 0, conv.dilation, conv.groups)
    return out.numpy().astype(conv.x.dtype)
