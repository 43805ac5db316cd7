"""Case registry: loading YAML case files (harness.cases.yaml_io), validating every case and
expanding sweeps, into Cases in registry order (files sorted, cases in file order).

Every problem is reported as one line naming the file, the case id and the field, and all problems
in a file are reported together (`CaseFileError`). The names other modules and users know from
here (Case, TensorSpec, torch_rejection, DTYPES, ...) are re-exported from where they live. This
module imports neither torch, scipy nor pandas, so `conv-harness validate` and `list` answer
instantly.

Without paths, the registry is ./cases where that directory exists, else the built-in registry
installed with the package (`harness.builtin_cases`, package data made from the repository's
cases/), so an installed conv-harness works from any directory.
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from harness.cases.case import Case, extended_shape, resolve_padding
from harness.cases.errors import CaseFileError
from harness.cases.rules import consistency_problems, torch_rejection
from harness.cases.schema import (
    CASE_FIELD_NAMES,
    DTYPES,
    INITS,
    PADDING_MODES,
    TENSOR_FIELDS,
    TensorSpec,
    case_json_schema,
    literal_shape,
    suggest,
)
from harness.cases.sweeps import expand_sweep
from harness.cases.validation import (
    FileProblems,
    case_where,
    check_case,
    short,
    to_case,
    validate_case_dict,
)
from harness.cases.yaml_io import read_yaml

__all__ = [
    "CASE_FIELD_NAMES",
    "DTYPES",
    "INITS",
    "PADDING_MODES",
    "TENSOR_FIELDS",
    "Case",
    "CaseFileError",
    "TensorSpec",
    "builtin_registry",
    "case_from_dict",
    "case_json_schema",
    "consistency_problems",
    "default_case_paths",
    "discover",
    "extended_shape",
    "literal_shape",
    "load_cases",
    "resolve_padding",
    "torch_rejection",
]

CASE_SUFFIXES = (".yaml", ".yml")


def _load_file(path: str, seen: dict[str, str]) -> tuple[list[Case], list[str]]:
    """A file's cases and problems; `seen` maps each id met so far to its file, so that a
    duplicate id is reported where it appears, along with the file's other problems."""
    problems = FileProblems(path)

    def claim(case_id, where: str) -> None:
        if not isinstance(case_id, str) or not case_id:
            return
        if case_id in seen:
            problems.add(
                where,
                "id",
                f"duplicate id, also defined in {seen[case_id]}; ids must be unique across files",
            )
        else:
            seen[case_id] = path

    document = read_yaml(path)
    if document is None:
        return [], [f"{path}: holds no cases or sweeps (the file is empty)"]
    if not isinstance(document, dict):
        return [], [f"{path}: expected a mapping with 'cases' and/or 'sweeps' at the top level"]
    top_keys = ("defaults", "cases", "sweeps")
    for key in document:
        if key not in top_keys:
            problems.add(
                None,
                str(key),
                "unknown top-level key"
                + suggest(str(key), top_keys)
                + "; allowed: defaults, cases, sweeps",
            )
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict):
        problems.add(None, "defaults", "expected a mapping of case fields")
        defaults = {}
    for key in defaults:
        if key not in CASE_FIELD_NAMES:
            problems.add(
                "defaults", str(key), "not a case field" + suggest(str(key), CASE_FIELD_NAMES)
            )
    defaults = {k: v for k, v in defaults.items() if k in CASE_FIELD_NAMES}

    cases: list[Case] = []
    raw_cases = document.get("cases") or []
    if not isinstance(raw_cases, list):
        problems.add(None, "cases", "expected a list of cases")
        raw_cases = []
    for index, raw in enumerate(raw_cases):
        where = case_where(raw, index)
        if not isinstance(raw, dict):
            problems.add(where, None, f"expected a mapping, got {short(raw)}")
            continue
        claim(raw.get("id"), where)
        merged = {**defaults, **raw}
        model = validate_case_dict(merged, where, problems)
        if model is not None:
            checked = check_case(
                to_case(model, path, raw, where, problems), where, problems, in_sweep=False
            )
            if checked is not None:
                cases.append(checked)

    raw_sweeps = document.get("sweeps") or []
    if not isinstance(raw_sweeps, list):
        problems.add(None, "sweeps", "expected a list of sweeps")
        raw_sweeps = []
    for index, raw in enumerate(raw_sweeps):
        expanded = expand_sweep(raw, index, defaults, path, problems)
        for case in expanded:
            claim(case.id, f"case '{case.id}'")
        cases.extend(expanded)

    if not document.get("cases") and not document.get("sweeps") and not problems.lines:
        problems.add(None, None, "holds no cases or sweeps")
    return cases, problems.lines


