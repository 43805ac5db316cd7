"""A plug-in whose own dependency is missing: its import fails inside it, not for want of it."""

import nosuchdep_for_conv_harness_tests  # noqa: F401


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    raise AssertionError("never reached: the import above fails")
