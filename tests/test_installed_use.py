"""Use from any project: the built-in registry ships inside the package, the pytest plugin comes
with it (entry point pytest11) and contributes the matrix itself, and bad usage in pytest is one
error line before any test runs. The full round trip (a wheel in a fresh virtual environment) is
`.ci/installed-smoke`, run by CI."""

from __future__ import annotations

import csv
import importlib.metadata
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from harness.cases import builtin_registry, default_case_paths, load_cases
from harness.running.variants import planned_variants
from tests.conftest import ROOT

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
ENTRY_POINTS = PYPROJECT["project"]["entry-points"]["pytest11"]

MYMOD = '''
"""A correct conv2d: torch.nn.functional.conv2d on NumPy arrays."""

import torch
import torch.nn.functional as F


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x, w = torch.from_numpy(input), torch.from_numpy(weight)
    b = None if bias is None else torch.from_numpy(bias)
    return F.conv2d(x, w, b, stride, padding, dilation, groups).numpy()
'''

SMALL_CASES = """
cases:
  - id: mine_asymmetric
    input: [[1, 2, 0], [0, 1, 3], [2, 2, 1]]
    weight: [[1, 0], [2, 3]]
    bias: [0.5]
sweeps:
  - id: mine_grid
    base: {input: {shape: [1, 2, 6, 7], init: normal, seed: 3},
           weight: {shape: [2, 2, 3, 3], init: normal, seed: 4}}
    vary: {stride: [1, 2]}
"""


def _entry_point_installed() -> bool:
    return any(
        ep.value == ENTRY_POINTS["conv_harness"]
        for ep in importlib.metadata.entry_points(group="pytest11")
    )


@pytest.fixture(scope="module")
def elsewhere_env(tmp_path_factory) -> dict[str, str]:
    """The environment of a process in another project: this checkout's harness, and the plugin's
    pytest11 entry point. Where the installed metadata predates the entry point (an editable
    install made before it), a stand-in distribution on PYTHONPATH declares it, as an install
    would; pytest skips a second one of the same name."""
    paths = [str(ROOT)]
    if not _entry_point_installed():
        site = tmp_path_factory.mktemp("site")
        dist = site / "conv_harness_entry_point-0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: conv-harness-entry-point\nVersion: 0\n"
        )
        lines = "".join(f"{name} = {value}\n" for name, value in ENTRY_POINTS.items())
        (dist / "entry_points.txt").write_text("[pytest11]\n" + lines)
        paths.insert(0, str(site))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _run(args, cwd: Path, env: dict[str, str], timeout: float = 300):
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _project(tmp_path: Path) -> Path:
    """A user's project: mymod.py with a conv2d and an empty tests/ directory."""
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "mymod.py").write_text(MYMOD.lstrip())
    return project


def test_pyproject_ships_the_registry_and_the_plugin():
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert "harness.builtin_cases" in setuptools["packages"]
    assert setuptools["package-dir"]["harness.builtin_cases"] == "cases"
    assert set(setuptools["package-data"]["harness.builtin_cases"]) == {
        "*.yaml",
        "*.json",
        "findings/*.yaml",
    }
    assert ENTRY_POINTS == {"conv_harness": "harness.pytest_plugin"}
    assert builtin_registry().samefile(ROOT / "cases")


def test_wheel_holds_the_registry_and_the_entry_point(tmp_path):
    """The wheel carries cases/ as harness/builtin_cases and declares the pytest11 entry point.
    Built offline from a copy of the sources, with the setuptools installed here."""
    pytest.importorskip("setuptools")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for directory in ("harness", "cases"):
        shutil.copytree(
            ROOT / directory, source / directory, ignore=shutil.ignore_patterns("__pycache__")
        )
    build = _run(
        ["-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", "dist", "./source"],
        cwd=tmp_path,
        env=dict(os.environ),
    )
    if build.returncode != 0 and "bdist_wheel" in build.stderr:
        pytest.skip("this setuptools needs the wheel package to build wheels")
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (tmp_path / "dist").glob("conv_harness-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(
            archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt")
        )
    shipped = {n.removeprefix("harness/builtin_cases/") for n in names if "builtin_cases/" in n}
    cases = ROOT / "cases"  # its subfolders too (findings/): the registry a checkout runs
    expected = {
        p.relative_to(cases).as_posix()
        for p in cases.rglob("*")
        if p.suffix in (".yaml", ".json") and p.is_file()
    }
    assert shipped == expected | {"__init__.py"}
    assert "harness/pytest_plugin.py" in names
    assert "[pytest11]\nconv_harness = harness.pytest_plugin" in entry_points


