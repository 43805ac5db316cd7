"""Transposed convolution by FFT, any rank: the input zero-upsampled by the stride, the kernel
spread by the dilation, one full linear convolution per (input, output) channel pair through
numpy.fft, then the padding cropped off and output_padding appended. conv's grad_input is the
same computation on grad_output with the conv weight read as a transposed one (and conjugated).

Keyword switches plant one mistake each; all off is F.conv_transposeNd.
"""

from __future__ import annotations

import numpy as np

from tests.data.gradient_bugs._taps import per_axis, transposed_size


def _spread(a: np.ndarray, step, phase, size):
    """a's last len(step) axes spread `step` apart starting at `phase`, into `size`."""
    out = np.zeros((*a.shape[: a.ndim - len(step)], *size), a.dtype)
    index = tuple(
        slice(ph, ph + (n - 1) * s + 1, s)
        for ph, n, s in zip(phase, a.shape[a.ndim - len(step) :], step, strict=True)
    )
    out[(..., *index)] = a
    return out


def conv_transpose(
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    *,
    correlate=False,  # the kernel not reversed: a correlation instead of a convolution
    conj_kernel=False,
    phase=None,  # {axis: p}: the input's samples put at i*s + p on that axis
    output_padding_first=False,
    dilation_ignored=False,
    bias_missing=False,
):
    x, w = np.asarray(input), np.asarray(weight)
    rank = x.ndim - 2
    s, p, op = (per_axis(v, rank) for v in (stride, padding, output_padding))
    d = (1,) * rank if dilation_ignored else per_axis(dilation, rank)
    kernel = w.shape[2:]
    complex_ = np.iscomplexobj(x) or np.iscomplexobj(w)
    acc = np.complex128 if complex_ else np.float64
    phases = [0] * rank
    for axis, value in (phase or {}).items():
        phases[axis] = value
    up_size = [(n - 1) * st + 1 + ph for n, st, ph in zip(x.shape[2:], s, phases, strict=True)]
    up = _spread(x.astype(acc), s, phases, up_size)
    wk = np.conj(w) if conj_kernel else w
    if correlate:
        wk = np.flip(wk, tuple(range(2, w.ndim)))
    k_size = [(k - 1) * dd + 1 for k, dd in zip(kernel, d, strict=True)]
    spread_w = _spread(wk.astype(acc), d, [0] * rank, k_size)
    full = [u + k - 1 for u, k in zip(up_size, k_size, strict=True)]
    axes = tuple(range(2, 2 + rank))
    fu = np.fft.fftn(up, full, axes=axes)
    fw = np.fft.fftn(spread_w, full, axes=axes)
    c_in, per_out = w.shape[:2]
    per_in = c_in // groups
    spectra = np.zeros((x.shape[0], per_out * groups, *fu.shape[2:]), complex)
    for c in range(c_in):
        g = c // per_in
        spectra[:, g * per_out : (g + 1) * per_out] += fu[:, c : c + 1] * fw[c][None]
    y_full = np.fft.ifftn(spectra, axes=axes)
    if not complex_:
        y_full = y_full.real
    extra = [(o, 0) if output_padding_first else (0, o) for o in op]
    y_full = np.pad(y_full, ((0, 0), (0, 0), *extra))
    sizes = [
        transposed_size(n, k, st, pp, dd, o)
        for n, k, st, pp, dd, o in zip(x.shape[2:], kernel, s, p, d, op, strict=True)
    ]
    window = tuple(slice(pp, pp + n) for pp, n in zip(p, sizes, strict=True))
    y = y_full[(slice(None), slice(None), *window)]
    if bias is not None and not bias_missing:
        y = y + np.asarray(bias).reshape(1, -1, *([1] * rank))
    return np.ascontiguousarray(y).astype(x.dtype)


def conv_grad_input(grad_output, input, weight, stride, padding, dilation, groups, **planted):
    """F.convNd's grad_input: the transposed convolution of grad_output with conj(weight),
    output_padding chosen to give the input's size back."""
    g, x, w = (np.asarray(a) for a in (grad_output, input, weight))
    rank = x.ndim - 2
    s, p, d = (per_axis(v, rank) for v in (stride, padding, dilation))
    op = [
        n - transposed_size(o, k, st, pp, dd, 0)
        for n, o, k, st, pp, dd in zip(x.shape[2:], g.shape[2:], w.shape[2:], s, p, d, strict=True)
    ]
    planted.setdefault("conj_kernel", True)
    gi = conv_transpose(g, w, None, s, p, tuple(op), groups, d, **planted)
    return gi.astype(x.dtype)
