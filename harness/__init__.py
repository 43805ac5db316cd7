"""conv-harness: cross-validate 1-D, 2-D and 3-D convolutions and name why they diverge.

Public API (DESIGN.md): `load_cases(paths) -> list[Case]`, `get_implementation(name) -> conv2d`,
`run(cases, implementations=None) -> pandas.DataFrame` (exactly the report's rows).
Attributes are imported on first use so that `import harness` stays light.
"""

from __future__ import annotations

__all__ = ["HarnessError", "__version__", "get_implementation", "load_cases", "run"]
__version__ = "0.1.0"

_LOCATIONS = {
    "load_cases": "harness.cases",
    "get_implementation": "harness.computations.registry",
    "run": "harness.api",
    "HarnessError": "harness.cases.errors",
}


def __getattr__(name: str):
    if name in _LOCATIONS:
        import importlib

        return getattr(importlib.import_module(_LOCATIONS[name]), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
