"""torch on any device: the `torch@DEVICE` implementation family (`torch@cpu`, `torch@cuda`,
`torch@cuda:1`, `torch@mps`, `torch@xpu`, ...), every operation of every rank on that device.

Each member runs the torch built-in's code (harness.computations.implementations.torch_conv and the
backward and transposed operations of harness.computations.operations) with its `device` keyword
bound, so `torch@cpu` is the built-in `torch` under another name (one intra-op thread, the same
report bytes).

Numerics are fixed and stated: on CUDA, TF32 is off (`torch@cuda`) or on (`torch@cuda+tf32`,
which declares `known_causes = ("precision",)`: float32 rows diverge by precision as cuDNN's
default does), cuDNN deterministic on and benchmark off, for convolutions and matmuls alike.
Every function of a non-CPU member carries a `numerics_note` ("torch@cuda: TF32 off, cuDNN
deterministic on, benchmark off") for the row's message, and a `device` string for the memory
guard (harness.computations.cost.memory_refusal). `torch_cuda` / `torch_cuda_tf32` are the
historical names of `torch@cuda` / `torch@cuda+tf32` (harness.cases.naming.DEVICE_ALIASES).

A device torch does not know (`torch@nonexistent`) is an ImplementationError; one it knows but
that is not here (`torch@cuda` without a GPU) is ImplementationUnavailable: a one-line usage
error in the CLI, a skip with the reason in the pytest matrix.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from harness.cases.errors import ImplementationError
from harness.cases.naming import DEVICE_ALIASES, is_device_name
from harness.computations.implementations import torch_conv
from harness.computations.operations import (
    KINDS,
    RANKS,
    operation_name,
    torch_conv_backward,
    torch_conv_transpose,
    torch_conv_transpose_backward,
)


class ImplementationUnavailable(ImplementationError):
    """An implementation whose package or device is not available here (harness.computations.peers
    re-exports it for the peers)."""


_BY_KIND: dict[str, Callable] = {
    "conv": torch_conv,
    "conv_backward": torch_conv_backward,
    "conv_transpose": torch_conv_transpose,
    "conv_transpose_backward": torch_conv_transpose_backward,
}

_SHOWN = {"cuda": "CUDA", "mps": "MPS (Apple GPU)", "xpu": "XPU (Intel GPU)"}


def canonical(name: str) -> str:
    """The torch@DEVICE name of `name` (an alias such as torch_cuda resolved), else `name`."""
    return DEVICE_ALIASES.get(name, name)


def is_device_implementation(name: str) -> bool:
    """True for a torch@DEVICE name or one of its aliases."""
    return is_device_name(canonical(name))


def parse(name: str) -> tuple[str, bool]:
    """(device, tf32) of a torch@DEVICE name: `torch@cuda:1+tf32` is ("cuda:1", True)."""
    device = canonical(name).removeprefix("torch@")
    tf32 = device.endswith("+tf32")
    return device.removesuffix("+tf32"), tf32


def check_device(name: str) -> str:
    """The torch device string of `name`, or ImplementationError (torch knows no such device, or
    TF32 asked off CUDA) / ImplementationUnavailable (the device is not here)."""
    import torch

    device, tf32 = parse(name)
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise ImplementationError(
            f"implementation '{name}': torch knows no device '{device}' ({type(error).__name__}); "
            "use torch@cpu, torch@cuda, torch@cuda:N, torch@mps, torch@xpu, ..."
        ) from None
    if tf32 and parsed.type != "cuda":
        raise ImplementationError(f"implementation '{name}': +tf32 is a CUDA setting only")
    if parsed.type == "cpu":
        return device
    module = getattr(torch, parsed.type, None)
    available = getattr(module, "is_available", None)
    if parsed.type == "mps":
        available = torch.backends.mps.is_available
    if available is None or not available():
        raise ImplementationUnavailable(
            f"implementation '{name}' needs a {_SHOWN.get(parsed.type, parsed.type)} device; "
            "torch finds none here"
        )
    count = getattr(module, "device_count", None)
    if parsed.index is not None and count is not None and parsed.index >= count():
        raise ImplementationUnavailable(
            f"implementation '{name}': no {parsed.type} device {parsed.index} here "
            f"({count()} found)"
        )
    return device


def numerics_note(name: str) -> str:
    """What a non-CPU member computes with, for its rows' messages; '' on CPU."""
    device, tf32 = parse(name)
    if device == "cpu":
        return ""
    shown = canonical(name).removesuffix("+tf32")
    if device.split(":")[0] == "cuda":
        return f"{shown}: TF32 {'on' if tf32 else 'off'}, cuDNN deterministic on, benchmark off"
    return f"{shown}: the {device} device's own kernels and rounding"


@contextlib.contextmanager
def numerics(device: str, tf32: bool):
    """The stated numerics for the duration: on CUDA, TF32 as asked for convolutions and
    matmuls, cuDNN deterministic, no benchmarking; nothing to set elsewhere."""
    if device.split(":")[0] != "cuda":
        yield
        return
    import torch

    matmul = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        with torch.backends.cudnn.flags(
            enabled=True, benchmark=False, deterministic=True, allow_tf32=tf32
        ):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul


def bound_to_device(function: Callable, name: str) -> Callable:
    """`function` with its device bound and its numerics set around each call."""
    device, tf32 = parse(name)

    def call(*args, **kwargs):
        with numerics(device, tf32):
            return function(*args, device=device, **kwargs)

    call.__dict__.update(function.__dict__)  # handles_padding_mode and the like
    call.__name__ = function.__name__
    call.__qualname__ = f"{function.__name__}@{device}"
    call.__doc__ = function.__doc__
    call.device = device  # type: ignore[attr-defined]
    call.numerics_note = numerics_note(name)  # type: ignore[attr-defined]
    if tf32:
        call.known_causes = ("precision",)  # type: ignore[attr-defined]
    return call


def device_conv(name: str) -> Callable:
    """The forward convolution (any rank) of torch@DEVICE `name` or an alias, unchecked."""
    return bound_to_device(torch_conv, name)


def device_implementation(name: str) -> Callable:
    """The forward convolution (any rank) of torch@DEVICE `name` or an alias; raises as
    check_device does when the device is unknown or not here."""
    check_device(name)
    return device_conv(name)


def device_operations(name: str) -> dict[str, Callable]:
    """Every operation of every rank (forward, backward, transposed and its backward) of
    torch@DEVICE `name` on its device."""
    check_device(name)
    by_kind = {kind: bound_to_device(function, name) for kind, function in _BY_KIND.items()}
    return {operation_name(kind, rank): by_kind[kind] for rank in RANKS for kind in KINDS}
