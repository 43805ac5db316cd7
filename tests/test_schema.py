"""The committed JSON Schema is current and accepts every built-in case file."""

from __future__ import annotations

import json

import pytest
import yaml

from harness.cases import case_json_schema
from harness.cases.yaml_io import CaseLoader
from tests.conftest import ROOT, run_cli

jsonschema = pytest.importorskip("jsonschema")
SCHEMA_FILE = ROOT / "cases" / "case.schema.json"


def test_committed_schema_is_current():
    result = run_cli("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout) == json.loads(SCHEMA_FILE.read_text()), (
        "cases/case.schema.json is stale: run `conv-harness schema > cases/case.schema.json`"
    )
    assert result.stdout == SCHEMA_FILE.read_text()


@pytest.mark.parametrize("path", sorted((ROOT / "cases").glob("*.yaml")), ids=lambda p: p.name)
def test_builtin_case_files_validate(path):
    validator = jsonschema.Draft202012Validator(case_json_schema())
    document = yaml.load(path.read_text(), Loader=CaseLoader)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors
    assert path.read_text().startswith("# yaml-language-server: $schema=case.schema.json")


@pytest.mark.parametrize(
    "name", ["unknown_key", "padding_typo", "unsupported_dtype", "zero_stride"]
)
def test_schema_rejects_bad_files_too(name):
    validator = jsonschema.Draft202012Validator(case_json_schema())
    document = yaml.load(
        (ROOT / "tests" / "bad_cases" / f"{name}.yaml").read_text(), Loader=CaseLoader
    )
    assert list(validator.iter_errors(document))
