"""Shared helpers for the unit tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def write_cases(tmp_path):
    """Write YAML text (dedented) to a file under tmp_path and return its path."""

    def write(text: str, name: str = "cases.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m harness ARGS` in a subprocess (exit code, stdout, stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# Nested pytest runs (a test that starts `python -m pytest ...` in this checkout) run serially:
# pyproject's addopts ask for `-n auto`, and PYTEST_ADDOPTS comes after them.
os.environ["PYTEST_ADDOPTS"] = f"{os.environ.get('PYTEST_ADDOPTS', '')} -n 0".strip()

# Property tests: HYPOTHESIS_PROFILE=thorough runs every heavy property test at its full size
# (the sizes written in the tests); the default profile runs a fifth of that, at least 10
# examples, so the whole suite stays within a few minutes on two cores. Neither has a deadline:
# no test may fail because the machine is busy. CI=1 also fixes the examples (derandomize).
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")


def examples(thorough: int) -> int:
    """The max_examples of a heavy property test: `thorough` under the thorough profile, a fifth
    of it (at least 10) otherwise."""
    return thorough if PROFILE == "thorough" else max(10, thorough // 5)


settings.register_profile("default", deadline=None)
settings.register_profile("thorough", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") and PROFILE == "default" else PROFILE)


@pytest.hookimpl(tryfirst=True)  # before -m deselects the slow items
def pytest_collection_modifyitems(config, items):
    """The registry matrix (tests/test_matrix.py) runs by default on a representative part: the
    first case of every case file (each file is one operation, rank or theme), every
    implementation, variant and layout of those. The other cases' rows are `slow`; `conv-harness
    run` (CI runs it) checks the whole registry, and `-m "slow or not slow"` runs the whole matrix
    here. A run given --conv-cases, --conv-impl or another of the plug-in's options that ask for
    the matrix gets the whole of it."""
    from harness.pytest_plugin import requested

    if requested(config):
        return
    first_of_file: dict[str, str] = {}
    for item in items:
        row = getattr(item, "callspec", None) and item.callspec.params.get("matrix_row")
        if row is not None:
            first_of_file.setdefault(str(row[0].file), row[0].id)
    for item in items:
        row = getattr(item, "callspec", None) and item.callspec.params.get("matrix_row")
        if row is not None and first_of_file[str(row[0].file)] != row[0].id:
            item.add_marker(pytest.mark.slow)
