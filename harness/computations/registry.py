"""The resolver: implementations by name (the built-ins, the peers, torch@DEVICE, a user's
`module:function`), each turned once into an Implementation (harness.computations.implementation).

`resolve(name)` is what the edges call (the CLI, the pytest plugin, the Python API, a worker
process); `implementation(name, func)` wraps a callable handed in from Python.
`get_implementation(name)` resolves a name (a user's module importable from the current
directory or PYTHONPATH, or `path/to/file.py:function`) to a callable with conv2d's signature,
or raises ImplementationError with one line saying what to do. This is the only module that looks
at an implementation's name to learn what it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.cases.errors import ImplementationError
from harness.cases.naming import (
    DEVICE_FAMILY,
    PLUGIN_FORMS,
    is_device_name,
    is_module_name,
    is_plugin_name,
    suggest,
)
from harness.computations.devices import (
    bound_to_device,
    canonical,
    device_implementation,
    device_operations,
    is_device_implementation,
    parse,
)
from harness.computations.implementation import Implementation
from harness.computations.implementations import (
    CONV2D_PARAMETERS,
    reference_conv2d,
    scipy_conv2d,
    torch_conv2d,
)
from harness.computations.layout_operations import layout_operation
from harness.computations.operations import (
    BUILTIN_OPERATIONS,
    OPERATIONS,
    RANKS,
    autograd_backward,
    module_operations,
    operation_name,
    operation_of,
)
from harness.computations.peers import PEER_OPERATIONS, PEERS, get_peer

BUILTINS: dict[str, Callable] = {
    "torch": torch_conv2d,
    "scipy": scipy_conv2d,
    "reference": reference_conv2d,
}


DEFAULT_IMPLEMENTATIONS = ("torch", "scipy", "reference")


def is_plugin(name: str) -> bool:
    """True for a user's implementation, False for one shipped with the harness (a built-in or a
    peer): those are held to every contract, e.g. refusing what torch rejects."""
    return name not in BUILTINS and name not in PEERS and not is_device_implementation(name)


def check_signature(func: Callable, name: str) -> None:
    """Raise ImplementationError unless func can be called with conv2d's parameters."""
    if not callable(func):
        raise ImplementationError(f"implementation '{name}': {type(func).__name__} is not callable")
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return  # builtins without a signature: trust them
    try:
        signature.bind(*(object() for _ in range(7)))
    except TypeError:
        raise ImplementationError(
            f"implementation '{name}': signature {signature} cannot take conv2d's arguments "
            f"({', '.join(CONV2D_PARAMETERS)}); expected def conv2d(input, weight, bias=None, "
            "stride=1, padding=0, dilation=1, groups=1)"
        ) from None


def unknown_name_message(name: str) -> str:
    """One line for a name that is neither shipped with the harness nor a plug-in's form."""
    known = [*BUILTINS, *PEERS, DEVICE_FAMILY]
    return (
        f"implementation '{name}': not a known name{suggest(name, known)}; known: "
        f"{', '.join(known)}; or a plug-in as {PLUGIN_FORMS}"
    )


def get_implementation(name: str) -> Callable:
    """A built-in or peer by name, or a user's callable as `module:function` (an importable module
    or a .py path); `torch@DEVICE` (harness.computations.devices) and its aliases on their
    device."""
    if name in BUILTINS:
        return BUILTINS[name]
    if is_device_implementation(name):
        return device_implementation(name)
    if name.startswith("torch@"):
        raise ImplementationError(
            f"implementation '{name}': not a device name; write torch@DEVICE with a torch device "
            "type, an optional :index and +tf32 on CUDA (torch@cuda:1+tf32)"
        )
    if name in PEERS:
        return get_peer(name)
    if is_module_name(name) and not is_plugin_name(name):
        return _module_conv2d(name)
    if not is_plugin_name(name):
        raise ImplementationError(unknown_name_message(name))
    module_name, _, attribute = name.rpartition(":")
    module = _import(module_name, name)
    func = module
    for part in attribute.split("."):
        if not hasattr(func, part):
            raise ImplementationError(
                f"implementation '{name}': module '{module_name}' has no attribute '{attribute}'"
            )
        func = getattr(func, part)
    check_signature(func, name)
    return func


