"""torch's own values on a family search's sample, and whether a candidate's values are them.

A family member names a difference from torch only where it computes something else on the very
case: on some cases a member is torch's own semantics (a group mapping o % groups where C_out =
groups, the bias of one output channel in reverse order, a flip of a one-tap kernel, a stride
that samples one output), and a fit through it reproduces torch's reading exactly. The searches
(harness.explaining.families for the forward, harness.explaining.quantity_families for the gradients
and transposed outputs) skip a candidate whose values equal torch's (`TorchValues.same`), so
rounding alone can never be named a family.
"""

from __future__ import annotations

import numpy as np

from harness.cases.case import Case
from harness.explaining.readings import Reading, partials


def torch_reading(
    case: Case, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, outputs: list[int]
) -> np.ndarray:
    """What torch's own reading computes on the sampled images `x` and output channels: the
    plain channel sum plus the bias, in float64."""
    part = partials(case, x, weight, Reading.of(case), outputs)
    return torch_sum(case, part, bias, outputs)


def torch_sum(case: Case, part: np.ndarray, bias: np.ndarray | None, outputs) -> np.ndarray:
    """Partial outputs summed as torch sums them, its bias added along the channel axis."""
    total = part.sum(axis=2)
    if bias is None:
        return total
    shape = (1, -1, *(1,) * (total.ndim - 2))
    return total + np.asarray(bias)[list(outputs)].reshape(shape)


IDENTICAL = 1e-9  # float64 differences below this fraction of the largest value are roundoff


def identical_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two float64 computations of a quantity hold the same values (up to the roundoff
    of summing in another order): NaN and infinities where the other has them too."""
    if a.shape != b.shape:
        return False
    finite_a, finite_b = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(finite_a, finite_b):
        return False
    special = ~finite_a
    if special.any() and not np.array_equal(a[special], b[special], equal_nan=True):
        return False
    if not finite_a.any():
        return True
    scale = max(float(np.max(np.abs(a[finite_a]))), float(np.max(np.abs(b[finite_b]))))
    return bool(np.max(np.abs(a[finite_a] - b[finite_b])) <= IDENTICAL * scale)


class TorchValues:
    """torch's own values on a search's sample, computed on first use: a family member whose
    fit reproduces them exactly computes what torch does on this case (a group mapping at
    C_out = groups, one channel's bias reversed, a flip of a 1-tap kernel) and names nothing."""

    def __init__(self, compute) -> None:
        self._compute = compute
        self._values: np.ndarray | None = None
        self._failed = False

    def same(self, output: np.ndarray) -> bool:
        if self._values is None and not self._failed:
            try:
                self._values = np.asarray(self._compute())
            except Exception:  # torch's reading cannot be computed here: nothing to compare
                self._failed = True
        return self._values is not None and identical_values(output, self._values)
