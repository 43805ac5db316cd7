"""cases/findings: library behaviour found by fuzzing the peers, kept as cases. Each divergence is
declared (`run cases/findings` exits 0), reappears as soon as its declaration is removed, and
has its line in docs/findings.md; each case names its library's version."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from harness.cases import load_cases
from harness.cases.errors import HarnessError
from harness.computations.devices import ImplementationUnavailable
from harness.computations.registry import resolve_implementations
from harness.running.runner import RunOptions, run_case
from tests.conftest import ROOT, run_cli

FINDINGS = ROOT / "cases" / "findings"
CASES = load_cases([FINDINGS])
DECLARED = [(case, name) for case in CASES for name in sorted(case.diverges)]


def _available(name: str):
    try:
        return resolve_implementations([name])
    except (ImplementationUnavailable, HarnessError) as error:
        pytest.skip(f"{name} is not available here: {error}")


def _as_is(case, implementations, name):
    rows = run_case(case, implementations, RunOptions(variants=False))
    (row,) = [r for r in rows if r.implementation == name and r.variant == "as_is"]
    return row


@pytest.mark.parametrize(
    ("case", "name"), DECLARED, ids=[f"{case.id}-{name}" for case, name in DECLARED]
)
def test_a_finding_is_declared_and_reappears_without_its_declaration(case, name):
    implementations = _available(name)
    declared = _as_is(case, implementations, name)
    assert (declared.status, declared.observed) == ("ok", "diverge"), declared.message
    assert declared.cause == case.diverges[name]
    bare = replace(case, diverges={k: v for k, v in case.diverges.items() if k != name})
    undeclared = _as_is(bare, implementations, name)
    assert undeclared.status != "ok", undeclared.message
    assert (undeclared.status, undeclared.cause) == ("unexpected_divergence", case.diverges[name])


def test_every_finding_declares_a_divergence_and_names_its_library_version():
    assert CASES
    for case in CASES:
        assert case.diverges, case.id
        assert "finding" in case.tags, case.id
        assert re.search(r"\b\d+\.\d+(\.\d+)?\b", case.description), case.id


def test_docs_list_every_finding_case_once():
    text = (ROOT / "docs" / "findings.md").read_text()
    listed = re.findall(r"`(finding_[a-z0-9_]+)`", text)
    assert sorted(set(listed)) == sorted(case.id for case in CASES)


def test_run_on_the_findings_exits_0_with_every_peer_they_name(tmp_path):
    names = sorted({name for _, name in DECLARED})
    usable = []
    for name in names:
        try:
            resolve_implementations([name])
        except (ImplementationUnavailable, HarnessError):
            continue
        usable.append(name)
    impls = [arg for name in ["torch", "scipy", "reference", *usable] for arg in ("--impl", name)]
    result = run_cli("run", FINDINGS, *impls, "--out", tmp_path / "r.csv")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_the_default_registry_includes_the_findings():
    ids = {case.id for case in load_cases()}
    assert {case.id for case in CASES} <= ids
