"""Every operation of every rank (conv{r}d, conv{r}d_backward, conv_transpose{r}d and
conv_transpose{r}d_backward for r = 1, 2, 3) in plain NumPy, written for the property tests, and
the same operations misbehaving in one way each: `operations(behaviour)` gives the functions by
operation name for "correct", "wrong_shape" (one element short along the last axis of every
result), "raises" (RuntimeError) and "nan" (the first element of every result NaN).

The arithmetic is a tap loop written from the definitions, not from the harness: for each kernel
tap t, output position j of a convolution reads input position j*s + t*d - p (padding p before,
zeros beyond the input), and input position i of a transposed convolution feeds output position
i*s + t*d - p. Gradients are the same index pairs read the other way round, with torch's
conjugate convention for complex values. Sums are formed in float64 (complex128) and rounded to
the input's dtype once.
"""

from __future__ import annotations

import itertools

import numpy as np


def _per_axis(value, rank: int) -> tuple[int, ...]:
    return (int(value),) * rank if np.isscalar(value) else tuple(int(v) for v in value)


def _pairs(count_from: int, count_to: int, s: int, t: int, d: int, p: int):
    """Indices i < count_from and j = i*s + t*d - p with 0 <= j < count_to."""
    i = np.arange(count_from)
    j = i * s + t * d - p
    keep = (j >= 0) & (j < count_to)
    return i[keep], j[keep]


def _axes(first, second, *per_axis):
    """(first[a], second[a], (stride, tap, dilation, padding)[a]) for each axis a."""
    return zip(first, second, zip(*per_axis, strict=True), strict=True)


def _at(index_per_axis) -> tuple:
    return (slice(None), slice(None), *np.ix_(*index_per_axis))


def _wide(*arrays):
    complex_values = any(np.iscomplexobj(a) for a in arrays if a is not None)
    kind = np.complex128 if complex_values else np.float64
    return [None if a is None else np.asarray(a).astype(kind) for a in arrays]


