"""Comparison of an output with its baseline: the rounding model, per-element tolerances, metrics.

Tolerance rule (stated in README "Reading the report"). Every output element e gets its own
allowed error, from how far honest floating-point arithmetic can move that element:

    y_e  = the exact result (float64 reference on the inputs rounded to the case dtype)
    q_e  = sqrt(sum (x*w)^2)     the size of the element's products (their root sum of squares)
    K    = (C_in/groups) * kH * kW, the number of products summed into one element
    M    = max |x| * max over o of sum |w[o]|  (bounds sum |x*w| at any position, bias excluded)

    B    = the number of blocks whose partial sums are rounded to the case dtype (1: none)

    allowed_e = rtol * |y_e| + atol_e
    r         = C_acc * u_acc * sqrt(K) + C_blk * u_out * sqrt(B - 1)     (capped, see below)
    rtol      = 4 * u_out + r
    atol_e    = r * q_e + C_fft * u_acc * M + floor

u_out is the unit roundoff of the case dtype (the result is rounded to it once: two roundings of
nearby values differ by a unit in the last place, up to 2 * u_out * |y_e|; twice that is
allowed), u_acc the unit roundoff of the
arithmetic an honest implementation accumulates in (the case dtype; float32 for float16 and
bfloat16, as torch does). Summing K products in any order moves the result by about
u_acc * sqrt(sum of squared partial sums), which is at most u_acc * sqrt(K) * (|y_e| + q_e) in the
random-rounding model: partial sums drift towards y_e and wander by about q_e. C_acc = 8 covers the
largest element of a large output under sequential summation with a margin; pairwise, blocked and
library summation err less.

Blocked accumulation (B > 1): a kernel may accumulate each block in float32, round the block's sum
to a float16/bfloat16 buffer and add the next block there. torch's CPU kernels do so where they
fall back to im2col + matrix product (float16 on CPUs without native float16 convolution, bfloat16
on CPUs without AVX-512 BF16 support, measured with benchmarks/half_accumulation.py): grad_input
and a transposed convolution's output add one column per kernel tap into the dtype (col2im:
B = taps, times the folds of a non-zero padding mode), grad_weight adds one matrix product per
batch image (B = N), grad_bias one sum per image where the kernel handles dilation (B = N + 1,
which also covers one intermediate rounding elsewhere), while the forward output and a transposed
case's grad_input round once (B = 1). Each of the B - 1 extra roundings moves the result by at
most u_out times a partial sum, so they add about u_out * sqrt(B - 1) * (|y_e| + q_e). Measured
worst |error| / (|y_e| + q_e) in units of u_out (float16 and bfloat16, ranks 1-3, 3 draws each):
grad_input 0.6 at one tap, 2.2-2.9 at 9 taps, 4.2-5.1 at 49 and 6.7 at 27 taps in 3-D (about
1.3 * sqrt(B)); grad_weight 0.6 at N = 1 whatever the spatial size (K up to 65,536), 1.2-1.6 at
N = 4, 1.9-3.1 at 16, 4.4-5.9 at 64 and 9.2-12.1 at 256 (about 0.75 * sqrt(B)); grad_bias up
to 0.7; the mkldnn bfloat16 path below 0.9 everywhere (one rounding). C_blk = 8 covers them with
a margin of at least 5. It is never u_out * sqrt(K) over the whole reduction: that let a
bfloat16 grad_weight at K = 1024 be all zeros.

The cap: no allowance reaches 1/8 of |y_e| + q_e. r is capped at 1/8 - 4 * u_out, so
rtol * |y_e| + r * q_e < (|y_e| + q_e) / 8 for every element, whatever K and B (only the C_fft
and floor terms, of the order u_acc * M, come on top). Beyond it rounding noise is as large as
real bugs (a halved output, a dropped channel, a mean for a sum) and nothing could be told apart;
PRECISION_CEILING states it, and precision_models leaves out models above it.

The C_fft term admits an FFT computed in float64, whose error spreads
from the largest terms to every element (about u_acc * M). The floor covers subnormal results.
No term has an absolute floor of 1, and nothing lets rtol approach 1: a float32 result of a
float64 case, or TF32 products in a float32 case, exceed the allowance (README: measured margins).

An element mismatches when |observed - baseline| > allowed_e. The baseline is the exact result
rounded to the case dtype (overflow to +-inf included). NaN matches NaN and an infinity the same
infinity; an infinity also matches a finite baseline whose exact value lies within allowed_e of the
dtype's overflow threshold. Any other NaN/Inf disagreement is a mismatch (cause `nan`).

Complex outputs: the difference of two elements is the modulus |observed - baseline| and the sizes
above are moduli. An element with a NaN or infinite part is non-finite, and two non-finite elements
match: complex products with an infinite factor give NaN parts that differ between correct
algorithms (torch's three real convolutions against four real products).

`precision_models` names the narrower arithmetic a `precision` divergence must be consistent with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# A complex dtype rounds each part as its real counterpart does.
PART_DTYPE = {"complex64": "float32", "complex128": "float64"}
UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8}
SMALLEST_SUBNORMAL = {
    "float64": 2.0**-1074,
    "float32": 2.0**-149,
    "float16": 2.0**-24,
    "bfloat16": 2.0**-133,
}
# the magnitude from which a value rounds to infinity: the largest finite value plus half a step
OVERFLOW = {
    "float64": float(np.finfo(np.float64).max),
    "float32": float(np.finfo(np.float32).max) * (1 + 2.0**-25),
    "float16": 65520.0,
    "bfloat16": float(np.finfo(np.float32).max) * (1 - 2.0**-9),
}
# what torch (and any honest implementation) accumulates a case dtype's products in
ACCUMULATION = {
    "float64": "float64",
    "float32": "float32",
    "float16": "float32",
    "bfloat16": "float32",
}
for _complex, _part in PART_DTYPE.items():
    UNIT_ROUNDOFF[_complex] = UNIT_ROUNDOFF[_part]
    SMALLEST_SUBNORMAL[_complex] = SMALLEST_SUBNORMAL[_part]
    OVERFLOW[_complex] = OVERFLOW[_part]
    ACCUMULATION[_complex] = _complex
# A complex product is four real products and two sums, and torch on CPU forms a complex conv from
# three real ones (Gauss's trick: (xr+xi)(wr+wi) - xr wr - xi wi), whose terms reach 2|x||w|: the
# rounding allowance of a complex element is that of a real one with twice the terms' size.
COMPLEX_FACTOR = 2.0
OUTPUT_FACTOR = 4.0  # two units in the last place of the result
ACCUMULATION_FACTOR = 8.0  # C_acc
FFT_FACTOR = 8.0  # C_fft
BLOCK_FACTOR = 8.0  # C_blk
PRODUCT_FACTOR = 8.0  # narrower inputs: each product is off by up to two roundings
# A model of narrower arithmetic explains a divergence only while its allowance stays below this
# fraction of the element's size: beyond it, rounding noise is as large as real bugs (a halved
# output, a dropped channel) and nothing could be told apart.
PRECISION_CEILING = 2.0**-3


@dataclass(frozen=True)
class Arithmetic:
    """How an output element is computed: the unit roundoffs of its roundings."""

    name: str
    output_unit: float  # the result rounded to the output dtype
    accumulation_unit: float  # products summed in this precision
    product_unit: float = 0.0  # inputs rounded to a narrower format before multiplying
    block_unit: float = 0.0  # partial sums of blocks rounded to this (float16/bfloat16 buffers)


def honest_arithmetic(dtype: str) -> Arithmetic:
    """Computation in the case dtype, accumulated as torch accumulates it: in float32 for
    float16/bfloat16, whose blocks' partial sums may be rounded to the dtype (Magnitudes.blocks)."""
    accumulation = ACCUMULATION[dtype]
    block = UNIT_ROUNDOFF[dtype] if accumulation != dtype else 0.0
    return Arithmetic(dtype, UNIT_ROUNDOFF[dtype], UNIT_ROUNDOFF[accumulation], 0.0, block)


