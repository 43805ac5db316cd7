"""Implementations that misbehave in one way each, for the fault-handling tests."""

import time

import numpy as np

from harness.computations.reference import conv2d as _reference


def correct(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _reference(input, weight, bias, stride, padding, dilation, groups)


def raises(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    raise RuntimeError("boom")


def wrong_shape(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return correct(input, weight, bias, stride, padding, dilation, groups)[..., :-1]


def wrong_dtype(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return correct(input, weight, bias, stride, padding, dilation, groups).astype(np.float16)


def returns_nan(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    out = correct(input, weight, bias, stride, padding, dilation, groups)
    out[0, 0, 0, 0] = np.nan
    return out


def returns_none(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return None


def mutates_input(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    out = correct(input, weight, bias, stride, padding, dilation, groups)
    input *= 2
    return out


def sleeps(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    time.sleep(1000)


def spins(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    while True:
        pass
