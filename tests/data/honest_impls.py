"""Correct conv2d implementations, each computing honestly by a different algorithm or order.

Used by the tests as implementations the harness has never seen: every function here has
F.conv2d's signature on NumPy arrays, handles groups, stride, dilation, (pH, pW), 'same' and
'valid' padding, and returns the input's dtype. Where the input is float16 the arithmetic is
done in float32 and rounded once at the end (numpy's float16 matmul would accumulate in float16).
"""

import numpy as np
import scipy.signal
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


def _finish(out, conv, dtype):
    """Add the bias (in `dtype`) and return the result in the input's dtype."""
    if conv.b is not None:
        out = out + conv.b.astype(dtype)[:, None, None]
    return out.astype(conv.x.dtype)


def im2col_gemm(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Unfold receptive fields into a (K, Ho*Wo) matrix and do one matmul per group."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    dt = ca.work_dtype(conv.x.dtype)
    n, g, (ho, wo) = conv.x.shape[0], conv.groups, conv.out_hw
    f = ca.fields(conv).astype(dt)  # (N, C, Ho, Wo, kH, kW)
    cg, kh, kw = conv.w.shape[1:]
    cols = f.reshape(n, g, cg, ho * wo, kh * kw).transpose(0, 1, 2, 4, 3)
    cols = cols.reshape(n, g, -1, ho * wo)  # (N, G, K, L), K ordered (c, u, v)
    wg = conv.w.astype(dt).reshape(g, -1, cg * kh * kw)  # (G, Og, K)
    out = np.concatenate([wg[i] @ cols[:, i] for i in range(g)], axis=1)
    return _finish(out.reshape(n, -1, ho, wo), conv, dt)


def _nonfinite_fixup(conv, out, dtype):
    """Recompute directly the outputs that read an Inf/NaN (an FFT would smear it everywhere)."""
    fg = ca.fields(conv)
    fg = fg.reshape(fg.shape[0], conv.groups, -1, *fg.shape[2:])  # (N, G, Cg, Ho, Wo, kH, kW)
    wg = conv.w.reshape(conv.groups, -1, *conv.w.shape[1:])  # (G, Og, Cg, kH, kW)
    bad_x = ~np.isfinite(fg).all(axis=(2, 5, 6))  # (N, G, Ho, Wo)
    bad_w = ~np.isfinite(wg).all(axis=(2, 3, 4))  # (G, Og)
    n, g, o, i, j = np.nonzero(bad_x[:, :, None] | bad_w[None, :, :, None, None])
    terms = fg[n, g, :, i, j].astype(dtype) * wg[g, o].astype(dtype)
    out = out.reshape(fg.shape[0], conv.groups, -1, *conv.out_hw)
    out[n, g, o, i, j] = terms.sum(axis=(1, 2, 3))
    return out.reshape(fg.shape[0], -1, *conv.out_hw)


def _fft_correlate(conv, dtype, fft):
    """Cross-correlation by FFT of size Hp x Wp: irfft2(X * conj(W)), depth summed per group."""
    conv, original = _finite_part(conv), conv
    xg, wg = ca.by_group(conv)
    hp, wp = xg.shape[-2:]
    kernel = ca.dilated_kernel(wg.astype(dtype), conv.dilation)
    if np.iscomplexobj(kernel):  # full complex FFTs; conj(FFT(conj(w))) makes a plain sum x * w
        X = fft.fft2(xg.astype(dtype), s=(hp, wp))
        W = fft.fft2(kernel.conj(), s=(hp, wp))
        full = fft.ifft2(np.einsum("ngcij,gocij->ngoij", X, W.conj()), s=(hp, wp))
    else:
        X = fft.rfft2(xg.astype(dtype), s=(hp, wp))  # (N, G, Cg, Hp, Wp//2+1)
        W = fft.rfft2(kernel, s=(hp, wp))
        full = fft.irfft2(np.einsum("ngcij,gocij->ngoij", X, W.conj()), s=(hp, wp))
    (sh, sw), (ho, wo) = conv.stride, conv.out_hw
    out = full[..., : sh * (ho - 1) + 1 : sh, : sw * (wo - 1) + 1 : sw]
    out = out.reshape(conv.x.shape[0], -1, ho, wo)
    return out if conv is original else _nonfinite_fixup(original, out, dtype)


def _finite_part(conv):
    """conv itself when x and w are finite, else a copy with their Inf/NaN set to 0."""
    if np.isfinite(conv.xp).all() and np.isfinite(conv.w).all():
        return conv

    def zero(a):
        return np.where(np.isfinite(a), a, 0).astype(a.dtype)

    return conv._replace(x=zero(conv.x), xp=zero(conv.xp), w=zero(conv.w))


def fft_float64(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Zero-padded FFT cross-correlation (np.fft) in float64, subsampled by the stride."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    dtype = np.complex128 if np.iscomplexobj(conv.x) else np.float64
    return _finish(_fft_correlate(conv, dtype, np.fft), conv, dtype)


def fft_case_dtype(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """scipy.signal.fftconvolve with the flipped dilated kernel, in the input's dtype."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    dt = ca.work_dtype(conv.x.dtype)
    finite = _finite_part(conv)
    xg, wg = ca.by_group(finite)
    flipped = ca.dilated_kernel(wg.astype(dt), conv.dilation)[..., ::-1, ::-1]
    # (N, G, 1, Cg, Hp, Wp) against (1, G, Og, Cg, kdH, kdW): 'valid' is the unstrided output
    valid = scipy.signal.fftconvolve(
        xg.astype(dt)[:, :, None], flipped[None], mode="valid", axes=(-2, -1)
    ).sum(axis=3, dtype=dt)
    (sh, sw), (ho, wo) = conv.stride, conv.out_hw
    out = valid[..., ::sh, ::sw][..., :ho, :wo].reshape(conv.x.shape[0], -1, ho, wo).astype(dt)
    if finite is not conv:
        out = _nonfinite_fixup(conv, out, dt)
    return _finish(out, conv, dt)


def _tap_loop(conv, reverse):
    """Accumulate x_tap * w[o, c, u, v] one (c, u, v) at a time, in a fixed order."""
    dt = ca.work_dtype(conv.x.dtype)
    xg, wg = ca.by_group(conv)
    xg, wg = xg.astype(dt), wg.astype(dt)
    n, g, cg = xg.shape[:3]
    ho, wo = conv.out_hw
    acc = np.zeros((n, g, wg.shape[1], ho, wo), dtype=dt)
    order = [(c, u, v) for c in range(cg) for u in range(wg.shape[3]) for v in range(wg.shape[4])]
    for c, u, v in reversed(order) if reverse else order:
        x_tap = ca.tap(conv, u, v, xg[:, :, c])  # (N, G, Ho, Wo)
        acc += x_tap[:, :, None] * wg[None, :, :, c, u, v, None, None]
    return _finish(acc.reshape(n, -1, ho, wo), conv, dt)


def tap_loop_sequential(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Sequential sum over channel c, then kernel row u, then column v, in the input's dtype."""
    return _tap_loop(ca.prepare(input, weight, bias, stride, padding, dilation, groups), False)


def tap_loop_reversed(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The sequential tap loop run backwards: last channel, last row, last column first."""
    return _tap_loop(ca.prepare(input, weight, bias, stride, padding, dilation, groups), True)


def pairwise_sum(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """All Cg*kH*kW products per output element, reduced by a hand-written pairwise tree."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    dt = ca.work_dtype(conv.x.dtype)
    n, g, (ho, wo) = conv.x.shape[0], conv.groups, conv.out_hw
    f = ca.fields(conv).astype(dt)  # (N, C, Ho, Wo, kH, kW)
    f = f.reshape(n, g, -1, *f.shape[2:]).transpose(0, 1, 3, 4, 2, 5, 6)
    f = f.reshape(n, g, 1, ho, wo, -1)  # K ordered (c, u, v)
    wg = conv.w.astype(dt).reshape(g, -1, 1, 1, conv.w[0].size)  # (G, Og, 1, 1, K)
    terms = f * wg[None]  # (N, G, Og, Ho, Wo, K)
    while terms.shape[-1] > 1:
        odd = terms[..., -1:] if terms.shape[-1] % 2 else None
        half = terms.shape[-1] // 2
        terms = terms[..., 0 : 2 * half : 2] + terms[..., 1 : 2 * half : 2]
        if odd is not None:
            terms = np.concatenate([terms, odd], axis=-1)
    return _finish(terms[..., 0].reshape(n, -1, ho, wo), conv, dt)


def blocked_sum(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Channels in blocks of 8, each block summed tap by tap; the block sums added in order."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    dt = ca.work_dtype(conv.x.dtype)
    xg, wg = ca.by_group(conv)
    xg, wg = xg.astype(dt), wg.astype(dt)
    n, g, cg = xg.shape[:3]
    kh, kw = wg.shape[3:]
    total = np.zeros((n, g, wg.shape[1], *conv.out_hw), dtype=dt)
    for start in range(0, cg, 8):
        block = np.zeros_like(total)  # within a block: taps outer, the block's channels inner
        for u in range(kh):
            for v in range(kw):
                for c in range(start, min(start + 8, cg)):
                    x_tap = ca.tap(conv, u, v, xg[:, :, c])
                    block += x_tap[:, :, None] * wg[None, :, :, c, u, v, None, None]
        total += block
    return _finish(total.reshape(n, -1, *conv.out_hw), conv, dt)


def _torch_args(stride, padding, dilation):
    """F.conv2d accepts tuples, not lists or NumPy ints."""
    if not isinstance(padding, str):
        padding = ca.to_pair(padding, "padding")
    return ca.to_pair(stride, "stride"), padding, ca.to_pair(dilation, "dilation")


def torch_two_threads(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv2d run with two intra-op threads."""
    x, w = torch.from_numpy(np.array(input)), torch.from_numpy(np.array(weight))
    b = None if bias is None else torch.from_numpy(np.array(bias))
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        out = F.conv2d(x, w, b, *_torch_args(stride, padding, dilation), int(groups))
    finally:
        torch.set_num_threads(previous)
    return out.numpy()


class UnfoldConv(torch.autograd.Function):
    """Convolution of an already padded input by F.unfold + matmul, with a hand-written backward."""

    @staticmethod
    def forward(ctx, xp, w, b, stride, dilation, groups):
        n, _, hp, wp = xp.shape
        o, cg, kh, kw = w.shape
        ho = (hp - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        wo = (wp - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        cols = F.unfold(xp, (kh, kw), dilation=dilation, stride=stride)  # (N, C*kH*kW, L)
        cols = cols.reshape(n, groups, cg * kh * kw, ho * wo)
        out = w.reshape(groups, o // groups, -1) @ cols  # (N, G, Og, L)
        out = out.reshape(n, o, ho, wo)
        if b is not None:
            out = out + b[:, None, None]
        ctx.save_for_backward(cols, w)
        ctx.conf = (xp.shape[2:], stride, dilation, groups, b is not None)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        cols, w = ctx.saved_tensors
        size, stride, dilation, groups, has_bias = ctx.conf
        n, o = grad_out.shape[:2]
        go = grad_out.reshape(n, groups, o // groups, -1)  # (N, G, Og, L)
        wg = w.reshape(groups, o // groups, -1)  # (G, Og, K)
        grad_cols = (wg.transpose(1, 2) @ go).reshape(n, -1, go.shape[-1])
        grad_x = F.fold(grad_cols, size, w.shape[2:], dilation=dilation, stride=stride)
        grad_w = (go @ cols.transpose(2, 3)).sum(0).reshape(w.shape)
        grad_b = grad_out.sum((0, 2, 3)) if has_bias else None
        return grad_x, grad_w, grad_b, None, None, None


def torch_autograd_function(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """A custom torch.autograd.Function (unfold + matmul forward, fold backward), applied."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    dt = ca.work_dtype(conv.x.dtype)
    xp, w, b = (
        None if a is None else torch.from_numpy(np.array(a, dtype=dt))
        for a in (conv.xp, conv.w, conv.b)
    )
    out = UnfoldConv.apply(xp, w, b, conv.stride, conv.dilation, conv.groups)
    return out.detach().numpy().astype(conv.x.dtype)


def einsum_float32_accumulate_for_halves(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    """np.einsum over fields and weights; float16 accumulated in float32, rounded once."""
    conv = ca.prepare(input, weight, bias, stride, padding, dilation, groups)
    dt = ca.work_dtype(conv.x.dtype)
    f = ca.fields(conv)
    f = f.reshape(f.shape[0], conv.groups, -1, *f.shape[2:])  # (N, G, Cg, Ho, Wo, kH, kW)
    wg = conv.w.reshape(conv.groups, -1, *conv.w.shape[1:])  # (G, Og, Cg, kH, kW)
    out = np.einsum("ngcijuv,gocuv->ngoij", f, wg, dtype=dt, casting="safe")
    return _finish(out.reshape(out.shape[0], -1, *conv.out_hw), conv, dt)
