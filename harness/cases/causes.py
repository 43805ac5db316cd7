"""The cause vocabulary (CSV `cause`, JSON `causes`, pytest messages), in DESIGN.md's order.

Each cause names how an implementation, compared with torch's conv2d, gets the semantics wrong.
"""

CAUSES = {
    "kernel_flip": (
        "reads the kernel in another orientation (rotated 180 degrees, mirrored, transposed)"
    ),
    "depth_sum": "does not add up the input channels of a group with weight 1 each",
    "groups": "connects output channels to the wrong group of input channels",
    "padding": "pads a different amount or on a different side",
    "boundary": "fills the padding with other values (e.g. reflect done as symmetric)",
    "stride": "samples outputs at other positions or with another step",
    "dilation": "spaces the kernel taps differently (e.g. ignores dilation)",
    "bias": "omits or misapplies the bias",
    "precision": "differs beyond tolerance only by rounding-sized errors",
    "nan": "propagates NaN/Inf differently",
    "conjugation": "conjugates a complex kernel",
    "layout": (
        "gives other values when its tensors are laid out otherwise in memory (channels_last, a "
        "slice, strides) than for contiguous ones"
    ),
    "shape": "returns another output shape that no cause above explains",
    "unknown": "diverges and no cause above explains it",
}