def precision_models(dtype: str, reduction_length: int) -> tuple[Arithmetic, ...]:
    """Narrower arithmetic than the case dtype's: what a `precision` divergence must fit.

    One step down: float64 computed in float32 (or, further, in float16 throughout); float32 with
    its inputs rounded to TF32/float16 (10 mantissa bits) or bfloat16 (7) before float32
    accumulation, as tensor cores do; float16 and bfloat16 accumulated in their own dtype
    instead of float32. Models whose allowance would exceed PRECISION_CEILING of the element's size
    are left out.
    """
    models = _narrower_models(dtype)
    return tuple(m for m in models if relative_allowance(m, reduction_length) <= PRECISION_CEILING)


def rounding_scale(dtype: str, reduction_length: int) -> float:
    """How far (as a fraction of an element's size) rounding one step narrower than the case
    dtype can move a result of K products, up to PRECISION_CEILING (beyond which rounding is as
    large as real bugs): a fitted factor within it of a nice one is rounding, not a finding."""
    scales = [OUTPUT_FACTOR * UNIT_ROUNDOFF[dtype]] + [
        relative_allowance(m, reduction_length) for m in _narrower_models(dtype)
    ]
    return min(max(scales), PRECISION_CEILING)


def _narrower_models(dtype: str) -> tuple[Arithmetic, ...]:
    u = UNIT_ROUNDOFF
    models: tuple[Arithmetic, ...]
    if dtype == "complex128":  # computed in complex64
        models = (Arithmetic("complex64", u["float32"], u["float32"], u["float32"]),)
    elif dtype == "complex64":
        models = (Arithmetic("tf32", u["float32"], u["float32"], u["float16"]),)
    elif dtype == "float64":
        models = (
            Arithmetic("float32", u["float32"], u["float32"], u["float32"]),
            Arithmetic("float16", u["float16"], u["float16"], u["float16"]),
        )
    elif dtype == "float32":
        models = (
            Arithmetic("tf32", u["float32"], u["float32"], u["float16"]),
            Arithmetic("bfloat16 inputs", u["float32"], u["float32"], u["bfloat16"]),
        )
    else:
        models = (Arithmetic(f"{dtype} accumulation", u[dtype], u[dtype]),)
    return models


