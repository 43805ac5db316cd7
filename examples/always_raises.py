"""Broken conv2d that raises RuntimeError("boom") on every call, whatever its arguments."""

__all__ = ["conv2d"]


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    raise RuntimeError("boom")
