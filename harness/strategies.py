"""Hypothesis strategies for valid convolution cases of every spatial rank, for property tests and
the fuzzer.

    from hypothesis import given
    from harness.strategies import conv_cases, conv2d_cases

    @given(conv_cases())            # conv1d, conv2d and conv3d configurations
    def test_my_conv(case_dict): ...

    @given(conv2d_cases())          # conv2d only (the same as conv_cases(ranks=(2,)))
    def test_my_conv2d(case_dict): ...

`conv_cases(ranks=(1, 2, 3))` draws raw case dictionaries (the case file format: one entry of a
file's `cases:` list, `op` naming the rank) that torch accepts: batch (now and then an empty
one, N = 0), channels and groups, kernels with a different size per axis, stride, dilation, every
padding form of the rank (an int, one value per axis, (before, after) per axis, 'same',
'valid') and every padding mode, bias or none, every dtype, and data kinds (random normal and
uniform, integers, ones, arange, impulse, and with `nonfinite=True` the occasional NaN or Inf).
Load one with `harness.cases.case_from_dict`.
Sizes stay small (a few channels; signals of up to about twenty elements, images of about a dozen
pixels a side, volumes of a few voxels a side), so thousands run in seconds and shrinking ends on
readable cases. `conv1d_cases`, `conv2d_cases` and `conv3d_cases` draw one rank (no rank is drawn
then, so a one-rank strategy's examples do not depend on the other ranks).
`conv_transpose_cases` draws conv_transpose1d/2d/3d cases the same way (padding an int or one
value per axis, zeros mode, output_padding below max(stride, dilation) per axis). With
`grad_output=True` either also draws a grad_output of the output's shape, last, for the gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from harness.cases.case import flat_padding, forward_op, resolve_padding, transposed_op
from harness.cases.loading import DTYPES, PADDING_MODES, case_from_dict

DATA_KINDS = ("normal", "uniform", "integers", "ones", "arange", "impulse")
RANKS = (1, 2, 3)

# How much larger than the smallest size torch accepts an input's spatial axis may be drawn, and
# the largest kernel and dilation per axis, by rank: a 3-D case multiplies three axes, so each
# stays short.
EXTRA_SIZE = {1: 12, 2: 6, 3: 3}
MAX_KERNEL = {1: 6, 2: 4, 3: 3}
MAX_DILATION = {1: 3, 2: 3, 3: 2}


@st.composite
def tensor_specs(draw, shape: list[int], kinds=DATA_KINDS) -> dict:
    kind = draw(st.sampled_from(kinds))
    seed = draw(st.integers(0, 2**16))
    spec: dict = {"shape": shape, "init": kind}
    if kind in ("normal", "uniform", "integers"):
        spec["seed"] = seed
    if kind == "arange":  # small values, so float16 holds them exactly
        return {"shape": shape, "init": "integers", "low": 0, "high": 8, "seed": seed}
    return spec


def _padding_forms(rank: int):
    """Every padding form of the rank, each about as likely: 'valid', an int, one value per axis,
    (before, after) per axis and 'same' (which then takes stride 1 on every axis, as torch
    requires: drawn after the stride instead, 'same' would be rare in 3-D)."""
    amounts = st.integers(0, 3)
    return st.one_of(
        st.just("valid"),
        amounts,
        st.tuples(*[amounts] * rank).map(list),
        st.tuples(*[amounts] * (2 * rank)).map(list),
        st.just("same"),
    )


def _smallest_side(pad_before: int, pad_after: int, effective: int, mode: str) -> int:
    """The smallest input side torch accepts for this padding, mode and dilated kernel."""
    side = max(1, effective - pad_before - pad_after)
    if mode == "reflect":
        side = max(side, max(pad_before, pad_after) + 1)
    if mode == "circular":
        side = max(side, pad_before, pad_after)
    return side


def _per_axis(draw, rank: int, low: int, high: int) -> tuple[int, ...]:
    return tuple(draw(st.integers(low, high)) for _ in range(rank))


@st.composite
def conv_cases(
    draw,
    ranks: Sequence[int] = RANKS,
    dtypes=DTYPES,
    padding_modes=PADDING_MODES,
    max_batch: int = 2,
    max_channels: int = 4,
    max_groups: int = 3,
    max_kernel: int | None = None,
    max_stride: int = 3,
    max_dilation: int | None = None,
    nonfinite: bool = False,
    case_id: str = "drawn",
    empty_batches: bool = True,
    grad_output: bool = False,
) -> dict:
    """A raw case dictionary of one of `ranks` (conv1d, conv2d, conv3d) that torch accepts.

    `max_kernel` and `max_dilation` default to each rank's own (MAX_KERNEL, MAX_DILATION); the
    rank is drawn first (shrinking towards the first of `ranks`), and not drawn at all when only
    one is asked for. With `empty_batches` (the default) about one case in sixteen has an empty
    batch (N = 0), which torch accepts: an empty output, zero grad_weight and grad_bias. With
    `grad_output`, a grad_output of the output's shape is drawn last (the draws before it are
    those of the same seed without it), so a saved case carries the one its gradients had."""
    ranks = tuple(ranks)
    if not ranks or any(r not in RANKS for r in ranks):
        raise ValueError(f"ranks must be drawn from {RANKS}, got {ranks}")
    rank = ranks[0] if len(ranks) == 1 else draw(st.sampled_from(ranks))
    kernel_limit = MAX_KERNEL[rank] if max_kernel is None else max_kernel
    dilation_limit = MAX_DILATION[rank] if max_dilation is None else max_dilation
    groups = draw(st.integers(1, max_groups))
    per_group_in = draw(st.integers(1, max_channels))
    per_group_out = draw(st.integers(1, max_channels))
    kernel = _per_axis(draw, rank, 1, kernel_limit)
    padding = draw(_padding_forms(rank))
    stride = (1,) * rank if padding == "same" else _per_axis(draw, rank, 1, max_stride)
    dilation = _per_axis(draw, rank, 1, dilation_limit)
    effective = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel, strict=True))
    mode = draw(st.sampled_from(padding_modes))
    pads = resolve_padding(flat_padding(padding, rank), effective)
    if mode != "zeros" and not any(pads):
        mode = "zeros"
    sizes = []
    for axis in range(rank):
        low = _smallest_side(pads[2 * axis], pads[2 * axis + 1], effective[axis], mode)
        sizes.append(draw(st.integers(low, low + EXTRA_SIZE[rank])))
    # an empty batch (N = 0) about one time in sixteen; shrinking leads away from it
    batch = 0 if empty_batches and draw(st.integers(0, 15)) == 15 else None
    batch = draw(st.integers(1, max_batch)) if batch is None else batch
    dtype = draw(st.sampled_from(dtypes))
    raw: dict = {
        "id": case_id,
        "op": forward_op(rank),
        "input": draw(tensor_specs([batch, groups * per_group_in, *sizes])),
        "weight": draw(tensor_specs([groups * per_group_out, per_group_in, *kernel])),
        "stride": list(stride),
        "padding": padding,
        "dilation": list(dilation),
        "groups": groups,
        "padding_mode": mode,
        "dtype": dtype,
    }
    if draw(st.booleans()):
        raw["bias"] = draw(
            tensor_specs([groups * per_group_out], ("normal", "uniform", "integers"))
        )
    if nonfinite and batch and draw(st.integers(0, 9)) == 0:
        raw["input"] = _with_special(draw, raw["input"])
    if grad_output:
        raw["grad_output"] = _grad_output_spec(draw, raw)
    return raw


def _grad_output_spec(draw, raw: dict) -> dict:
    """A grad_output of the raw case's output shape (a normal, uniform or integer spec)."""
    shape = list(case_from_dict(raw).output_shape)
    return draw(tensor_specs(shape, ("normal", "uniform", "integers")))


