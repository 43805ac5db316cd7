"""The built-in case registry, installed as the package `harness.builtin_cases` (package data).

This directory holds case files, not code; the file makes it a regular package, so that
`importlib.resources.files("harness.builtin_cases")` finds it in a wheel and in an editable install
alike. `conv-harness` and the pytest plugin use ./cases when it exists, else this registry.
"""