def _forward_geometry(x, w, stride, padding, dilation):
    """(stride, padding before, dilation, output sizes) of a convolution as F.convNd reads
    padding: an int, one per axis, 'same' or 'valid'."""
    rank = x.ndim - 2
    s, d = _per_axis(stride, rank), _per_axis(dilation, rank)
    kernel = w.shape[2:]
    if isinstance(padding, str):
        total = (
            [0] * rank
            if padding == "valid"
            else [dd * (k - 1) for dd, k in zip(d, kernel, strict=True)]
        )
        before = [t // 2 for t in total]
        after = [t - b for t, b in zip(total, before, strict=True)]
    else:
        before = after = list(_per_axis(padding, rank))
    sizes = [
        (n + b + a - dd * (k - 1) - 1) // ss + 1
        for n, b, a, dd, k, ss in zip(x.shape[2:], before, after, d, kernel, s, strict=True)
    ]
    return s, before, d, sizes


def _taps(w):
    return itertools.product(*(range(k) for k in w.shape[2:]))


def _groups(groups: int, per_in: int, per_out: int):
    for g in range(groups):
        yield slice(g * per_in, (g + 1) * per_in), slice(g * per_out, (g + 1) * per_out)


def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x, w, b = _wide(input, weight, bias)
    s, p, d, sizes = _forward_geometry(x, w, stride, padding, dilation)
    out = np.zeros((x.shape[0], w.shape[0], *sizes), dtype=x.dtype)
    for taps in _taps(w):
        index = [_pairs(m, n, *a) for m, n, a in _axes(sizes, x.shape[2:], s, taps, d, p)]
        outs, reads = [j for j, _ in index], [i for _, i in index]
        for ins, group_out in _groups(groups, w.shape[1], w.shape[0] // groups):
            tap = w[(group_out, slice(None), *taps)]
            out[:, group_out][_at(outs)] += np.einsum("nc...,oc->no...", x[:, ins][_at(reads)], tap)
    if b is not None:
        out += b.reshape(1, -1, *[1] * len(sizes))
    return _rounded(out, input)


def conv_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    g, x, w = _wide(grad_output, input, weight)
    s, p, d, sizes = _forward_geometry(x, w, stride, padding, dilation)
    grad_input, grad_weight = np.zeros_like(x), np.zeros_like(w)
    spatial = tuple(range(2, x.ndim))
    for taps in _taps(w):
        index = [_pairs(m, n, *a) for m, n, a in _axes(sizes, x.shape[2:], s, taps, d, p)]
        outs, reads = [j for j, _ in index], [i for _, i in index]
        for ins, group_out in _groups(groups, w.shape[1], w.shape[0] // groups):
            tap = w[(group_out, slice(None), *taps)]
            from_out = g[:, group_out][_at(outs)]
            grad_input[:, ins][_at(reads)] += np.einsum("no...,oc->nc...", from_out, tap.conj())
            grad_weight[(group_out, slice(None), *taps)] += np.tensordot(
                from_out, x[:, ins][_at(reads)].conj(), axes=((0, *spatial), (0, *spatial))
            )
    grad_bias = None if bias is None else g.sum(axis=(0, *spatial))
    return tuple(_rounded(v, input) for v in (grad_input, grad_weight, grad_bias))


def _transposed_geometry(x, w, stride, padding, output_padding, dilation):
    rank = x.ndim - 2
    s, p, d = (_per_axis(v, rank) for v in (stride, padding, dilation))
    extra = _per_axis(output_padding, rank)
    sizes = [
        (n - 1) * ss - 2 * pp + dd * (k - 1) + e + 1
        for n, ss, pp, dd, k, e in zip(x.shape[2:], s, p, d, w.shape[2:], extra, strict=True)
    ]
    return s, p, d, sizes


def conv_transpose(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    x, w, b = _wide(input, weight, bias)
    s, p, d, sizes = _transposed_geometry(x, w, stride, padding, output_padding, dilation)
    per_out = w.shape[1]
    out = np.zeros((x.shape[0], per_out * groups, *sizes), dtype=x.dtype)
    for taps in _taps(w):
        index = [_pairs(n, m, *a) for n, m, a in _axes(x.shape[2:], sizes, s, taps, d, p)]
        reads, outs = [i for i, _ in index], [j for _, j in index]
        for ins, group_out in _groups(groups, x.shape[1] // groups, per_out):
            tap = w[(ins, slice(None), *taps)]
            out[:, group_out][_at(outs)] += np.einsum("nc...,co->no...", x[:, ins][_at(reads)], tap)
    if b is not None:
        out += b.reshape(1, -1, *[1] * len(sizes))
    return _rounded(out, input)


def conv_transpose_backward(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
):
    g, x, w = _wide(grad_output, input, weight)
    s, p, d, sizes = _transposed_geometry(x, w, stride, padding, output_padding, dilation)
    grad_input, grad_weight = np.zeros_like(x), np.zeros_like(w)
    spatial = tuple(range(2, x.ndim))
    for taps in _taps(w):
        index = [_pairs(n, m, *a) for n, m, a in _axes(x.shape[2:], sizes, s, taps, d, p)]
        reads, outs = [i for i, _ in index], [j for _, j in index]
        for ins, group_out in _groups(groups, x.shape[1] // groups, w.shape[1]):
            tap = w[(ins, slice(None), *taps)]
            from_out = g[:, group_out][_at(outs)]
            grad_input[:, ins][_at(reads)] += np.einsum("no...,co->nc...", from_out, tap.conj())
            grad_weight[(ins, slice(None), *taps)] += np.tensordot(
                x[:, ins][_at(reads)].conj(), from_out, axes=((0, *spatial), (0, *spatial))
            )
    grad_bias = None if bias is None else g.sum(axis=(0, *spatial))
    return tuple(_rounded(v, input) for v in (grad_input, grad_weight, grad_bias))


def _rounded(values, like):
    if values is None:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        return values.astype(np.asarray(like).dtype)


def _quiet(function):
    """The function with NumPy's floating-point warnings off (NaN and Inf inputs are valid)."""

    def quiet(*args, **kwargs):
        with np.errstate(all="ignore"):
            return function(*args, **kwargs)

    quiet.__name__ = function.__name__
    return quiet


KINDS = {
    "conv": _quiet(conv),
    "conv_backward": _quiet(conv_backward),
    "conv_transpose": _quiet(conv_transpose),
    "conv_transpose_backward": _quiet(conv_transpose_backward),
}


def _misbehaving(function, behaviour: str):
    def misbehaves(*args, **kwargs):
        if behaviour == "raises":
            raise RuntimeError("planted failure")
        result = function(*args, **kwargs)
        results = result if isinstance(result, tuple) else (result,)
        changed = []
        for value in results:
            if value is not None and behaviour == "wrong_shape":
                value = value[..., :-1]
            elif value is not None and behaviour == "nan" and value.size:
                value = value.copy()
                value.reshape(-1)[0] = np.nan
            changed.append(value)
        return tuple(changed) if isinstance(result, tuple) else changed[0]

    return misbehaves


def operations(behaviour: str = "correct") -> dict:
    """Every operation of every rank by name, behaving as `behaviour` says."""
    functions = {}
    for rank, (kind, function) in itertools.product((1, 2, 3), KINDS.items()):
        suffix = "_backward" if kind.endswith("_backward") else ""
        name = f"{kind.removesuffix('_backward')}{rank}d{suffix}"
        functions[name] = function if behaviour == "correct" else _misbehaving(function, behaviour)
    return functions
