"""How the kernels of every quantity round (the B of harness.compare's rounding model), and what a
variant that stays within that rounding does to a quantity.

torch's CPU kernels for float16 and bfloat16 fall back, where the CPU has no native convolution of
the dtype, to im2col and a matrix product accumulated in float32, then add the pieces into a
buffer of the dtype (measured by benchmarks/half_accumulation.py):

- grad_input of a convolution and the output of a transposed convolution: col2im adds one column
  per kernel tap, so B = the number of taps (times the folds of a reflect, replicate or circular
  padding, which add the padded positions' gradients back onto the edges);
- grad_weight: one matrix product per batch image, B = N;
- grad_bias, a transposed convolution's grad_input (a convolution) and the forward output: one
  rounding, B = 1.
"""

from __future__ import annotations

import math

import numpy as np

from harness.baseline import Baseline, rounded
from harness.case import Case


def padding_folds(case: Case) -> int:
    """How many padded positions may fold onto one input position: up to 2 per axis."""
    return 1 if case.padding_mode == "zeros" else 2**case.rank


def gradient_blocks(case: Case) -> tuple[int, int, int]:
    """B of a convolution case's (grad_input, grad_weight, grad_bias)."""
    return (math.prod(case.kernel) * padding_folds(case), max(case.input_shape[0], 1), 1)


def transposed_gradient_blocks(case: Case) -> tuple[int, int, int]:
    """B of a transposed case's (grad_input, grad_weight, grad_bias)."""
    return (1, max(case.input_shape[0], 1), 1)


def transposed_output_blocks(case: Case) -> int:
    """B of a transposed case's output."""
    return math.prod(case.kernel)


def variant_change(output: np.ndarray, baseline: Baseline, quantity: str) -> str:
    """What an agreeing variant does to the quantity: nothing (its values rounded to the dtype
    are the baseline's, bit for bit), or a change within the rounding allowance."""
    changed = rounded(output, baseline.dtype)
    if np.array_equal(changed, baseline.output, equal_nan=True):
        return f"does not change this case's {quantity}"
    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.abs(np.subtract(output, baseline.exact))
    largest = float(np.nanmax(gap)) if gap.size else 0.0
    return f"changes this case's {quantity} by at most {largest:.3g}, within the rounding allowance"
