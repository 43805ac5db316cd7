"""Hypothesis strategies for valid conv2d cases, for property tests and the fuzzer.

    from hypothesis import given
    from harness.strategies import conv2d_cases

    @given(conv2d_cases())
    def test_my_conv(case_dict): ...

`conv2d_cases()` draws raw case dictionaries (the case file format: one entry of a file's
`cases:` list) that torch accepts: batch, channels and groups, non-square kernels, stride,
dilation, every padding form (int, pair, four sides, 'same', 'valid') and mode, bias or none,
every dtype, and data kinds (random normal and uniform, integers, ones, arange, impulse, and with
`nonfinite=True` the occasional NaN or Inf). Load one with `harness.cases.case_from_dict`.
Sizes stay small (a few channels, inputs of a few to a dozen pixels a side), so thousands run in
seconds and shrinking ends on readable cases.
"""

from __future__ import annotations

from hypothesis import strategies as st

from harness.cases import DTYPES, PADDING_MODES

DATA_KINDS = ("normal", "uniform", "integers", "ones", "arange", "impulse")


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


def _padding_forms(stride: tuple[int, int]):
    amounts = st.integers(0, 3)
    forms = [
        st.just("valid"),
        amounts,
        st.tuples(amounts, amounts).map(list),
        st.tuples(amounts, amounts, amounts, amounts).map(list),
    ]
    if stride == (1, 1):
        forms.append(st.just("same"))
    return st.one_of(*forms)


def _pads(padding, effective: tuple[int, int]) -> tuple[int, int, int, int]:
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        th, tw = effective[0] - 1, effective[1] - 1
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    return tuple(padding)


def _smallest_side(pad_before: int, pad_after: int, effective: int, mode: str) -> int:
    """The smallest input side torch accepts for this padding, mode and dilated kernel."""
    side = max(1, effective - pad_before - pad_after)
    if mode == "reflect":
        side = max(side, max(pad_before, pad_after) + 1)
    if mode == "circular":
        side = max(side, pad_before, pad_after)
    return side


@st.composite
def conv2d_cases(
    draw,
    dtypes=DTYPES,
    padding_modes=PADDING_MODES,
    max_batch: int = 2,
    max_channels: int = 4,
    max_groups: int = 3,
    max_kernel: int = 4,
    max_stride: int = 3,
    max_dilation: int = 3,
    nonfinite: bool = False,
    case_id: str = "drawn",
) -> dict:
    """A raw case dictionary that torch accepts."""
    groups = draw(st.integers(1, max_groups))
    per_group_in = draw(st.integers(1, max_channels))
    per_group_out = draw(st.integers(1, max_channels))
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    stride = (draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride)))
    dilation = (draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation)))
    effective = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    padding = draw(_padding_forms(stride))
    mode = draw(st.sampled_from(padding_modes))
    top, bottom, left, right = _pads(padding, effective)
    if mode != "zeros" and not any((top, bottom, left, right)):
        mode = "zeros"
    low_h = _smallest_side(top, bottom, effective[0], mode)
    low_w = _smallest_side(left, right, effective[1], mode)
    height = draw(st.integers(low_h, low_h + 6))
    width = draw(st.integers(low_w, low_w + 6))
    batch = draw(st.integers(1, max_batch))
    dtype = draw(st.sampled_from(dtypes))
    raw: dict = {
        "id": case_id,
        "input": draw(tensor_specs([batch, groups * per_group_in, height, width])),
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
    if nonfinite and draw(st.integers(0, 9)) == 0:
        raw["input"] = _with_special(draw, raw["input"])
    return raw


def _with_special(draw, spec: dict) -> list:
    """The tensor as a literal with one NaN or Inf (materialised the way the harness does)."""
    import numpy as np

    from harness.cases import TensorSpec
    from harness.data import generate

    values = generate(TensorSpec(**spec))
    flat = values.reshape(-1)
    flat[draw(st.integers(0, flat.size - 1))] = draw(
        st.sampled_from([float("nan"), float("inf"), float("-inf")])
    )
    return np.asarray(values).tolist()