def _module_conv2d(name: str) -> Callable:
    """A plug-in module's conv2d, or a stand-in that is `unsupported` when it defines none (its
    other operations are still checked)."""
    try:
        module = _import(name, name)
    except ImplementationError as error:
        if "cannot import module" in str(error):
            raise ImplementationError(unknown_name_message(name)) from None
        raise
    operations = module_operations(module)
    if not operations:
        raise ImplementationError(
            f"implementation '{name}': module '{name}' defines none of {', '.join(OPERATIONS)}"
        )
    conv2d = operations.get("conv2d")
    if conv2d is None:

        def conv2d(*args, **kwargs):
            raise NotImplementedError(f"{name} defines no conv2d")

    check_signature(conv2d, name)
    return conv2d


FORWARD_OPERATIONS = tuple(operation_name("conv", rank) for rank in RANKS)


def operations_of(name: str, func: Callable) -> dict[str, Callable]:
    """Every operation implementation `name` defines (harness.computations.operations.OPERATIONS): a
    built-in's and a peer's for every rank (`func` serves conv1d/conv2d/conv3d; a peer's others from
    harness.computations.peers.PEER_OPERATIONS), a torch@DEVICE's (and its
    aliases') every operation on its device, a module's by the names it
    defines, a `module:function` as its name says (conv2d otherwise). A forward convolution that
    takes tensors (`accepts_tensors`) gets its backward from autograd."""
    if name in BUILTIN_OPERATIONS:
        return {**BUILTIN_OPERATIONS[name], "conv2d": func}
    if is_device_name(canonical(name)):
        return {**device_operations(name), "conv2d": func}
    operations: dict[str, Callable] = {}
    if name in PEERS:
        operations = {**dict.fromkeys(FORWARD_OPERATIONS, func), **PEER_OPERATIONS.get(name, {})}
    elif is_plugin_name(name):
        operations = {operation_of(name.rpartition(":")[2].split(".")[-1]): func}
    elif is_module_name(name):
        try:
            operations = module_operations(_import(name, name))
        except ImplementationError:  # a name the caller chose, not an importable module
            operations = {}
    if not operations:
        operations = {operation_of(getattr(func, "__name__", "conv2d")): func}
    for rank in RANKS:
        forward = operations.get(operation_name("conv", rank))
        backward = operation_name("conv_backward", rank)
        if (
            forward is not None
            and backward not in operations
            and getattr(forward, "accepts_tensors", False)
        ):
            operations[backward] = autograd_backward(forward, backward)
    return operations


# what a peer needs installed: the extra of conv-harness that brings its package
_PEER_EXTRAS = {"tensorflow": "conv-harness[tensorflow]", "openvino": "conv-harness[openvino]"}


def implementation(name: str, func: Callable, isolated: bool = False) -> Implementation:
    """`func` (resolved from `name`, or a callable handed in from Python under that name) as an
    Implementation: its operations as operations_of finds them, and for each the function taking
    laid-out tensors (harness.computations.layout_operations), bound to its device for
    torch@DEVICE."""
    operations = operations_of(name, func)
    device = parse(name)[0] if is_device_implementation(name) else getattr(func, "device", None)
    bind = (lambda f: bound_to_device(f, name)) if is_device_implementation(name) else None
    tensors = {}
    for op, function in operations.items():
        laid_out = layout_operation(function, op, bind)
        if laid_out is not None:
            tensors[op] = laid_out
    shipped = not is_plugin(name)
    requires = (_PEER_EXTRAS.get(name, "conv-harness[peers]"),) if name in PEERS else ()
    return Implementation(name, operations, tensors, shipped, device, isolated, requires)


def resolve(name: str, isolated: bool = False) -> Implementation:
    """The Implementation a user's name stands for; ImplementationError (one line) if none."""
    return implementation(name, get_implementation(name), isolated)


