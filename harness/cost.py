"""What a case costs: the scipy leg's multiply-adds and sampled maps, and its memory.

The scipy leg (a Python loop over N-d correlations, holding the GIL) runs 30-1500x slower than
torch; above SCIPY_FULL_COST it computes a deterministic sample of output maps. The memory
estimate lets a run refuse a case over its budget instead of running out of memory.
"""

from __future__ import annotations

import math

import numpy as np

from harness import reference
from harness.case import Case

DEFAULT_MAX_MEMORY = 2 * 2**30


# The scipy leg (a Python loop over N-d correlations, holding the GIL) runs 30-1500x slower
# than torch. Its cost is counted in multiply-adds: each correlate2d call computes the
# full-resolution 'valid' correlation of one padded input plane with the (dilation-spread)
# kernel, strides are taken afterwards, and the call itself costs about as much as
# SCIPY_CALL_COST multiply-adds (about 4 us here), which dominates for 1x1 kernels on small
# planes. Above SCIPY_FULL_COST
# (about 30-50 ms of work) the leg computes a deterministic sample of output maps.
SCIPY_FULL_COST = 20_000_000


SCIPY_CALL_COST = 3_000


def scipy_map_cost(case: Case) -> int:
    """Multiply-adds (call overhead included) the scipy leg spends on one (n, o) output map."""
    cg, pads, spread = case.weight_shape[1], case.pads, case.effective_kernel
    valid = math.prod(
        max(0, size + pads[2 * a] + pads[2 * a + 1] - e + 1)
        for a, (size, e) in enumerate(zip(case.input_shape[2:], spread, strict=True))
    )
    return cg * (SCIPY_CALL_COST + valid * math.prod(spread))


def scipy_cost(case: Case) -> int:
    n, c_out = case.output_shape[:2]
    return n * c_out * scipy_map_cost(case)


def sampled_maps(case: Case) -> list[tuple[int, int]] | None:
    """(n, o) output maps for a slow leg on a large case, or None to compute everything."""
    n, c_out = case.output_shape[:2]
    per_map = scipy_map_cost(case)
    if n * c_out * per_map <= SCIPY_FULL_COST:
        return None
    count = max(1, SCIPY_FULL_COST // max(per_map, 1))
    # output channels spread evenly (as many distinct ones as there are maps, up to C_out) and
    # images taken in turn: an even spread over the flat (n, o) index can alias onto a few
    # channels or a single image
    return sorted({(k % n, (k * c_out) // count) for k in range(count)})


def maps_mask(shape, maps) -> np.ndarray | None:
    if maps is None:
        return None
    mask = np.zeros(shape[:2], dtype=bool)
    for n, o in maps:
        mask[n, o] = True
    return np.broadcast_to(mask.reshape(mask.shape + (1,) * (len(shape) - 2)), shape)


def memory_estimate(case: Case) -> int:
    """Bytes a case needs: its tensors, padded copies, every comparison's outputs, chunk buffers."""
    n, c_in = case.input_shape[:2]
    pads = case.pads
    padded = (
        n
        * c_in
        * math.prod(
            size + pads[2 * a] + pads[2 * a + 1] for a, size in enumerate(case.input_shape[2:])
        )
    )
    output = math.prod(case.output_shape) if case.computes else 0
    elements = (
        3 * math.prod(case.input_shape) + 2 * padded + 8 * output + 3 * math.prod(case.weight_shape)
    )
    return 8 * elements + reference.CHUNK_BYTES


def size_text(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
