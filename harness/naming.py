"""Names users type: the implementations the harness ships, the form of a plug-in's name, and
did-you-mean suggestions for a misspelt name.

Standard library only, so that the case loader can check the names in a case's `diverges`
without importing the implementations (`validate` and `list` stay instant). The names here are
the keys of harness.registry.BUILTINS and harness.peers.PEERS (a test keeps them equal).
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
)


IMPLEMENTATION_NAMES = BUILTIN_NAMES + PEER_NAMES


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
