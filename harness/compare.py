"""Comparison of an output with its baseline: metrics and tolerances.

Tolerance rule (stated in README "Reading the report"): start from torch.testing's defaults for
the dtype (rtol0, atol0) and grow them with the reduction length K = (C_in/groups) * kH * kW, the
number of products summed into one output element:

    S    = max over output elements of  sum |x * w| + |b|     (the magnitude rounding acts on;
                                                                it grows linearly with K)
    atol = atol0 * max(1, S)
    rtol = rtol0 * max(1, sqrt(K / 9))     (a single-channel 3x3 conv keeps torch.testing's rtol)

Element idx mismatches when |observed - baseline| > atol + rtol * |baseline|. NaN matches NaN and
an infinity matches the same infinity; any other NaN/Inf disagreement is a mismatch (cause `nan`).
Using S rather than max |baseline| keeps cancelling sums (large products, small result) from
failing on honest rounding, while a float16-accumulating or TF32 implementation still exceeds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# torch.testing.assert_close defaults: (rtol, atol)
BASE_TOLERANCES = {
    "float64": (1e-7, 1e-7),
    "float32": (1.3e-6, 1e-5),
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
}


def growth(reduction_length: int) -> float:
    return max(1.0, math.sqrt(reduction_length / 9.0))


def tolerances(dtype: str, reduction_length: int, magnitude: float) -> tuple[float, float]:
    """(atol, rtol) for an output of this dtype and K whose terms sum to at most `magnitude` (S)."""
    rtol0, atol0 = BASE_TOLERANCES[dtype]
    return atol0 * max(1.0, magnitude), rtol0 * growth(reduction_length)


def term_magnitude(absolute_sums: np.ndarray) -> float:
    """S: the largest finite sum of |x * w| + |b| (an output of the conv of |x| with |w|)."""
    finite = absolute_sums[np.isfinite(absolute_sums)]
    return float(finite.max()) if finite.size else 0.0


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

    @property
    def agree(self) -> bool:
        return self.shape_ok and self.mismatched == 0


def compare(observed: np.ndarray, baseline: np.ndarray, atol: float, rtol: float,
            where: np.ndarray | None = None) -> Metrics:
    """Metrics over all elements, or only where `where` is True (a sampled comparison)."""
    total = int(baseline.size if where is None else where.sum())
    if observed.shape != baseline.shape:
        return Metrics(False, None, None, total, total, None)
    if total == 0:
        return Metrics(True, 0.0, 0.0, 0, 0, None)
    if where is not None:  # outside the sample both sides count as equal zeros
        observed = np.where(where, observed, 0.0)
        baseline = np.where(where, baseline, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.subtract(observed, baseline)
    np.abs(diff, out=diff)
    max_abs = float(diff.max())  # NaN or Inf exactly when some element is not finite
    special_mismatch = None
    nan_mismatches = 0
    if math.isfinite(max_abs):  # the common case: no NaN/Inf on either side
        magnitude = np.abs(baseline)
    else:  # compare the finite pairs; NaN/Inf must match NaN/the same Inf
        obs_finite, base_finite = np.isfinite(observed), np.isfinite(baseline)
        both = obs_finite & base_finite
        same_special = ~obs_finite & ~base_finite & (
            (np.isnan(observed) & np.isnan(baseline)) | (observed == baseline)
        )
        special_mismatch = ~both & ~same_special
        nan_mismatches = int(special_mismatch.sum())
        diff = np.where(both, diff, 0.0)
        magnitude = np.abs(np.where(both, baseline, 0.0))
        max_abs = float(diff.max())
    scratch = np.multiply(magnitude, rtol)  # the allowed difference, then the relative one
    scratch += atol
    bad = diff > scratch
    if special_mismatch is not None:
        bad |= special_mismatch
    mismatched = int(np.count_nonzero(bad))
    zero = magnitude == 0
    if zero.any():
        np.divide(diff, magnitude, out=scratch, where=~zero)
        scratch[zero] = 0.0
        max_rel = math.inf if (diff[zero] > 0).any() else float(scratch.max())
    else:
        np.divide(diff, magnitude, out=scratch)
        max_rel = float(scratch.max())
    if max_abs > 0:
        worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
    elif special_mismatch is not None and special_mismatch.any():
        worst = np.unravel_index(int(np.argmax(special_mismatch)), diff.shape)
    else:
        worst = None
    worst_index = None if worst is None else tuple(int(i) for i in worst)
    return Metrics(True, max_abs, max_rel, mismatched, total, worst_index, nan_mismatches)


def describe(metrics: Metrics, atol: float, rtol: float, observed_shape=None, baseline_shape=None) -> str:
    """A failure description in torch.testing's order: mismatched, greatest abs, greatest rel."""
    if not metrics.shape_ok:
        return f"Shape mismatch: got {list(observed_shape or [])}, expected {list(baseline_shape or [])}"
    if metrics.agree:
        return (
            f"All {metrics.total} elements agree (greatest absolute difference "
            f"{metrics.max_abs_diff:.3g}, up to {atol:.3g} allowed)"
        )
    share = 100.0 * metrics.mismatched / max(metrics.total, 1)
    where = "" if metrics.worst_index is None else f" at index {metrics.worst_index}"
    parts = [f"Mismatched elements: {metrics.mismatched} / {metrics.total} ({share:.1f}%)"]
    if metrics.nan_mismatches:
        first = where if not metrics.max_abs_diff else ""
        parts.append(f"NaN/Inf differ at {metrics.nan_mismatches} elements{first}")
    if metrics.max_abs_diff or not metrics.nan_mismatches:
        parts += [
            f"Greatest absolute difference: {metrics.max_abs_diff:.6g}{where} "
            f"(up to {atol:.3g} allowed)",
            f"Greatest relative difference: {metrics.max_rel_diff:.6g} (up to {rtol:.3g} allowed)",
        ]
    return "; ".join(parts)
