"""Every quantity of a case (a convolution's output, a transposed convolution's output, grad_input,
grad_weight, grad_bias) computed several honest ways, and torch's values mutated, for
tests/test_quantity_tolerance.py and benchmarks/quantity_margins.py.

Honest: torch at 1 and 2 threads, the harness reference and scipy legs (through the registry),
an FFT convolution written here (numpy.fft in float64/complex128, then rounded once), torch
autograd in float64/complex128 rounded once (float64 accumulation, then rounding) and torch
autograd in the case's own torch dtype, with mkldnn and without (the im2col path). Mutations of
torch's own values: zeroed, halved, averaged (divided by the quantity's reduction length) and one
channel dropped (the first input channel left out of the output's sum, the first output channel
left out of grad_input's, the first output channel of grad_weight and grad_bias set to 0).
transposed_cases draws conv_transpose1d/2d/3d configurations (harness.strategies draws
convolutions only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from harness.cases.case import Case
from harness.cases.data import CaseArrays, materialize, round_to_dtype
from harness.computations.calling import call_implementation
from harness.computations.gradients import fold_padding
from harness.computations.registry import get_implementation, operations_of
from harness.running.backward import (
    call_backward,
    grad_output_arrays,
    gradient_baselines,
    transposed_gradient_baselines,
)
from harness.running.transposed import transposed_baseline
from harness.strategies import DTYPES, tensor_specs
from harness.verdicts.baseline import Baseline, compute_baseline, rounded

QUANTITIES = ("output", "grad_input", "grad_weight", "grad_bias")
REAL_DTYPES = ("float64", "float32", "float16", "bfloat16")
COMPLEX_DTYPES = ("complex64", "complex128")
MUTATIONS = ("zeroed", "halved", "averaged", "channel_dropped")


def recast_dtypes(case: Case) -> tuple[str, ...]:
    """The dtypes a case is checked in besides its own: the other real ones, or complex ones."""
    family = COMPLEX_DTYPES if case.dtype.startswith("complex") else REAL_DTYPES
    return tuple(d for d in family if d != case.dtype)


def recast(case: Case, dtype: str) -> Case:
    return dataclasses.replace(case, dtype=dtype, id=f"{case.id}@{dtype}", expected=None)


@dataclass(frozen=True)
class Setting:
    """A case with its arrays, grad_output (native, exact) and a baseline per quantity."""

    case: Case
    arrays: CaseArrays
    grad_output: np.ndarray
    grad_output64: np.ndarray
    baselines: dict[str, Baseline]


def _finite(*arrays) -> bool:
    return all(a is None or np.isfinite(a).all() for a in arrays)


def setting(case: Case) -> Setting | None:
    """The baselines of every quantity with finite values (None for an empty or non-finite case:
    NaN/Inf propagation is compared elsewhere, not rounding)."""
    if not case.computes or 0 in case.output_shape or 0 in case.input_shape:
        return None
    arrays = materialize(case)
    g, g64 = grad_output_arrays(case)
    if not _finite(arrays.input64, arrays.weight64, arrays.bias64, g64):
        return None
    if case.transposed:
        baselines = {"output": transposed_baseline(case, arrays)}
        baselines.update(transposed_gradient_baselines(case, arrays, g64))
    else:
        baselines = {"output": compute_baseline(case, arrays)}
        baselines.update(gradient_baselines(case, arrays, g64))
    kept = {q: b for q, b in baselines.items() if _finite(b.output, b.exact)}
    return Setting(case, arrays, g, g64, kept)


Values = dict[str, np.ndarray]


def registry_values(name: str, s: Setting, arrays=None, grad_output=None) -> Values:
    """Every quantity from a registered implementation's operations (its forward or transposed
    convolution and its backward)."""
    func = get_implementation(name)
    operations = operations_of(name, func)
    arrays = arrays or s.arrays
    grad_output = s.grad_output if grad_output is None else grad_output
    values: Values = {}
    forward = operations.get(s.case.op)
    if forward is not None:
        outcome = call_implementation(forward, s.case, arrays)
        if outcome.output is not None:
            values["output"] = outcome.output
    backward = operations.get(f"{s.case.op}_backward")
    if backward is not None:
        result = call_backward(backward, s.case, arrays, grad_output, None)
        values.update({q: v for q, v in result.values.items() if v is not None})
    return values


def torch_at(threads: int) -> Callable[[Setting], Values]:
    def run(s: Setting) -> Values:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return registry_values("torch", s)
        finally:
            torch.set_num_threads(previous)

    run.__name__ = f"torch_{threads}_threads"
    return run


def reference_values(s: Setting) -> Values:
    return registry_values("reference", s)


def scipy_values(s: Setting) -> Values:
    return registry_values("scipy", s)


# ---- torch autograd in float64 / complex128, rounded once ------------------------------------


def _torch_pads(case: Case) -> tuple[int, ...]:
    """case.pads (before, after per axis, first axis first) in F.pad's order (last axis first)."""
    pairs = [case.pads[2 * a : 2 * a + 2] for a in range(case.rank)]
    return tuple(p for pair in reversed(pairs) for p in pair)


