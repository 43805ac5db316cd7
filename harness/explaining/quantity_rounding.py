"""The rounding model of the quantities beyond the forward output (grad_input, grad_weight,
grad_bias, a transposed convolution's output): their baselines (magnitude_baselines), how their
kernels round (the B of harness.verdicts.compare's model), how far an FFT spreads (its M), and what
a variant that stays within that rounding does to a quantity.

torch's CPU kernels for float16 and bfloat16 fall back, where the CPU has no native convolution of
the dtype, to im2col and a matrix product accumulated in float32, then add the pieces into a
buffer of the dtype (measured by benchmarks/half_accumulation.py):

- grad_input of a convolution and the output of a transposed convolution: col2im adds one column
  per kernel tap, so B = the number of taps (times the folds of a reflect, replicate or circular
  padding, which add the padded positions' gradients back onto the edges); a transposed output's
  bias is added to that rounded buffer, one block more;
- grad_weight: one matrix product per batch image, B = N;
- grad_bias: one sum per batch image where the kernel handles dilation (slow_conv_dilated), added
  in the dtype, and one rounding of the float32 sum elsewhere: B = N + 1 covers both (measured
  up to 0.7 u (|y| + q) on a dilated float16 conv3d with N = 2, where one rounding allows
  4 u |y| only);
- a transposed convolution's grad_input (a convolution) and the forward output: one rounding,
  B = 1.

And how far an FFT spreads its rounding (the M of the model): an FFT computes every lag of the
dense correlation behind a quantity, not only the ones the quantity keeps, so M bounds the sum of
|products| at any lag: max |one factor| times the largest sum of |the other| over what one element
of that correlation sums (grad_input: max |g| times the largest sum of |w| over one input channel's
output channels and taps; grad_weight: max |x| times the largest sum of |g| over one output
channel's batch and positions; grad_bias: the largest sum of |g| over one channel, which its
absolute values give).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from harness.cases.case import Case
from harness.verdicts.baseline import Baseline, rounded, squared_moduli
from harness.verdicts.compare import Magnitudes, tolerance


def magnitude_baselines(
    case: Case, compute: Callable, names, exact, counts, blocks=None, spreads=None
) -> dict:
    """Baselines of bilinear quantities: q from squares (squared moduli of complex values), M
    from absolute values (at least spreads[k], the dense correlation's bound), K = counts[k] and
    B = blocks[k] (default 1) of harness.verdicts.compare's rounding model, the same as the
    forward's: float32 accumulation for float16 and bfloat16, whose kernels may round each block's
    partial sum to the dtype (B blocks), capped below 1/8 of |y| + q."""
    squares = compute(squared_moduli)
    absolute = compute(np.abs)
    blocks = blocks or (1,) * len(names)
    spreads = spreads or (0.0,) * len(names)
    baselines = {}
    for k, name in enumerate(names):
        if exact[k] is None:
            continue
        with np.errstate(invalid="ignore", over="ignore"):
            norm = np.sqrt(squares[k])
        finite = absolute[k][np.isfinite(absolute[k])]
        largest = max(float(finite.max()) if finite.size else 0.0, spreads[k])
        magnitudes = Magnitudes(exact[k], norm, largest, counts[k], max(blocks[k], 1))
        baselines[name] = Baseline(
            rounded(exact[k], case.dtype), magnitudes, tolerance(magnitudes, case.dtype), case.dtype
        )
    return baselines


def padding_folds(case: Case) -> int:
    """How many padded positions may fold onto one input position: up to 2 per axis."""
    return 1 if case.padding_mode == "zeros" else 2**case.rank


def gradient_blocks(case: Case) -> tuple[int, int, int]:
    """B of a convolution case's (grad_input, grad_weight, grad_bias)."""
    n = max(case.input_shape[0], 1)
    return (math.prod(case.kernel) * padding_folds(case), n, n + 1)


def transposed_gradient_blocks(case: Case) -> tuple[int, int, int]:
    """B of a transposed case's (grad_input, grad_weight, grad_bias)."""
    n = max(case.input_shape[0], 1)
    return (1, n, n + 1)


def transposed_output_blocks(case: Case) -> int:
    """B of a transposed case's output: a block per tap, and one more where a bias is added after
    the buffer is rounded (measured: torch's float16 output is round(round(sum) + b))."""
    return math.prod(case.kernel) + (case.bias is not None)


def _finite_max(values) -> float:
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size else 0.0


def _channel_sums(a: np.ndarray, axis: int) -> float:
    """The largest sum of |a| over everything but `axis` (finite values only)."""
    if a.size == 0:
        return 0.0
    magnitude = np.where(np.isfinite(a), np.abs(a), 0.0)
    return float(np.moveaxis(magnitude, axis, 0).reshape(a.shape[axis], -1).sum(axis=1).max())


def gradient_spreads(x, w, g) -> tuple[float, float, float]:
    """M of a convolution case's (grad_input, grad_weight, grad_bias)."""
    return (
        _finite_max(g) * _channel_sums(w, 1),
        _finite_max(x) * _channel_sums(g, 1),
        0.0,  # grad_bias sums |g| itself (its absolute values give M)
    )


def transposed_gradient_spreads(x, w, g) -> tuple[float, float, float]:
    """M of a transposed case's (grad_input, grad_weight, grad_bias)."""
    return (
        _finite_max(g) * _channel_sums(w, 0),
        _finite_max(g) * _channel_sums(x, 1),
        0.0,
    )


def transposed_output_spread(x, w) -> float:
    """M of a transposed case's output."""
    return _finite_max(x) * _channel_sums(w, 1)


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
