"""`diagnose` for the backward pass of the convolution, at every spatial rank (conv{r}d_backward
for r in 1, 2, 3): which probes it runs.

Backward probes reuse the forward probes' configurations where the gradients' semantics show
(an asymmetric kernel shows whether grad_input is the true convolution, a stride where grad_output
is zero-upsampled, a bias whether grad_bias is a sum, channel counts that are not multiples of 4
or 8, depthwise with a channel multiplier, complex128 whether the gradients are conjugated like
torch's), with integer grad_output so every correct gradient is exact; they are the forward probes
of the same rank (harness.probing.probes.probes_for). Each (probe, quantity) is one result, named
`grad_input:orientation` and so on (prefixed by the operation at ranks 1 and 3:
`conv3d_backward:grad_input:orientation`), run and judged by harness.probing.diagnose_quantities.
The transposed convolution's probes are harness.probing.diagnose_transposed's.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.probing.diagnose_quantities import FINDINGS, probe_quantities
from harness.probing.probes import Probe, ProbeResult, probes_for

BACKWARD_PROBES = (
    "orientation",
    "orientation_nonsquare",
    "depth",
    "groups",
    "padding",
    "stride",
    "dilation",
    "bias",
    "boundary_reflect",
    "precision",
    "float32",
    "complex",
    "channels_odd",
    "groups_odd",
    "depthwise",
)


def backward_probes(rank: int) -> tuple[Probe, ...]:
    """conv{rank}d_backward's probes: the forward probes of BACKWARD_PROBES, as its operation."""
    op = f"conv{rank}d_backward"
    return tuple(
        Probe(p.property, p.cause, p.fields, p.description, op, p.optional)
        for p in probes_for(rank)
        if p.property in BACKWARD_PROBES
    )


def backward_results(backward: Callable, rank: int = 2) -> list[ProbeResult]:
    """One result per (probe, gradient) for a conv{rank}d_backward."""
    return [r for p in backward_probes(rank) for r in probe_quantities(backward, p)]


__all__ = ["BACKWARD_PROBES", "FINDINGS", "backward_probes", "backward_results"]
