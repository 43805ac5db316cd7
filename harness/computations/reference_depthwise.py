"""The reference's depthwise fast path and its thread pool: a depthwise convolution at stride 1
(one input channel per output channel) of any spatial rank, computed plane by plane (a plane: one
(image, channel) pair's spatial block) with one multiply and one add per kernel tap.

harness.computations.reference.conv calls `depthwise_planes` and owns the padding rules; this module
takes the padding as already resolved (the padding before each axis, and for the modes other than
zeros the input index each padded coordinate reads), so it imports nothing from the harness. It also
owns the thread count the reference uses (`available_cores`, OMP_NUM_THREADS).
"""

from __future__ import annotations

import os
import threading

import numpy as np

_POOLS: dict = {}


def depthwise_planes(x, w, out, dilation, befores, sources, block_bytes: int) -> None:
    """Depthwise (one input channel per output channel), stride 1, channels-first:
    out[n, c] = sum over taps t of w[c, 0, *t] times the padded plane shifted by t*d, written
    into `out` (N, C, *output size).

    Each plane is padded into a flat buffer of the padded extents it reads (o_a + (k_a-1)*d_a per
    axis); tap t is then the flat shift sum_a t_a*d_a*prod(extents after a) of it, one multiply
    and one add per tap on blocks of whole planes that stay in cache (about `block_bytes` of
    buffers). Positions past the output's extent on the non-leading axes are computed and
    dropped. `befores`: the padding before each axis; `sources`: None for zero padding, else per
    axis the input index read at each padded coordinate
    (harness.computations.reference.source_index).

    Planes are independent and NumPy releases the GIL inside its loops, so blocks run on a thread
    pool (a thread per available core, or OMP_NUM_THREADS); each plane is summed in the same order
    by one thread, so the result does not depend on the threads."""
    n, c, *sizes = x.shape
    kernel, outs = w.shape[2:], out.shape[2:]
    extents: list[int] = []  # the padded extents read, per axis
    steps: list[int] = []
    shifts = [0]
    plane = 1
    for o, k, d in zip(reversed(outs), reversed(kernel), reversed(dilation), strict=True):
        steps.insert(0, plane)  # the flat stride of this axis
        # taps in the weight's order (the first axis slowest): this axis outside the later ones
        shifts = [t * d * plane + shift for t in range(k) for shift in shifts]
        extents.insert(0, o + (k - 1) * d)
        plane *= extents[0]
    length = outs[0] * steps[0]  # flat positions computed per plane
    tail = shifts[-1] + length - plane  # the last tap reads this far past the padded plane
    planes = x.reshape(n * c, *sizes)
    weights = w.reshape(c, len(shifts))
    flat_out = out.reshape(n * c, *outs)
    kept = (slice(None), slice(None), *[slice(0, o) for o in outs[1:]])
    if sources is None:  # zeros: the input lands in one box of the padded plane
        destination: list = [slice(None)]
        origin: list = []
        for b, e, s in zip(befores, extents, sizes, strict=True):
            lo, hi = max(0, b), min(e, b + s)
            destination.append(slice(lo, hi))
            origin.append(slice(lo - b, hi - b))
        empty = any(part.stop <= part.start for part in destination[1:])
    per_block = max(1, block_bytes // (3 * plane * x.itemsize))

    local = threading.local()  # each thread's buffers, reused for its blocks

    def compute(p0: int) -> None:
        p1 = min(n * c, p0 + per_block)
        if not hasattr(local, "buffers"):  # zeroed once: later blocks only write the interior
            local.buffers = (
                np.zeros((per_block, plane + tail), dtype=x.dtype),
                np.empty((per_block, length), dtype=x.dtype),
                np.empty((per_block, length), dtype=x.dtype),
            )
        padded, acc, term = (buffer[: p1 - p0] for buffer in local.buffers)
        image = padded[:, :plane].reshape(p1 - p0, *extents)
        if sources is None:  # copy the input into the zero border (the part of it that is read)
            if not empty:
                image[tuple(destination)] = planes[tuple([slice(p0, p1), *origin])]
        else:
            block = planes[p0:p1]
            for axis, source in enumerate(sources):
                block = np.take(block, source, axis=axis + 1)
            image[...] = block
        w_block = weights[np.arange(p0, p1) % c]
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf inputs are legitimate
            for t, shift in enumerate(shifts):
                np.multiply(
                    padded[:, shift : shift + length],
                    w_block[:, t, None],
                    out=acc if t == 0 else term,
                )
                if t:
                    acc += term
        flat_out[p0:p1] = acc.reshape(p1 - p0, outs[0], *extents[1:])[kept]

    starts = list(range(0, n * c, per_block))
    threads = min(_threads(), len(starts))
    if threads > 1:  # this thread takes the first share of the blocks, the pool the others
        shares = [starts[k::threads] for k in range(threads)]
        pending = [_thread_pool(threads - 1).submit(_each, compute, share) for share in shares[1:]]
        _each(compute, shares[0])
        for future in pending:
            future.result()
    else:
        _each(compute, starts)


def _each(function, items) -> None:
    for item in items:
        function(item)


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _threads() -> int:
    """Threads for the depthwise blocks: OMP_NUM_THREADS when set (as in --jobs workers), else
    one per available core."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return available_cores()


def _thread_pool(threads: int):
    if threads not in _POOLS:
        import concurrent.futures

        _POOLS[threads] = concurrent.futures.ThreadPoolExecutor(
            threads, thread_name_prefix="reference"
        )
    return _POOLS[threads]
