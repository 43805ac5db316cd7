"""conv_transpose1d by numpy FFT (full convolution of the stride-upsampled input with the dilated
kernel), cropped by padding; the output_padding extra samples are put at the start instead of the
end. Expected cause: padding."""

import numpy as np


def _full(x_row, w_row, s, d):
    up = np.zeros((len(x_row) - 1) * s + 1, dtype=np.result_type(x_row, w_row))
    up[::s] = x_row
    wd = np.zeros((len(w_row) - 1) * d + 1, dtype=up.dtype)
    wd[::d] = w_row
    size = len(up) + len(wd) - 1
    fft, ifft = (
        (np.fft.rfft, np.fft.irfft) if not np.iscomplexobj(up) else (np.fft.fft, np.fft.ifft)
    )
    spec = fft(up, size) * fft(wd, size)
    return ifft(spec, size)


def conv_transpose1d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    s = stride if np.isscalar(stride) else stride[0]
    p = padding if np.isscalar(padding) else padding[0]
    op = output_padding if np.isscalar(output_padding) else output_padding[0]
    d = dilation if np.isscalar(dilation) else dilation[0]
    n, c_in, length = input.shape
    _, per_out, k = weight.shape
    c_out = per_out * groups
    full_len = (length - 1) * s + (k - 1) * d + 1
    out_len = full_len - 2 * p + op
    per_in = c_in // groups
    work = np.complex128 if np.iscomplexobj(input) else np.float64
    full = np.zeros((n, c_out, full_len + op), dtype=work)
    for b in range(n):
        for c in range(c_in):
            g = c // per_in
            for ol in range(per_out):
                full[b, g * per_out + ol, :full_len] += _full(input[b, c], weight[c, ol], s, d)
    # BUG: the output_padding samples go first (zeros), the crop starts at p
    body = full[:, :, p : p + out_len - op]
    out = np.concatenate([np.zeros((n, c_out, op), work), body], axis=2)
    if bias is not None:
        out = out + bias[None, :, None]
    return out.astype(input.dtype)