def relative_allowance(arithmetic: Arithmetic, reduction_length: int, blocks: int = 1) -> float:
    """The model's allowed error as a fraction of |y_e| + q_e (its rtol less output rounding),
    before the cap."""
    return (
        ACCUMULATION_FACTOR * arithmetic.accumulation_unit * math.sqrt(max(reduction_length, 1))
        + PRODUCT_FACTOR * arithmetic.product_unit
        + BLOCK_FACTOR * arithmetic.block_unit * math.sqrt(max(blocks - 1, 0))
    )


def capped_relative(relative: float, output_unit: float) -> float:
    """r under the cap: rtol = 4 * u_out + r stays below PRECISION_CEILING."""
    return min(relative, PRECISION_CEILING - OUTPUT_FACTOR * output_unit)


@dataclass(frozen=True)
class Magnitudes:
    """Per-element sizes the rounding model needs (float64 arrays of the output's shape)."""

    exact: np.ndarray  # y: the unrounded float64 result
    term_norm: np.ndarray  # q: root sum of squares of the products
    largest_terms: float  # M: a bound on sum |x*w| at any position (bias excluded)
    reduction_length: int  # K
    blocks: int = 1  # B: blocks whose partial sums are rounded to the dtype


@dataclass(frozen=True)
class Tolerance:
    """allowed_e = rtol * |baseline_e| + atol_e (atol an array of the output's shape)."""

    rtol: float
    atol: np.ndarray
    dtype: str  # the output dtype whose overflow threshold applies
    exact: np.ndarray | None = None  # the unrounded result, for the overflow rule

    def atol_at(self, index) -> float:
        if index is None or np.ndim(self.atol) == 0:
            return float(np.max(self.atol)) if np.size(self.atol) else 0.0
        return float(self.atol[tuple(index)])


