"""Names users type: the implementations the harness ships, the form of a plug-in's name, and
did-you-mean suggestions for a misspelt name.

Standard library only, so that the case loader can check the names in a case's `diverges`
without importing the implementations (`validate` and `list` stay instant). The names here are
the keys of harness.computations.registry.BUILTINS and harness.computations.peers.PEERS (a test
keeps them equal), and the torch@DEVICE family (`is_device_name`), whose members `in
IMPLEMENTATION_NAMES` accepts.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any

BUILTIN_NAMES = ("torch", "scipy", "reference")


PEER_NAMES = (
    "jax",
    "onnxruntime",
    "opencv",
    "scipy_ndimage",
    "torch_channels_last",
    "torch_no_mkldnn",
    "torch_cuda",
    "torch_cuda_tf32",
    "tensorflow",
    "openvino",
)


# torch on any device: `torch@cpu`, `torch@cuda`, `torch@cuda:1`, `torch@mps`, `torch@xpu`, ...,
# `+tf32` after a CUDA device allows TF32 (harness.computations.devices resolves them)
DEVICE_FAMILY = "torch@DEVICE"
_DEVICE_NAME = re.compile(r"^torch@[a-z][a-z0-9_]*(:[0-9]+)?(\+tf32)?$")


# the historical peer names of the CUDA device implementations
DEVICE_ALIASES = {"torch_cuda": "torch@cuda", "torch_cuda_tf32": "torch@cuda+tf32"}


def is_device_name(name: object) -> bool:
    """True for a name of the torch@DEVICE family (`torch@cuda:1+tf32`); says nothing about
    whether that device exists here."""
    return isinstance(name, str) and bool(_DEVICE_NAME.match(name))


class _Names(tuple):
    """The shipped names, whose membership test also accepts every torch@DEVICE name, so that a
    case's `diverges: {torch@cuda: precision}` validates."""

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or is_device_name(name)


IMPLEMENTATION_NAMES: tuple[str, ...] = _Names(BUILTIN_NAMES + PEER_NAMES)


PLUGIN_FORMS = "module:function or path.py:function"


_MODULE_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_PATH_SPEC = re.compile(r"^.+\.py:[A-Za-z_][\w.]*$")


_MODULE_ONLY = re.compile(r"^[A-Za-z_][\w.]*$|^.+\.py$")


def is_module_name(name: str) -> bool:
    """A plug-in module given without a function (`--impl mymod`): every operation it defines."""
    return bool(_MODULE_ONLY.match(name))


def is_plugin_name(name: str) -> bool:
    """True for a name of a user's implementation's form: `module:function` (an importable
    module) or `path/to/file.py:function`. Says nothing about whether it can be imported."""
    return bool(_MODULE_SPEC.match(name) or _PATH_SPEC.match(name))


def suggest(value: Any, allowed: Sequence[str]) -> str:
    """' (did you mean 'x'?)' for the closest of `allowed` to a misspelt `value`, or ''."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value.lower(), allowed, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def may_name_an_implementation(value: object) -> bool:
    """True for a word a case file may use for an implementation (its `diverges` keys): a shipped
    name, a torch@DEVICE name or a plug-in's form. Checks the words only; the resolver
    (harness.computations.registry) decides what a name is when a run uses it."""
    return isinstance(value, str) and (value in IMPLEMENTATION_NAMES or is_plugin_name(value))
