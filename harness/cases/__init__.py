"""The case: what to compute and on which arrays.

In: YAML case files (or dicts). Out: validated `Case` values and their arrays (`data.materialize`).
Also the words every layer shares: errors, implementation names, the cause vocabulary, memory
layouts.
"""

from __future__ import annotations


def __getattr__(name: str):
    """`from harness.cases import load_cases, case_from_dict, ...`: the loader's names
    (harness.cases.loading), imported on first use so that the package stays light."""
    if name.startswith("__"):
        raise AttributeError(name)
    import importlib

    loading = importlib.import_module("harness.cases.loading")
    try:
        return getattr(loading, name)
    except AttributeError:
        raise AttributeError(f"module 'harness.cases' has no attribute {name!r}") from None