def resolve_known(name: str) -> Implementation | None:
    """resolve(name); None for a name that is neither shipped with the harness nor a plug-in's
    (no module imports by it), which the caller may read otherwise (explain's --versus: a
    mutation). A known name that cannot be used here still raises, saying why."""
    try:
        return resolve(name)
    except ImplementationError as error:
        if str(error) == unknown_name_message(name):
            return None
        raise


def shipped_names() -> list[str]:
    """The names of the implementations shipped with the harness: built-ins, then peers."""
    return [*BUILTINS, *PEERS]


def resolve_implementations(
    names: Sequence[str] | None, isolated: bool = False
) -> list[Implementation]:
    """The implementations of a run, each once, in the order given (the defaults when none)."""
    names = list(names) if names else list(DEFAULT_IMPLEMENTATIONS)
    return [resolve(name, isolated) for name in dict.fromkeys(names)]


def listed_names(names: Sequence[str] | None) -> list[str]:
    """The names a run of `names` has rows for, in order, without resolving them."""
    return list(dict.fromkeys(names or DEFAULT_IMPLEMENTATIONS))


def _import(module_name: str, name: str):
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise ImplementationError(f"implementation '{name}': no such file {module_name}")
        if (path.parent / "__init__.py").is_file():
            return _import_from_package(path, module_name, name)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ImplementationError(f"implementation '{name}': cannot load {module_name}")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:  # the user's module failed while importing
            raise ImplementationError(
                f"implementation '{name}': importing {module_name} failed: {_why(error)}"
            ) from None
        return module
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(module_name)
    except Exception as error:
        if isinstance(error, ModuleNotFoundError) and not _missing_dependency(error, module_name):
            raise ImplementationError(
                f"implementation '{name}': cannot import module '{module_name}' ({error}); check "
                "the name and that it is importable from the current directory or PYTHONPATH"
            ) from None
        raise ImplementationError(
            f"implementation '{name}': importing module '{module_name}' failed: {_why(error)}"
        ) from None


def _import_from_package(path: Path, module_name: str, name: str):
    """A `.py` file inside a package (folders with `__init__.py`) is imported under its dotted
    name, with the folder above the outermost package put on sys.path, so that its relative
    imports (`from . import helpers`) work. A module of the package's name found elsewhere
    first (the standard library's, an installed one) is an error naming both."""
    path = path.resolve()
    root = path.parent
    while (root / "__init__.py").is_file() and root.parent != root:
        root = root.parent
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    dotted = ".".join(parts)
    if str(root) not in sys.path:  # last: the package shadows no module found before it
        sys.path.append(str(root))
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        spec = None
    folders = [Path(f).resolve() for f in (spec.submodule_search_locations or ())] if spec else []
    if root / parts[0] not in folders:
        where = (spec.origin if spec else None) or "elsewhere"
        raise _shadowed(name, module_name, dotted, parts[0], where)
    try:
        module = importlib.import_module(dotted)
    except Exception as error:
        raise ImplementationError(
            f"implementation '{name}': importing {module_name} (as module '{dotted}') failed: "
            f"{_why(error)}"
        ) from None
    found = getattr(module, "__file__", None)
    if found is None or Path(found).resolve() != path:
        raise _shadowed(name, module_name, dotted, dotted, found or "elsewhere")
    return module


def _shadowed(name: str, module_name: str, dotted: str, taken: str, where) -> ImplementationError:
    return ImplementationError(
        f"implementation '{name}': {module_name} is module '{dotted}' of its package, but "
        f"'{taken}' is found at {where} first; rename the package"
    )


def _missing_dependency(error: ModuleNotFoundError, module_name: str) -> bool:
    """True when the module that is not found is not `module_name` or a package above it, but
    something the user's module imports itself."""
    missing = error.name
    if not missing:
        return False
    return missing != module_name and not module_name.startswith(missing + ".")


def _why(error: Exception) -> str:
    if isinstance(error, ModuleNotFoundError) and error.name:
        return f"it needs '{error.name}', which is not installed"
    return f"{type(error).__name__}: {error}"
