"""The baseline every output is compared with, and the magnitudes its tolerance comes from.

The baseline of a case is the exact result on the case's inputs (as rounded to the case dtype),
computed by the reference in float64, then rounded to the case dtype: what exact arithmetic
followed by one rounding gives, overflow to +-inf included. Next to it: the per-element sizes the
rounding model needs (harness.verdicts.compare): the root sum of squared products q and the largest
sum of |products| M, and from them the honest tolerance of every element.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.cases.data import CaseArrays, exact_dtype, round_to_dtype
from harness.cases.loading import Case
from harness.computations import reference
from harness.verdicts.compare import Arithmetic, Magnitudes, Tolerance, tolerance


@dataclass(frozen=True)
class Baseline:
    """The rounded exact output of a case, its magnitudes and its honest tolerance."""

    output: np.ndarray  # float64 (complex128) holding values of the case dtype
    magnitudes: Magnitudes
    tolerance: Tolerance
    dtype: str

    @property
    def exact(self) -> np.ndarray:
        return self.magnitudes.exact

    def tolerance_for(self, arithmetic: Arithmetic) -> Tolerance:
        return tolerance(self.magnitudes, self.dtype, arithmetic)


def rounded(exact: np.ndarray, dtype: str) -> np.ndarray:
    """Exact float64 values rounded once to `dtype`, as float64."""
    if dtype in ("float64", "complex128"):
        return exact
    with np.errstate(over="ignore", invalid="ignore"):
        return round_to_dtype(exact, dtype).astype(exact_dtype(dtype))


def squared_moduli(values: np.ndarray) -> np.ndarray:
    """|v|^2 elementwise, real (for complex values too: the size of their products)."""
    if np.iscomplexobj(values):
        return np.square(values.real) + np.square(values.imag)
    return np.square(values)


def _finite_max(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.abs(finite).max()) if finite.size else 0.0


def case_magnitudes(
    case: Case, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, exact: np.ndarray
) -> Magnitudes:
    """q per element (scaled, so squares cannot overflow) and M.

    M bounds the sum of |x*w| at every position of the dense (stride 1) correlation, the one an
    FFT computes before any subsampling: max |x| times the largest sum of |w| of one output
    channel.
    """

    def conv(a, k):
        return reference.conv2d(
            a, k, None, case.stride, case.padding, case.dilation, case.groups, case.padding_mode
        )

    x_scale = _finite_max(x) or 1.0
    w_scale = _finite_max(w) or 1.0
    with np.errstate(invalid="ignore", over="ignore"):
        squares = conv(squared_moduli(x / x_scale), squared_moduli(w / w_scale))
        term_norm = np.sqrt(squares) * (x_scale * w_scale)
        kernel_sums = np.abs(w).reshape(w.shape[0], -1).sum(axis=1) if w.size else np.zeros(1)
        largest = _finite_max(np.asarray(kernel_sums)) * _finite_max(x)
    return Magnitudes(exact, term_norm, largest, case.reduction_length)


def compute_baseline(case: Case, arrays: CaseArrays) -> Baseline:
    exact = reference.conv2d(
        arrays.input64,
        arrays.weight64,
        arrays.bias64,
        case.stride,
        case.padding,
        case.dilation,
        case.groups,
        case.padding_mode,
    )
    magnitudes = case_magnitudes(case, arrays.input64, arrays.weight64, arrays.bias64, exact)
    return Baseline(
        rounded(exact, case.dtype), magnitudes, tolerance(magnitudes, case.dtype), case.dtype
    )
