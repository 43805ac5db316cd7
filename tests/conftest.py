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