def test_cli_uses_the_builtin_registry_where_there_is_no_cases_directory(tmp_path, elsewhere_env):
    listing = _run(["-m", "harness", "list"], cwd=tmp_path, env=elsewhere_env)
    assert listing.returncode == 0, listing.stderr
    assert "seed_stats_se_335321  [conv2d, float64" in listing.stdout
    run = _run(
        ["-m", "harness", "run", "-k", "seed_stats", "--no-variants", "--jobs", "1"],
        cwd=tmp_path,
        env=elsewhere_env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    with open(tmp_path / "reports" / "discrepancies.csv", newline="") as stream:
        sources = {row["source"] for row in csv.DictReader(stream)}
    (source,) = sources
    assert Path(source).samefile(builtin_registry() / "seed.yaml")  # the file the case came from


def test_default_paths_keep_the_local_cases_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert default_case_paths() == ["cases"]  # relative: the report's `source` stays cases/...
    assert default_case_paths(tmp_path) == [str(builtin_registry())]
    (tmp_path / "cases").mkdir()
    assert default_case_paths(tmp_path) == [str(tmp_path / "cases")]

    import harness.cases.loading
    from harness.cli import main

    monkeypatch.setattr(harness.cases.loading, "builtin_registry", lambda: None)
    monkeypatch.chdir(tmp_path / "cases")
    assert main(["list"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("conv-harness: error: no cases/ directory in the current directory")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--conv-impl", "nosuch:conv2d"], "implementation 'nosuch:conv2d': cannot import"),
        (["--conv-cases", "nowhere.yaml"], "nowhere.yaml: no such file or directory"),
        (["--conv-shard", "3/2"], "--conv-shard '3/2': I must be between 1 and N"),
    ],
)
def test_pytest_bad_usage_is_one_error_before_any_test(tmp_path, elsewhere_env, args, message):
    project = _project(tmp_path)
    result = _run(["-m", "pytest", "-p", "no:cacheprovider", *args], project, elsewhere_env)
    output = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 4, output
    assert len(output) == 1, output
    assert output[0].startswith("ERROR: conv-harness: ")
    assert message in output[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_pytest_bad_implementation_in_the_repository_is_one_error():
    result = _run(
        ["-m", "pytest", "-p", "no:cacheprovider", "--impl", "nosuch:conv2d"],
        ROOT,
        dict(os.environ),
    )
    assert result.returncode == 4, result.stdout[-2000:]
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("ERROR: conv-harness: implementation 'nosuch:conv2d'")
    assert "passed" not in result.stdout


def test_plugin_contributes_the_matrix_to_a_project_without_matrix_tests(tmp_path, elsewhere_env):
    project = _project(tmp_path)
    (project / "my_cases.yaml").write_text(SMALL_CASES)
    cases = load_cases([project / "my_cases.yaml"])
    expected = []
    for case in cases:
        expected.append(f"test_matrix[{case.id}-mymod:conv2d-as_is]")
        expected += [
            f"test_matrix[{case.id}-{v.implementation}-{v.name}]" for v in planned_variants(case)
        ]
    xml = tmp_path / "junit.xml"
    result = _run(
        [
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--conv-impl",
            "mymod:conv2d",
            "--conv-cases",
            "my_cases.yaml",
            f"--junitxml={xml}",
        ],
        project,
        elsewhere_env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"{len(expected)} passed" in result.stdout
    names = [case.get("name") for case in ET.parse(xml).getroot().iter("testcase")]
    assert names == expected
    assert "test_matrix[mine_asymmetric-mymod:conv2d-as_is]" in names
    assert "test_matrix[mine_grid_stride2-reference-flipped]" in names

    # without --conv-cases: the built-in registry; -k selects as in this repository
    listed = _run(
        [
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--co",
            "-q",
            "-k",
            "seed_stats_se_335321",
            "--conv-impl",
            "mymod:conv2d",
        ],
        project,
        elsewhere_env,
    )
    assert listed.returncode == 0, listed.stdout[-3000:] + listed.stderr[-3000:]
    assert "conv-harness::test_matrix[seed_stats_se_335321-mymod:conv2d-as_is]" in listed.stdout
    assert "conv-harness::test_matrix[seed_stats_se_335321-reference-flipped]" in listed.stdout


def test_plugin_does_nothing_unless_asked(tmp_path, elsewhere_env):
    project = _project(tmp_path)
    (project / "tests" / "test_own.py").write_text("def test_own():\n    pass\n")
    result = _run(["-m", "pytest", "-p", "no:cacheprovider"], project, elsewhere_env)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 passed" in result.stdout
    assert "conv-harness:" not in result.stdout  # no header: the matrix is not loaded
    helped = _run(["-m", "pytest", "-p", "no:cacheprovider", "--help"], project, elsewhere_env)
    assert "--conv-impl=NAME|module:function" in helped.stdout  # loaded all the same


def _collected(*args: str) -> list[str]:
    result = _run(
        ["-m", "pytest", "-p", "no:cacheprovider", "--co", "-q", *args], ROOT, dict(os.environ)
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return [line for line in result.stdout.splitlines() if "::test_matrix[" in line]


def test_unprefixed_aliases_still_work_inside_the_repository():
    matrix = "tests/test_matrix.py"
    impl = "examples.correct_numpy:conv2d"
    old = _collected(matrix, "--impl", impl, "--cases", "cases/seed.yaml", "--shard", "1/2")
    new = _collected(matrix, "--conv-impl", impl, "--conv-cases", "cases/seed.yaml")
    assert old
    assert set(old) < set(new)  # a shard is a share of the cases
    assert old == _collected(
        matrix, "--conv-impl", impl, "--conv-cases", "cases/seed.yaml", "--conv-shard", "1/2"
    )
    assert f"{matrix}::test_matrix[seed_stats_se_335321-{impl}-as_is]" in new
    assert not any(line.startswith("conv-harness::") for line in new)  # the file's tests serve
