"""A module that defines no operation diagnose can probe: a conv4d and a helper."""


def conv4d(input, weight, bias=None):
    raise NotImplementedError


def helper(x):
    return x