TORCH_DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
}


def _autograd(s: Setting, dtype: torch.dtype) -> dict[str, np.ndarray]:
    """Every quantity by torch autograd with every tensor in `dtype` (F.pad, then F.convNd; or
    F.conv_transposeNd), as float64/complex128 arrays."""
    case, arrays = s.case, s.arrays

    def tensor(a):
        return None if a is None else torch.tensor(np.array(a)).to(dtype).requires_grad_()

    x, w, b = tensor(arrays.input64), tensor(arrays.weight64), tensor(arrays.bias64)
    rank = case.rank
    if case.transposed:
        transpose = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[rank - 1]
        y = transpose(
            x,
            w,
            b,
            stride=case.stride,
            padding=case.pads[0::2],
            output_padding=case.output_padding,
            groups=case.groups,
            dilation=case.dilation,
        )
    else:
        mode = {"zeros": "constant"}.get(case.padding_mode, case.padding_mode)
        padded = F.pad(x, _torch_pads(case), mode=mode)
        conv = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]
        y = conv(padded, w, b, stride=case.stride, dilation=case.dilation, groups=case.groups)
    y.backward(torch.tensor(np.array(s.grad_output64)).to(dtype))
    wide = torch.complex128 if dtype.is_complex else torch.float64
    found = {"output": y, "grad_input": x.grad, "grad_weight": w.grad}
    if b is not None:
        found["grad_bias"] = b.grad
    return {q: v.detach().to(wide).numpy() for q, v in found.items()}


def float64_rounded(s: Setting) -> Values:
    """float64 (complex128) accumulation, then one rounding to the case dtype."""
    wide = torch.complex128 if s.case.dtype.startswith("complex") else torch.float64
    return {q: rounded(v, s.case.dtype) for q, v in _autograd(s, wide).items()}


def torch_in_dtype(s: Setting) -> Values:
    """torch's own kernels in the case dtype (the registry's torch gets bfloat16 cases as float32
    arrays and computes in float32): mkldnn's path for bfloat16 on this CPU, im2col for float16."""
    return _autograd(s, TORCH_DTYPES[s.case.dtype])


def torch_in_dtype_without_mkldnn(s: Setting) -> Values:
    """The same with mkldnn off: the im2col path of a CPU without native bfloat16 convolution,
    whose float16/bfloat16 kernels round blocks of partial sums to the dtype."""
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        return _autograd(s, TORCH_DTYPES[s.case.dtype])
    finally:
        torch.backends.mkldnn.enabled = previous


# ---- FFT convolution in float64 / complex128, rounded once -----------------------------------


def _spatial(a: np.ndarray) -> tuple[int, ...]:
    return tuple(range(2, a.ndim))


def _dilated(w: np.ndarray, dilation) -> np.ndarray:
    size = tuple((k - 1) * d + 1 for k, d in zip(w.shape[2:], dilation, strict=True))
    out = np.zeros(w.shape[:2] + size, dtype=w.dtype)
    out[(slice(None), slice(None), *(slice(None, None, d) for d in dilation))] = w
    return out