def tolerance(
    magnitudes: Magnitudes, dtype: str, arithmetic: Arithmetic | None = None
) -> Tolerance:
    """The allowed error of every element under `arithmetic` (default: honest, in `dtype`)."""
    arithmetic = arithmetic or honest_arithmetic(dtype)
    factor = COMPLEX_FACTOR if dtype in PART_DTYPE else 1.0
    relative = relative_allowance(arithmetic, magnitudes.reduction_length, magnitudes.blocks)
    relative = capped_relative(relative * factor, arithmetic.output_unit)
    rtol = OUTPUT_FACTOR * arithmetic.output_unit + relative
    floor = (
        SMALLEST_SUBNORMAL[dtype]
        + magnitudes.reduction_length * SMALLEST_SUBNORMAL[ACCUMULATION[dtype]]
    )
    fft = FFT_FACTOR * arithmetic.accumulation_unit * magnitudes.largest_terms * factor
    with np.errstate(invalid="ignore", over="ignore"):
        atol = relative * magnitudes.term_norm + (fft + floor)
    atol = np.where(np.isfinite(atol), atol, 0.0)
    return Tolerance(rtol, atol, dtype, magnitudes.exact)


@dataclass(frozen=True)
class Metrics:
    """How `observed` differs from `baseline`. Shape mismatch leaves the diffs as None."""

    shape_ok: bool
    max_abs_diff: float | None
    max_rel_diff: float | None
    mismatched: int
    total: int
    worst_index: tuple[int, ...] | None
    nan_mismatches: int = 0
    allowed_at_worst: float | None = None  # atol_e + rtol * |baseline_e| at worst_index

    @property
    def agree(self) -> bool:
        return self.shape_ok and self.mismatched == 0


def _overflow_allowed(observed, exact, allowed, dtype: str) -> np.ndarray:
    """Infinities that honest rounding of a value within `allowed` of `exact` can produce."""
    threshold = OVERFLOW[dtype]
    with np.errstate(invalid="ignore"):
        reach_up = exact + allowed >= threshold
        reach_down = exact - allowed <= -threshold
    return ((observed == np.inf) & reach_up) | ((observed == -np.inf) & reach_down)


