"""Deliberately unusable 'implementations' for the plug-in error tests."""

not_callable = 3


def wrong_signature(x):
    return x


def conv2d_returns_string(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return "not an array"