# The largest input side over the smallest one torch accepts, per rank, for a transposed case:
# its output grows with the stride, so the inputs stay shorter than the forward's.
TRANSPOSED_EXTRA_SIZE = {1: 8, 2: 4, 3: 2}


@st.composite
def conv_transpose_cases(
    draw,
    ranks: Sequence[int] = RANKS,
    dtypes=DTYPES,
    max_batch: int = 2,
    max_channels: int = 4,
    max_groups: int = 3,
    max_kernel: int | None = None,
    max_stride: int = 3,
    max_dilation: int | None = None,
    nonfinite: bool = False,
    case_id: str = "drawn",
    empty_batches: bool = True,
    grad_output: bool = False,
) -> dict:
    """A raw conv_transpose1d/2d/3d case dictionary that torch accepts: weight (C_in,
    C_out/groups, *k), stride, dilation, padding (an int or one value per axis: torch takes no
    other form, and only zeros padding), output_padding below max(stride, dilation) on each axis,
    groups, bias or none, every dtype and data kind, an empty batch about one time in sixteen,
    inputs long enough that the output has at least one element per axis. The rank is drawn as
    in `conv_cases`; `grad_output` likewise."""
    ranks = tuple(ranks)
    if not ranks or any(r not in RANKS for r in ranks):
        raise ValueError(f"ranks must be drawn from {RANKS}, got {ranks}")
    rank = ranks[0] if len(ranks) == 1 else draw(st.sampled_from(ranks))
    kernel_limit = MAX_KERNEL[rank] if max_kernel is None else max_kernel
    dilation_limit = MAX_DILATION[rank] if max_dilation is None else max_dilation
    groups = draw(st.integers(1, max_groups))
    per_group_in = draw(st.integers(1, max_channels))
    per_group_out = draw(st.integers(1, max_channels))
    kernel = _per_axis(draw, rank, 1, kernel_limit)
    stride = _per_axis(draw, rank, 1, max_stride)
    dilation = _per_axis(draw, rank, 1, dilation_limit)
    output_padding = [
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    ]
    amounts = st.integers(0, 3)
    padding = draw(st.one_of(amounts, st.tuples(*[amounts] * rank).map(list)))
    pads = (padding,) * rank if isinstance(padding, int) else tuple(padding)
    sizes = []
    for axis in range(rank):
        # the output side (L - 1) * s - 2p + d * (k - 1) + output_padding + 1 must be >= 1
        short = 2 * pads[axis] - dilation[axis] * (kernel[axis] - 1) - output_padding[axis]
        low = 1 + max(0, -(-short // stride[axis]))
        sizes.append(draw(st.integers(low, low + TRANSPOSED_EXTRA_SIZE[rank])))
    batch = 0 if empty_batches and draw(st.integers(0, 15)) == 15 else None
    batch = draw(st.integers(1, max_batch)) if batch is None else batch
    raw: dict = {
        "id": case_id,
        "op": transposed_op(rank),
        "input": draw(tensor_specs([batch, groups * per_group_in, *sizes])),
        "weight": draw(tensor_specs([groups * per_group_in, per_group_out, *kernel])),
        "stride": list(stride),
        "padding": padding,
        "output_padding": output_padding,
        "dilation": list(dilation),
        "groups": groups,
        "padding_mode": "zeros",
        "dtype": draw(st.sampled_from(dtypes)),
    }
    if draw(st.booleans()):
        raw["bias"] = draw(
            tensor_specs([groups * per_group_out], ("normal", "uniform", "integers"))
        )
    if nonfinite and batch and draw(st.integers(0, 9)) == 0:
        raw["input"] = _with_special(draw, raw["input"])
    if grad_output:
        raw["grad_output"] = _grad_output_spec(draw, raw)
    return raw


def conv1d_cases(**options) -> st.SearchStrategy[dict]:
    """conv1d configurations: input (N, C, L), weight (C_out, C_in/groups, k)."""
    return conv_cases(ranks=(1,), **options)


def conv2d_cases(**options) -> st.SearchStrategy[dict]:
    """conv2d configurations: input (N, C, H, W), weight (C_out, C_in/groups, kH, kW)."""
    return conv_cases(ranks=(2,), **options)


def conv3d_cases(**options) -> st.SearchStrategy[dict]:
    """conv3d configurations: input (N, C, D, H, W), weight (C_out, C_in/groups, kD, kH, kW)."""
    return conv_cases(ranks=(3,), **options)


def _with_special(draw, spec: dict) -> list:
    """The tensor as a literal with one NaN or Inf (materialised the way the harness does)."""
    import numpy as np

    from harness.cases.data import generate
    from harness.cases.loading import TensorSpec

    values = generate(TensorSpec(**spec))
    flat = values.reshape(-1)
    flat[draw(st.integers(0, flat.size - 1))] = draw(
        st.sampled_from([float("nan"), float("inf"), float("-inf")])
    )
    return np.asarray(values).tolist()