def _upsampled(a: np.ndarray, stride, size) -> np.ndarray:
    """a's elements at every stride-th position of an array of spatial `size`, zeros between."""
    out = np.zeros(a.shape[:2] + tuple(size), dtype=a.dtype)
    out[
        (
            slice(None),
            slice(None),
            *(slice(None, n * s, s) for n, s in zip(a.shape[2:], stride, strict=True)),
        )
    ] = a
    return out


def _spectrum(a: np.ndarray, size) -> np.ndarray:
    return np.fft.fftn(a, s=size, axes=_spatial(a))


def _back(spectrum: np.ndarray, size, complex_values: bool) -> np.ndarray:
    out = np.fft.ifftn(spectrum, s=size, axes=_spatial(spectrum))
    return out if complex_values else out.real


def _correlate_spectrum(w: np.ndarray, size) -> np.ndarray:
    """The spectrum that turns a product of spectra into the correlation sum_t a[p + t] w[t]."""
    return np.conj(_spectrum(np.conj(w), size))


def _groups(count: int, groups: int, g: int) -> slice:
    per = count // groups
    return slice(g * per, (g + 1) * per)


def fft_conv(x, w, b, stride, pads, dilation, groups, mode="zeros") -> np.ndarray:
    """y[n, o, i] = b[o] + sum_c,t xp[n, c, i*s + t*d] w[o, c, t], by FFT."""
    np_mode = {"zeros": "constant", "replicate": "edge", "circular": "wrap"}.get(mode, mode)
    rank = x.ndim - 2
    widths = [(0, 0), (0, 0), *((pads[2 * a], pads[2 * a + 1]) for a in range(rank))]
    xp = np.pad(x, widths, mode=np_mode)
    wd = _dilated(w, dilation)
    size = xp.shape[2:]
    dense = tuple(n - k + 1 for n, k in zip(size, wd.shape[2:], strict=True))
    complex_values = np.iscomplexobj(x) or np.iscomplexobj(w)
    parts = []
    for g in range(groups):
        xs = _spectrum(xp[:, _groups(x.shape[1], groups, g)], size)
        ws = _correlate_spectrum(wd[_groups(w.shape[0], groups, g)], size)
        full = _back(np.einsum("nc...,oc...->no...", xs, ws), size, complex_values)
        parts.append(
            full[
                (
                    slice(None),
                    slice(None),
                    *(slice(0, n, s) for n, s in zip(dense, stride, strict=True)),
                )
            ]
        )
    y = np.concatenate(parts, axis=1)
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * rank)
    return y


def _full_convolution(gy, w, stride, dilation, groups, dense) -> np.ndarray:
    """sum_o,t gyU[n, o, q - t*d] w[o, c, t] over every q (gy zero-upsampled to `dense`)."""
    wd = _dilated(w, dilation)
    size = tuple(n + k - 1 for n, k in zip(dense, wd.shape[2:], strict=True))
    upsampled = _upsampled(gy, stride, dense)
    complex_values = np.iscomplexobj(gy) or np.iscomplexobj(w)
    parts = []
    for g in range(groups):
        gs = _spectrum(upsampled[:, _groups(gy.shape[1], groups, g)], size)
        ws = _spectrum(wd[_groups(w.shape[0], groups, g)], size)
        parts.append(_back(np.einsum("no...,oc...->nc...", gs, ws), size, complex_values))
    return np.concatenate(parts, axis=1)


def _weight_correlation(padded, gy, kernel, stride, dilation, groups) -> np.ndarray:
    """sum_n,p gyU[n, o, p] padded[n, c, p + t*d] for every tap t (gy zero-upsampled)."""
    size = padded.shape[2:]
    reach = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True))
    dense = tuple(n - r + 1 for n, r in zip(size, reach, strict=True))
    upsampled = _upsampled(gy, stride, dense)
    complex_values = np.iscomplexobj(gy) or np.iscomplexobj(padded)
    parts = []
    for g in range(groups):
        xs = _spectrum(padded[:, _groups(padded.shape[1], groups, g)], size)
        gs = _correlate_spectrum(upsampled[:, _groups(gy.shape[1], groups, g)], size)
        lags = _back(np.einsum("no...,nc...->oc...", gs, xs), size, complex_values)
        taps = tuple(slice(0, r, d) for r, d in zip(reach, dilation, strict=True))
        parts.append(lags[(slice(None), slice(None), *taps)])
    return np.concatenate(parts, axis=0)


