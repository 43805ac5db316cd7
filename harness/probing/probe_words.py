"""The words of diagnose's probes: what each probe property shows (`SHOWS`, for the probes built
from fields at ranks 1 and 3) and what torch does on it (`as_torch`, the words of a finding that
agrees), at every rank.
"""

from __future__ import annotations

AS_TORCH = {
    "orientation": "cross-correlation (as torch)",
    "orientation_nonsquare": "a non-square kernel read as given (as torch)",
    "depth": "sums the input channels of each group (as torch)",
    "groups": "output channel o reads group o // (C_out/groups) (as torch)",
    "same_padding": "'same' puts the extra pad pixel bottom/right (as torch)",
    "padding": "(pH, pW) applied to the right axes (as torch)",
    "padding_int": "an int pads every side (as torch)",
    "padding_valid": "'valid' pads nothing (as torch)",
    "same_dilated": "'same' pads for the dilated kernel (as torch)",
    "boundary_reflect": "reflect padding without repeating the edge (as torch)",
    "boundary_replicate": "replicate padding repeats the edge sample (as torch)",
    "boundary_circular": "circular padding wraps around (as torch)",
    "stride": "samples outputs at i*s (as torch)",
    "dilation": "taps d apart (as torch)",
    "bias": "adds the bias (as torch)",
    "precision": "agrees within tolerance on random data",
    "float32": "agrees within float32 tolerance",
    "float16": "agrees within float16 tolerance",
    "bfloat16": "agrees within bfloat16 tolerance",
    "complex": "multiplies complex values plainly, the kernel not conjugated (as torch)",
    "channels_odd": "reads every input and output channel, however many (as torch)",
    "groups_odd": "output channel o reads the C_in/groups channels of group o // (C_out/groups) "
    "(as torch)",
    "depthwise": "output channel o reads input channel o // multiplier (as torch)",
}

# what each property's probe shows, for ranks 1 and 3 (filled in from the probe's fields)
SHOWS = {
    "orientation": (
        "kernel_flip",
        "one channel, a {kernel} kernel unlike its {flips}: shows its orientation",
    ),
    "orientation_nonsquare": (
        "kernel_flip",
        "a {kernel} kernel: shows a reading with its axes swapped or mirrored",
    ),
    "depth": (
        "depth_sum",
        "{channels} input channels: shows whether they are summed (depth summation)",
    ),
    "groups": (
        "groups",
        "groups={groups} with three output channels per group: shows the channel-to-group mapping",
    ),
    "same_padding": (
        "padding",
        "padding 'same' with a {kernel} kernel: shows on which side the "
        "extra element goes along an axis of even kernel size",
    ),
    "padding": (
        "padding",
        "padding {padding}: shows that (before, after) per axis are applied "
        "to the right axes and sides",
    ),
    "padding_int": ("padding", "padding given as one int: shows it pads every side by that much"),
    "padding_valid": ("padding", "padding 'valid': shows that nothing is padded"),
    "same_dilated": (
        "padding",
        "padding 'same' with dilation {dilation}: shows that 'same' counts the dilated kernel",
    ),
    "boundary_reflect": (
        "boundary",
        "reflect padding of 2: shows what fills the padding (edge not repeated)",
    ),
    "boundary_replicate": (
        "boundary",
        "replicate padding of 2: shows what fills the padding (the edge sample)",
    ),
    "boundary_circular": (
        "boundary",
        "circular padding of 2: shows what fills the padding (the other side)",
    ),
    "stride": ("stride", "stride {stride}: shows where outputs are sampled (step and phase)"),
    "dilation": ("dilation", "dilation {dilation}: shows how far apart the kernel taps are"),
    "bias": ("bias", "a nonzero bias per output channel: shows that it is added"),
    "precision": (
        "precision",
        "random normal data, K = {K} products per output: shows rounding error",
    ),
    "float32": ("precision", "float32 inputs: shows that float32 is computed to float32 accuracy"),
    "float16": (
        "precision",
        "float16 inputs: shows that float16 is accumulated as torch does (in float32)",
    ),
    "bfloat16": ("precision", "bfloat16 inputs (float32 arrays holding bfloat16 values)"),
    "complex": (
        "conjugation",
        "complex128 input and {kernel} kernel (integer real and imaginary parts): shows whether "
        "the kernel is conjugated",
    ),
    "channels_odd": (
        "depth_sum",
        "{channels} input and {outputs} output channels (not multiples of 4 or 8): shows that "
        "no channel left over from a block of 4 or 8 is dropped",
    ),
    "groups_odd": (
        "groups",
        "groups={groups} with {per_group} input channels per group: shows the channel-to-group "
        "mapping at a channel count that is not a multiple of 4 or 8",
    ),
    "depthwise": (
        "groups",
        "depthwise (groups = C_in = {groups}) with {multiplier} output channels per input "
        "channel: shows which input channel each output reads",
    ),
}

# what torch does, where the words of AS_TORCH (2-D) do not fit another rank
AS_TORCH_ND = {
    1: {
        "orientation": "cross-correlation (as torch)",
        "same_padding": "'same' puts the extra pad element after (as torch)",
        "padding": "(before, after) padding on the right sides (as torch)",
        "padding_int": "an int pads both sides (as torch)",
    },
    3: {
        "orientation_nonsquare": "a non-cubic kernel read as given, axes D, H, W (as torch)",
        "same_padding": "'same' puts the extra pad element back/bottom/right (as torch)",
        "padding": "(pD, pH, pW) applied to the right axes (as torch)",
    },
}


def torch_words(name: str, rank: int) -> str:
    """What torch does on the probe of property `name` at spatial rank `rank`."""
    return AS_TORCH_ND.get(rank, {}).get(name, AS_TORCH[name])
