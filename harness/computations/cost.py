"""What a case costs: the scipy leg's multiply-adds and sampled maps, and its memory.

The scipy leg (a Python loop over N-d correlations, holding the GIL) runs 30-1500x slower than
torch; above SCIPY_FULL_COST it computes a deterministic sample of output maps. The memory guard
(`memory_refusal`) lets a run refuse a case instead of running out of memory: the host side must
fit in the --max-memory budget and in the RAM available now (/proc/meminfo MemAvailable), and a
device implementation's tensors in its device's free memory (torch.cuda.mem_get_info on CUDA).
No fixed element count limits a case: one needing 64-bit indexing runs where memory allows.
"""

from __future__ import annotations

import math

import numpy as np

from harness.cases.case import Case
from harness.computations import reference

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


# what a device call needs besides the case's tensors (cuDNN workspace, allocator rounding)
DEVICE_WORKSPACE = 256 * 2**20


_ITEMSIZE = {
    "float16": 2,
    "bfloat16": 2,
    "float32": 4,
    "float64": 8,
    "complex64": 8,
    "complex128": 16,
}


def device_estimate(case: Case) -> int:
    """Bytes a device implementation needs on its device: the case's tensors in its dtype, a
    padded input, the output and (for a backward pass) every gradient, and a workspace."""
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
    elements = 2 * (math.prod(case.input_shape) + padded + output + math.prod(case.weight_shape))
    return _ITEMSIZE.get(case.dtype, 8) * elements + DEVICE_WORKSPACE


def available_ram() -> int | None:
    """MemAvailable of /proc/meminfo in bytes, or None where there is none (not Linux)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def free_device_memory(device: str) -> int | None:
    """Free bytes on a torch device (torch.cuda.mem_get_info on CUDA), or None where torch does
    not say (MPS, XPU and others: those rows are not refused ahead of the call)."""
    if device.split(":")[0] != "cuda":
        return None
    import torch

    try:
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    except Exception:  # no such device after all: the call itself will say so
        return None


def memory_refusal(case: Case, implementations, max_memory: int) -> str | None:
    """Why the case is refused ahead of every call, or None when it fits: the host side (its
    arrays, the float64 baseline, every comparison) must fit in --max-memory and in the RAM
    available now, and each device implementation's tensors (a function's `device`, as
    harness.computations.devices sets) in its device's free memory."""
    needed = memory_estimate(case)
    if needed > max_memory:
        return (
            f"refused: the case needs about {size_text(needed)} for its tensors and "
            f"intermediate buffers, over the {size_text(max_memory)} budget; raise --max-memory "
            "or make the case smaller"
        )
    ram = available_ram()
    if ram is not None and needed > ram:
        return (
            f"refused: the case needs about {size_text(needed)} of host memory for its tensors "
            f"and intermediate buffers, over the {size_text(ram)} of RAM available now; free "
            "memory or make the case smaller"
        )
    for implementation in implementations:
        name, device = implementation.name, implementation.device or "cpu"
        free = free_device_memory(device)
        on_device = device_estimate(case)
        if free is not None and on_device > free:
            return (
                f"refused: {name} needs about {size_text(on_device)} on {device}, over its "
                f"{size_text(free)} of free memory; make the case smaller or free the device"
            )
    return None


def size_text(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
