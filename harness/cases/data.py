"""Materialise a case's tensors as NumPy arrays.

Random data is drawn from `numpy.random.default_rng(seed)` in float64, so the same file gives the
same arrays on every machine. The arrays are then rounded to the case's dtype: implementations get
them in that dtype, and the float64 baseline is computed on exactly those rounded values.
NumPy has no bfloat16: bfloat16 cases are rounded to bfloat16 (round to nearest even) and handed to
implementations as float32 arrays holding bfloat16-representable values.

Complex cases (complex64, complex128): a random init (normal, uniform, integers) draws the real
parts, then the imaginary parts from the same generator, so the two are independent; the other
inits (ones, zeros, arange, impulse) give real values with zero imaginary parts. Literal arrays
may hold complex numbers written as strings ("1+2j"). The `exact` copies are then complex128.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.cases.loading import Case, TensorSpec
from harness.cases.schema import complex_literal

NUMPY_DTYPES = {
    "float64": np.float64,
    "float32": np.float32,
    "float16": np.float16,
    "bfloat16": np.float32,
    "complex64": np.complex64,
    "complex128": np.complex128,
}
RANDOM_INITS = ("normal", "uniform", "integers")


def is_complex(dtype: str) -> bool:
    return dtype.startswith("complex")


def exact_dtype(dtype: str) -> type:
    """The dtype of a case's exact copies and baseline: complex128 for complex cases."""
    return np.complex128 if is_complex(dtype) else np.float64


@dataclass(frozen=True)
class CaseArrays:
    """A case's tensors: `native` in the dtype implementations receive, `exact` in float64."""

    input: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None
    input64: np.ndarray
    weight64: np.ndarray
    bias64: np.ndarray | None


def generate(spec: TensorSpec, complex_values: bool = False) -> np.ndarray:
    """Float64 array for a tensor spec; complex128 with independent imaginary parts drawn after
    the real ones when `complex_values` and the init is random."""
    rng = np.random.default_rng(spec.seed)
    real = _draw(spec, rng)
    if complex_values and spec.init in RANDOM_INITS:
        return real + 1j * _draw(spec, rng)
    return real.astype(np.complex128) if complex_values else real


def _draw(spec: TensorSpec, rng) -> np.ndarray:
    shape = tuple(spec.shape)
    if spec.init == "normal":
        return rng.standard_normal(shape) * (1.0 if spec.std is None else spec.std)
    if spec.init == "uniform":
        low = -1.0 if spec.low is None else spec.low
        high = 1.0 if spec.high is None else spec.high
        return rng.uniform(low, high, shape)
    if spec.init == "integers":
        low = -3 if spec.low is None else int(spec.low)
        high = 4 if spec.high is None else int(spec.high)
        return rng.integers(low, high, shape).astype(np.float64)
    if spec.init == "ones":
        return np.ones(shape)
    if spec.init == "zeros":
        return np.zeros(shape)
    if spec.init == "arange":
        return np.arange(math.prod(shape), dtype=np.float64).reshape(shape)
    if spec.init == "impulse":
        out = np.zeros(shape)
        if out.size == 0:  # an empty batch has no element to set
            return out
        at = tuple(spec.at) if spec.at is not None else tuple(s // 2 for s in shape)
        out[at] = 1.0
        return out
    raise AssertionError(f"unhandled init {spec.init}")


def to_array(tensor, rank: int, complex_values: bool = False) -> np.ndarray:
    """Float64 (complex128 when `complex_values`) array for a spec or literal, with leading axes
    of size 1 up to `rank`."""
    if isinstance(tensor, TensorSpec):
        array = generate(tensor, complex_values)
    elif complex_values:
        array = np.asarray(_complex_values(tensor), np.complex128)
    else:
        array = np.asarray(tensor, np.float64)
    return array.reshape((1,) * (rank - array.ndim) + array.shape)


def _complex_values(literal):
    """A literal with its complex strings ("1+2j") read as Python complex numbers."""
    if isinstance(literal, list):
        return [_complex_values(item) for item in literal]
    return complex_literal(literal) if isinstance(literal, str) else literal


def round_bfloat16(array: np.ndarray) -> np.ndarray:
    """Round float values to the nearest bfloat16 (ties to even), returned as float32."""
    as32 = np.ascontiguousarray(array, dtype=np.float32)
    bits = as32.view(np.uint32).astype(np.uint64)
    rounding = 0x7FFF + ((bits >> 16) & 1)
    rounded = ((bits + rounding) >> 16) << 16
    special = ~np.isfinite(as32)
    result = (rounded & 0xFFFFFFFF).astype(np.uint32).view(np.float32).copy()
    result[special] = as32[special]
    return result.reshape(np.shape(array))  # ascontiguousarray makes a 0-d array 1-d


def round_to_dtype(array: np.ndarray, dtype: str) -> np.ndarray:
    """The array in the dtype implementations receive for this case dtype."""
    if dtype == "bfloat16":
        return round_bfloat16(array)
    with np.errstate(over="ignore"):
        return array.astype(NUMPY_DTYPES[dtype])


def materialize(case: Case) -> CaseArrays:
    """The case's input, weight and bias, rounded to its dtype, plus float64 copies of them."""
    x, x64 = _read_only(case.input, case.rank + 2, case.dtype)
    w, w64 = _read_only(case.weight, case.rank + 2, case.dtype)
    b, b64 = (None, None) if case.bias is None else _read_only(case.bias, 1, case.dtype)
    return CaseArrays(x, w, b, x64, w64, b64)


def _read_only(tensor, rank: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """The tensor rounded to `dtype`, and the same values in float64 (complex128 for a complex
    dtype); both read-only."""
    rounded = round_to_dtype(to_array(tensor, rank, is_complex(dtype)), dtype)
    rounded.setflags(write=False)
    as64: np.ndarray = rounded.astype(exact_dtype(dtype))
    as64.setflags(write=False)
    return rounded, as64


def expected_array(case: Case) -> np.ndarray | None:
    if case.expected is None:
        return None
    return to_array(case.expected, case.rank + 2, is_complex(case.dtype))