def _fft_bias(gy: np.ndarray) -> np.ndarray:
    """The sum over batch and space: the zero-frequency term of gy's spectrum."""
    spectrum = _spectrum(gy, gy.shape[2:])
    total = spectrum[(slice(None), slice(None), *(0,) * (gy.ndim - 2))].sum(axis=0)
    return total if np.iscomplexobj(gy) else total.real


def fft_values(s: Setting) -> Values:
    case, arrays = s.case, s.arrays
    x, w, b, gy = arrays.input64, arrays.weight64, arrays.bias64, s.grad_output64
    stride, dilation, groups = case.stride, case.dilation, case.groups
    rank = case.rank
    if case.transposed:
        befores = case.pads[0::2]
        dense = tuple((n - 1) * st + 1 for n, st in zip(x.shape[2:], stride, strict=True))
        full = _full_convolution(x, w, stride, dilation, groups, dense)
        end = [np.pad(full, [(0, 0), (0, 0), *((0, op) for op in case.output_padding)])]
        window = tuple(slice(p, p + n) for p, n in zip(befores, case.output_shape[2:], strict=True))
        out = end[0][(slice(None), slice(None), *window)]
        if b is not None:
            out = out + b.reshape((1, -1) + (1,) * rank)
        pads = tuple(p for p in befores for _ in (0, 1))
        grad_input = fft_conv(gy, np.conj(w), None, stride, pads, dilation, groups)
        grad_input = grad_input[(slice(None), slice(None), *(slice(0, n) for n in x.shape[2:]))]
        widths = [(0, 0), (0, 0), *((p, p) for p in befores)]
        grad_weight = _weight_correlation(
            np.pad(gy, widths), np.conj(x), case.kernel, stride, dilation, groups
        )
    else:
        out = fft_conv(x, w, b, stride, case.pads, dilation, groups, case.padding_mode)
        padded_size = tuple(
            n + case.pads[2 * a] + case.pads[2 * a + 1] for a, n in enumerate(x.shape[2:])
        )
        reach = tuple((k - 1) * d + 1 for k, d in zip(case.kernel, dilation, strict=True))
        dense = tuple(n - r + 1 for n, r in zip(padded_size, reach, strict=True))
        grad_padded = _full_convolution(gy, np.conj(w), stride, dilation, groups, dense)
        grad_input = fold_padding(grad_padded, case.pads, x.shape[2:], case.padding_mode)
        np_mode = {"zeros": "constant", "replicate": "edge", "circular": "wrap"}
        widths = [(0, 0), (0, 0), *((case.pads[2 * a], case.pads[2 * a + 1]) for a in range(rank))]
        mode = np_mode.get(case.padding_mode, case.padding_mode)
        xp = np.pad(np.conj(x), widths, mode=mode)
        grad_weight = _weight_correlation(xp, gy, case.kernel, stride, dilation, groups)
    exact = {"output": out, "grad_input": grad_input, "grad_weight": grad_weight}
    if b is not None:
        exact["grad_bias"] = _fft_bias(gy)
    return {q: rounded(v, case.dtype) for q, v in exact.items()}


HONEST: dict[str, Callable[[Setting], Values]] = {
    "torch_1_thread": torch_at(1),
    "torch_2_threads": torch_at(2),
    "reference": reference_values,
    "scipy": scipy_values,
    "fft_float64": fft_values,
    "float64_then_rounded": float64_rounded,
    "torch_in_dtype": torch_in_dtype,
    "torch_in_dtype_without_mkldnn": torch_in_dtype_without_mkldnn,
}


