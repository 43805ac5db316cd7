"""The README's test command is the one CI runs and CONTRIBUTING names, and it is parallel by
default (pyproject's addopts), so a newcomer's `python -m pytest` is the fast, whole suite."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11


def _readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    (command,) = [b.strip() for b in blocks if "pytest" in b]
    return command


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert [line for line in ci if "pytest" in line] == [_readme_test_command()]


def test_contributing_names_the_readme_test_command_and_no_other():
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    commands = set(re.findall(r"python -m pytest[^`\n#]*", contributing))
    assert {c.strip() for c in commands} == {_readme_test_command()}


def test_the_test_command_is_parallel_and_leaves_out_slow_checks():
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    addopts = options["ini_options"]["addopts"]
    assert addopts[addopts.index("-n") + 1] == "auto"
    assert addopts[addopts.index("-m") + 1] == "not slow"