def compare(
    observed: np.ndarray, baseline: np.ndarray, tol: Tolerance, where: np.ndarray | None = None
) -> Metrics:
    """Metrics over all elements, or only where `where` is True (a sampled comparison)."""
    total = int(baseline.size if where is None else where.sum())
    if observed.shape != baseline.shape:
        return Metrics(False, None, None, total, total, None)
    if total == 0:
        return Metrics(True, 0.0, 0.0, 0, 0, None)
    atol = np.broadcast_to(tol.atol, baseline.shape)
    if where is not None:  # outside the sample both sides count as equal zeros
        observed = np.where(where, observed, 0.0)
        baseline = np.where(where, baseline, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.subtract(observed, baseline)
    if np.iscomplexobj(diff):  # complex outputs differ by the modulus of the difference
        diff = np.abs(diff)
    else:
        np.abs(diff, out=diff)
    max_abs = float(diff.max())  # NaN or Inf exactly when some element is not finite
    special_mismatch = None
    nan_mismatches = 0
    if math.isfinite(max_abs):  # the common case: no NaN/Inf on either side
        magnitude = np.abs(baseline)
        allowed = magnitude * tol.rtol
        allowed += atol
    else:  # compare the finite pairs; NaN/Inf must match NaN/the same Inf
        obs_finite, base_finite = np.isfinite(observed), np.isfinite(baseline)
        both = obs_finite & base_finite
        same_special = ~obs_finite & ~base_finite
        if not np.iscomplexobj(baseline):
            same_special &= (np.isnan(observed) & np.isnan(baseline)) | (observed == baseline)
        magnitude = np.abs(np.where(both, baseline, 0.0))
        allowed = magnitude * tol.rtol
        allowed += atol
        special_mismatch = ~both & ~same_special
        if tol.exact is not None and special_mismatch.any() and not np.iscomplexobj(baseline):
            exact = tol.exact if where is None else np.where(where, tol.exact, 0.0)
            special_mismatch &= ~_overflow_allowed(observed, exact, allowed, tol.dtype)
            # a finite observation where the exact value rounds to infinity
            finite_obs = obs_finite & ~base_finite & np.isfinite(exact)
            with np.errstate(invalid="ignore", over="ignore"):
                near = finite_obs & (np.abs(observed - exact) <= allowed)
            special_mismatch &= ~near
        nan_mismatches = int(special_mismatch.sum())
        diff = np.where(both, diff, 0.0)
        max_abs = float(diff.max())
    bad = diff > allowed
    if special_mismatch is not None:
        bad |= special_mismatch
    mismatched = int(np.count_nonzero(bad))
    zero = magnitude == 0
    relative = np.zeros_like(diff)
    if zero.any():
        np.divide(diff, magnitude, out=relative, where=~zero)
        max_rel = math.inf if (diff[zero] > 0).any() else float(relative.max())
    else:
        np.divide(diff, magnitude, out=relative)
        max_rel = float(relative.max())
    nan_only = (
        special_mismatch is not None
        and mismatched > 0
        and mismatched == int(np.count_nonzero(special_mismatch))
    )
    if max_abs > 0 and not nan_only:
        worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
    elif special_mismatch is not None and special_mismatch.any():  # name a NaN/Inf that differs
        worst = np.unravel_index(int(np.argmax(special_mismatch)), diff.shape)
    else:
        worst = None
    worst_index = None if worst is None else tuple(int(i) for i in worst)
    allowed_at_worst = None if worst is None else float(allowed[worst])
    return Metrics(
        True, max_abs, max_rel, mismatched, total, worst_index, nan_mismatches, allowed_at_worst
    )


def within(observed: np.ndarray, baseline: np.ndarray, tol: Tolerance) -> bool:
    return compare(observed, baseline, tol).agree


def describe(metrics: Metrics, tol: Tolerance, observed_shape=None, baseline_shape=None) -> str:
    """The comparison in torch.testing's order: mismatched, greatest abs, greatest rel."""
    if not metrics.shape_ok:
        return (
            f"Shape mismatch: got {list(observed_shape or [])}, expected "
            f"{list(baseline_shape or [])}"
        )
    where = "" if metrics.worst_index is None else f" at index {metrics.worst_index}"
    allowed = (
        ""
        if metrics.allowed_at_worst is None
        else f" (up to {metrics.allowed_at_worst:.3g} allowed there)"
    )
    if metrics.agree and metrics.total == 0:
        return "no elements to compare: both outputs are empty and their shapes agree"
    if metrics.agree:
        return (
            f"all {metrics.total} elements within tolerance (greatest absolute difference "
            f"{metrics.max_abs_diff:.3g}{where}{allowed})"
        )
    share = 100.0 * metrics.mismatched / max(metrics.total, 1)
    parts = [f"Mismatched elements: {metrics.mismatched} / {metrics.total} ({share:.1f}%)"]
    nan_only = metrics.nan_mismatches and metrics.mismatched == metrics.nan_mismatches
    if metrics.nan_mismatches:
        first = where if not metrics.max_abs_diff or nan_only else ""
        parts.append(f"NaN/Inf differ at {metrics.nan_mismatches} elements{first}")
    if nan_only and metrics.max_abs_diff:  # the worst index is a NaN/Inf that differs
        parts.append(
            "every finite element within tolerance (greatest absolute difference "
            f"{metrics.max_abs_diff:.6g})"
        )
    elif metrics.max_abs_diff or not metrics.nan_mismatches:
        parts += [
            f"Greatest absolute difference: {metrics.max_abs_diff:.6g}{where}{allowed}",
            f"Greatest relative difference: {metrics.max_rel_diff:.6g} (rtol {tol.rtol:.3g})",
        ]
    return "; ".join(parts)