@st.composite
def transposed_cases(draw) -> dict:
    """A conv_transpose1d/2d/3d configuration torch accepts (harness.strategies draws
    convolutions only): channels, groups, kernel, stride, dilation, padding and output_padding
    per axis, every dtype."""
    rank = draw(st.sampled_from((1, 2, 3)))
    groups, per_in, per_out = (draw(st.integers(1, n)) for n in (2, 3, 3))
    axes = []
    for _ in range(rank):
        k, s, d = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        p = draw(st.integers(0, d * (k - 1)))
        op = draw(st.integers(0, max(s, d) - 1))
        size = draw(st.integers(1, 5 if rank < 3 else 3))
        axes.append((k, s, d, p, op, size))
    k, s, d, p, op, sizes = (list(a) for a in zip(*axes, strict=True))
    raw: dict = {
        "id": "drawn_transposed",
        "op": f"conv_transpose{rank}d",
        "input": draw(tensor_specs([draw(st.integers(1, 2)), groups * per_in, *sizes])),
        "weight": draw(tensor_specs([groups * per_in, per_out, *k])),
        "stride": s,
        "padding": p,
        "output_padding": op,
        "dilation": d,
        "groups": groups,
        "dtype": draw(st.sampled_from(DTYPES)),
    }
    if draw(st.booleans()):
        raw["bias"] = draw(tensor_specs([groups * per_out], ("normal", "integers")))
    return raw


# ---- mutations of torch's values ---------------------------------------------------------------


def _dropped_arrays(arrays: CaseArrays, dtype: str) -> CaseArrays:
    """The first input channel set to 0 (left out of every output's sum)."""
    x = np.array(arrays.input)
    x[:, 0] = 0
    x64 = np.array(arrays.input64)
    x64[:, 0] = 0
    return dataclasses.replace(arrays, input=x, input64=x64)


def mutations(s: Setting, torch_values: Values) -> dict[tuple[str, str], np.ndarray]:
    """(quantity, mutation) -> torch's values mutated, in the case dtype (as float64)."""
    dtype = s.case.dtype
    out: dict[tuple[str, str], np.ndarray] = {}
    dropped_output = registry_values("torch", s, arrays=_dropped_arrays(s.arrays, dtype))
    g_dropped = np.array(s.grad_output)
    g_dropped[:, 0] = 0
    dropped_input = registry_values("torch", s, grad_output=g_dropped)
    for quantity, value in torch_values.items():
        if quantity not in s.baselines:
            continue
        value = np.asarray(value)
        length = s.baselines[quantity].magnitudes.reduction_length
        out[quantity, "zeroed"] = np.zeros_like(value)
        out[quantity, "halved"] = rounded(round_to_dtype(value / 2, dtype), dtype)
        out[quantity, "averaged"] = rounded(round_to_dtype(value / max(length, 1), dtype), dtype)
        if quantity == "output":
            out[quantity, "channel_dropped"] = dropped_output.get("output")
        elif quantity == "grad_input":
            out[quantity, "channel_dropped"] = dropped_input.get("grad_input")
        else:  # the first output channel of grad_weight / grad_bias set to 0
            zeroed_channel = np.array(value)
            zeroed_channel[0] = 0
            out[quantity, "channel_dropped"] = zeroed_channel
    return {k: v for k, v in out.items() if v is not None}


def allowed(baseline: Baseline) -> np.ndarray:
    """allowed_e = rtol * |baseline_e| + atol_e (harness.verdicts.compare's rule), per element."""
    tol = baseline.tolerance
    return tol.rtol * np.abs(baseline.output) + np.broadcast_to(tol.atol, baseline.output.shape)


def ratio(value: np.ndarray, reference: np.ndarray, allowance: np.ndarray) -> float:
    """max over elements of |value - reference| / allowed (inf for a shape or NaN mismatch)."""
    if value is None or np.shape(value) != reference.shape:
        return float("inf")
    gap = np.abs(np.subtract(value, reference))
    if not np.isfinite(gap).all():
        return float("inf")
    if gap.size == 0:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(gap == 0, 0.0, gap / allowance)
    return float(r.max())
