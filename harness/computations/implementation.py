"""What an implementation is, worked out once from its name and then passed down the data flow.

The resolver (harness.computations.registry.resolve) turns a name a user typed (`torch`, `jax`,
`torch@cuda`, `mymod`, `path/to/file.py:conv2d`) or a callable handed in from Python into an
`Implementation`: the name shown in reports, every operation it defines by kind and rank
(harness.computations.operations), the functions that take its tensors in other memory layouts,
whether it is held to every contract (shipped with the harness) or is a user's plug-in, the device
it runs on, whether its calls run in a worker process, and what it needs installed. Every module
below the resolver reads these fields; none looks at the name to learn them again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace


@dataclass(frozen=True, eq=False)
class Implementation:
    """An implementation under test, resolved."""

    name: str  # as shown in reports (the `implementation` column)
    # operation name (conv1d ... conv_transpose3d_backward) -> the function taking NumPy arrays
    operations: Mapping[str, Callable] = field(default_factory=dict)
    # operation name -> the function taking torch tensors in any memory layout
    # (harness.cases.layouts); absent for an operation that takes NumPy arrays only
    tensor_operations: Mapping[str, Callable] = field(default_factory=dict)
    shipped: bool = False  # a built-in, a peer or torch@DEVICE: held to every contract
    device: str | None = None  # the torch device its tensors live on (torch@DEVICE), else None
    isolated: bool = False  # its calls run in a worker process (harness.running.isolation)
    requires: tuple[str, ...] = ()  # what it needs installed (the peer's extra), if anything

    def operation(self, op: str) -> Callable | None:
        """Its function for operation `op`, None where it defines none."""
        return self.operations.get(op)

    def tensor_operation(self, op: str) -> Callable | None:
        """Its function for `op` that takes laid-out tensors, None where it takes NumPy only."""
        return self.tensor_operations.get(op)

    def known_causes(self, op: str) -> tuple[str, ...]:
        """The causes its operation `op` is documented to diverge by (`known_causes`)."""
        return tuple(getattr(self.operations.get(op), "known_causes", ()))

    def with_operations(self, operations: Mapping[str, Callable]) -> Implementation:
        """The same implementation with every operation replaced (a crash's stand-in): none
        of the replacements takes tensors."""
        return replace(self, operations=dict(operations), tensor_operations={})