def case_from_dict(raw: dict, source: str = "<generated>") -> Case:
    """Validate one case mapping (file format, with id) into a Case; CaseFileError if invalid."""
    problems = FileProblems(source)
    where = case_where(raw, 0)
    model = validate_case_dict(dict(raw), where, problems)
    case = None
    if model is not None:
        case = check_case(
            to_case(model, source, dict(raw), where, problems), where, problems, in_sweep=False
        )
    if problems.lines or case is None:
        raise CaseFileError(problems.lines or [f"{source}: {where}: invalid"])
    return case


BUILTIN_PACKAGE = "harness.builtin_cases"


def builtin_registry() -> Path | None:
    """The directory of the registry shipped with the package, or None if this installation has
    none. Installed (wheel or editable), it is the package data `harness.builtin_cases`; run from
    a source checkout on PYTHONPATH (or an editable install made before that package existed),
    it is the checkout's cases/ beside the package."""
    try:
        root = importlib.resources.files(BUILTIN_PACKAGE)
    except ModuleNotFoundError:
        root = None
    if isinstance(root, Path) and root.is_dir():
        return root
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "cases" / "__init__.py").is_file():
        return checkout / "cases"
    return None


def default_case_paths(base: str | os.PathLike | None = None) -> list[str]:
    """The registry used when no paths are given: `cases` in `base` (default: the current
    directory, giving the relative path `cases` as before) when it is a directory, else the
    built-in registry. CaseFileError when there is neither."""
    local = Path("cases") if base is None else Path(base) / "cases"
    if local.is_dir():
        return [str(local)]
    builtin = builtin_registry()
    if builtin is None:
        where = "the current directory" if base is None else str(base)
        raise CaseFileError(
            f"no cases/ directory in {where} and no built-in registry in this installation of "
            "conv-harness; name case files or directories"
        )
    return [str(builtin)]


def discover(paths: Sequence[str | os.PathLike] | None) -> list[str]:
    """Case files under the given files/directories (default: ./cases, else the built-in
    registry), in a stable order."""
    if not paths:
        paths = default_case_paths()
    files: list[str] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in CASE_SUFFIXES and p.is_file())
            if not found:
                raise CaseFileError(f"{entry}: directory holds no .yaml case files")
            files.extend(str(p) for p in found)
        elif path.is_file():
            files.append(str(path))
        else:
            raise CaseFileError(f"{entry}: no such file or directory")
    return list(dict.fromkeys(files))


def load_cases(paths: Sequence[str | os.PathLike] | str | os.PathLike | None = None) -> list[Case]:
    """Load, validate and expand every case under `paths` (files or directories; default ./cases,
    else the built-in registry).

    Raises CaseFileError listing every problem (one line each) if any file is invalid.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    problems: list[str] = []
    cases: list[Case] = []
    seen: dict[str, str] = {}  # id -> the file that defines it first
    for path in discover(paths):
        try:
            file_cases, file_problems = _load_file(path, seen)
        except CaseFileError as error:
            problems.extend(error.problems)
            continue
        problems.extend(file_problems)
        cases.extend(file_cases)
    if problems:
        raise CaseFileError(problems)
    return [replace(case, index=i) for i, case in enumerate(cases)]
