"""Plug-ins that end their own process natively on one kind of input (and are torch-correct
otherwise), for the isolation tests. Each dies only where its condition holds, and never when
CONV_HARNESS_TEST_NO_CRASH is set, so a run of the same plug-in without the crash can be compared
row for row."""

import ctypes
import os
import signal

import numpy as np
import torch
import torch.nn.functional as F


def _dies(weight) -> bool:
    """The condition: a kernel 5 wide (W), unless crashes are switched off."""
    return np.asarray(weight).shape[-1] == 5 and not os.environ.get("CONV_HARNESS_TEST_NO_CRASH")


def _torch(input, weight, bias, stride, padding, dilation, groups):
    rank = np.asarray(weight).ndim - 2
    conv = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]
    b = None if bias is None else torch.from_numpy(np.asarray(bias))
    out = conv(
        torch.from_numpy(np.asarray(input)),
        torch.from_numpy(np.asarray(weight)),
        b,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
    )
    return out.numpy()


def segfault_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Reads address 0 (a real SIGSEGV) on a kernel 5 wide."""
    if _dies(weight):
        ctypes.string_at(0)
    return _torch(input, weight, bias, stride, padding, dilation, groups)


def abort_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """abort() (SIGABRT, as a failed C assertion) on a kernel 5 wide."""
    if _dies(weight):
        os.abort()
    return _torch(input, weight, bias, stride, padding, dilation, groups)


def exit_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """os._exit(3) (no Python cleanup) on a kernel 5 wide."""
    if _dies(weight):
        os._exit(3)
    return _torch(input, weight, bias, stride, padding, dilation, groups)


def killed_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """SIGKILL to itself, as the OOM killer sends, on a kernel 5 wide."""
    if _dies(weight):
        os.kill(os.getpid(), signal.SIGKILL)
    return _torch(input, weight, bias, stride, padding, dilation, groups)


def conv2d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    """A backward that segfaults on a kernel 5 wide (torch's gradients otherwise)."""
    if _dies(weight):
        ctypes.string_at(0)
    x = torch.from_numpy(np.asarray(input)).requires_grad_()
    w = torch.from_numpy(np.asarray(weight)).requires_grad_()
    b = None if bias is None else torch.from_numpy(np.asarray(bias)).requires_grad_()
    out = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    out.backward(torch.from_numpy(np.asarray(grad_output)))
    return x.grad.numpy(), w.grad.numpy(), None if b is None else b.grad.numpy()


def segfault_strided_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Reads address 0 when the stride is not 1 (for the fuzzer, which draws strides often)."""
    if stride != 1 and not os.environ.get("CONV_HARNESS_TEST_NO_CRASH"):
        ctypes.string_at(0)
    return _torch(input, weight, bias, stride, padding, dilation, groups)
