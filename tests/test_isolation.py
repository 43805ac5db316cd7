"""A native crash of code under test loses nothing: `run` (any --jobs), the pytest matrix,
`diagnose`, `fuzz` and the Python API finish, with `error` rows (or an `error` probe) naming how
the worker process died, on the crashing case only.

The plug-ins (tests/data/crashing_impls.py) are torch-correct and end their process natively
(segfault, abort, os._exit, SIGKILL) only on a kernel 5 wide (or a stride other than 1), never
with CONV_HARNESS_TEST_NO_CRASH set: a run without the crash is the independent expectation for
every other row.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import textwrap

import pytest

from harness.cases import load_cases
from harness.running.isolation import CaseRunner
from harness.running.runner import RunOptions
from tests.conftest import ROOT

PLUGIN = "tests/data/crashing_impls.py"
CASES = """\
cases:
  - id: small_kernel
    input: {shape: [1, 2, 7, 7], init: normal, seed: 1}
    weight: {shape: [3, 2, 3, 3], init: normal, seed: 2}
    bias: {shape: [3], init: normal, seed: 3}
  - id: wide_kernel
    input: {shape: [1, 2, 7, 7], init: normal, seed: 1}
    weight: {shape: [3, 2, 3, 5], init: normal, seed: 2}
    bias: {shape: [3], init: normal, seed: 6}
    padding: 1
  - id: another_small
    input: {shape: [2, 4, 6, 6], init: normal, seed: 4}
    weight: {shape: [4, 2, 2, 3], init: normal, seed: 5}
    groups: 2
    stride: 2
"""


def _cli(*args, cwd=ROOT, crash=True, timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not crash:
        env["CONV_HARNESS_TEST_NO_CRASH"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture(scope="module")
def cases_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("isolation") / "cases.yaml"
    path.write_text(CASES)
    return path


@pytest.fixture(scope="module")
def uncrashed_report(cases_file):
    """The report of the same run in which nothing crashes."""
    out = cases_file.parent / "uncrashed.csv"
    done = _cli(
        "run", cases_file, "--impl", "torch", "--impl", f"{PLUGIN}:segfault_conv2d",
        "--out", out, crash=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out.read_text().splitlines()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_run_keeps_every_row_when_a_plugin_segfaults_on_one_case(
    cases_file, uncrashed_report, jobs
):
    out = cases_file.parent / f"crashed{jobs}.csv"
    done = _cli(
        "run", cases_file, "--impl", "torch", "--impl", f"{PLUGIN}:segfault_conv2d",
        "--jobs", jobs, "--out", out,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == len(uncrashed_report)
    changed = [k for k, (a, b) in enumerate(zip(lines, uncrashed_report, strict=True)) if a != b]
    assert len(changed) == 1  # every other row byte for byte as without the crash
    row = next(csv.DictReader(io.StringIO("\n".join([lines[0], lines[changed[0]]]))))
    assert (row["case_id"], row["implementation"], row["variant"]) == (
        "wide_kernel",
        f"{PLUGIN}:segfault_conv2d",
        "as_is",
    )
    assert row["status"] == "error"
    assert row["message"] == (
        f"the worker process died with SIGSEGV while running {PLUGIN}:segfault_conv2d "
        "on case wide_kernel"
    )


def _rows(records):
    return {(r.case_id, r.implementation, r.variant): r for r in records}


def test_each_way_of_dying_is_named_and_only_the_crashing_implementations_lose_rows(
    cases_file,
):
    names = ["torch", *(f"{PLUGIN}:{kind}_conv2d" for kind in ("segfault", "abort", "exit"))]
    names.append(f"{PLUGIN}:killed_conv2d")
    cases = load_cases([cases_file])
    with CaseRunner(names) as runner:
        rows = _rows(r for case in cases for r in runner.run_case(case, RunOptions()))
        again = runner.run_case(cases[0], RunOptions())  # a fresh worker after the deaths
    words = {
        "segfault": "died with SIGSEGV",
        "abort": "died with SIGABRT",
        "exit": "exited with status 3",
        "killed": "died with SIGKILL",
    }
    for kind, how in words.items():
        name = f"{PLUGIN}:{kind}_conv2d"
        row = rows["wide_kernel", name, "as_is"]
        assert row.status == "error"
        assert row.message == f"the worker process {how} while running {name} on case wide_kernel"
        for case_id in ("small_kernel", "another_small"):
            assert rows[case_id, name, "as_is"].status == "ok"
    assert rows["wide_kernel", "torch", "as_is"].status == "ok"
    variants = [r for key, r in rows.items() if key[0] == "wide_kernel" and key[2] != "as_is"]
    assert variants  # the variant rows of the crashing case are all there
    assert all(r.status in ("ok", "hidden") for r in variants)
    assert all(r.status == "ok" for r in again if r.implementation == names[1])


def test_a_backward_that_segfaults_gives_error_rows_for_its_gradients_only(cases_file):
    cases = load_cases([cases_file])
    options = RunOptions(backward=True, variants=False)
    with CaseRunner(["torch", PLUGIN]) as runner:
        rows = [r for case in cases for r in runner.run_case(case, options)]
    mine = [r for r in rows if r.implementation == PLUGIN]
    crashed = {(r.case_id, r.quantity) for r in mine if r.status == "error"}
    assert crashed == {("wide_kernel", q) for q in ("grad_input", "grad_weight", "grad_bias")}
    assert all("died with SIGSEGV" in r.message for r in mine if r.status == "error")
    # the module defines no forward conv2d: that row says so, crash or not
    forward = [r for r in mine if r.quantity == "output"]
    assert {r.status for r in forward} == {"unsupported"}
    gradients = [r for r in mine if r.quantity != "output" and r.case_id != "wide_kernel"]
    assert gradients
    assert {r.status for r in gradients} == {"ok"}
    assert {r.status for r in rows if r.implementation == "torch"} == {"ok"}


def test_a_crash_on_a_case_torch_rejects_is_an_error_not_a_refusal(write_cases):
    path = write_cases(
        """\
        cases:
          - id: kernel_too_large
            rejects: true
            input: {shape: [1, 1, 3, 3], init: normal}
            weight: {shape: [1, 1, 5, 5], init: normal}
        """
    )
    (case,) = load_cases([path])
    with CaseRunner(["torch", f"{PLUGIN}:segfault_conv2d"]) as runner:
        rows = _rows(runner.run_case(case, RunOptions()))
    row = rows["kernel_too_large", f"{PLUGIN}:segfault_conv2d", "as_is"]
    assert (row.status, row.observed) == ("error", "error")
    assert "died with SIGSEGV" in row.message
    assert rows["kernel_too_large", "torch", "as_is"].status == "rejected"


def test_the_pytest_matrix_fails_only_the_crashing_case(cases_file):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--conv-cases",
            str(cases_file),
            "--conv-impl",
            "torch",
            "--conv-impl",
            f"{ROOT / PLUGIN}:segfault_conv2d",
        ],
        cwd=cases_file.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 35 passed" in done.stdout
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1
    assert "wide_kernel" in failed[0]
    assert "segfault_conv2d" in failed[0]
    assert "the worker process died with SIGSEGV" in done.stdout


def test_diagnose_reports_the_probe_whose_call_crashed():
    done = _cli("diagnose", f"{PLUGIN}:segfault_strided_conv2d")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    stride = next(line for line in lines if line.startswith("stride:"))
    assert "error: the worker process died with SIGSEGV during this call" in stride
    # the probes at stride 1 ran as usual, in the workers that replaced the dead ones
    assert next(line for line in lines if line.startswith("orientation:")).endswith("(as torch)")
    assert next(line for line in lines if line.startswith("bias:")).endswith("(as torch)")


def test_diagnose_in_a_worker_says_what_it_says_in_process():
    isolated = _cli("diagnose", "examples.flipped_and_no_bias")
    in_process = _cli("diagnose", "examples.flipped_and_no_bias", "--in-process")
    assert isolated.returncode == in_process.returncode == 1
    assert isolated.stdout == in_process.stdout


def test_fuzz_records_a_crash_as_a_finding(tmp_path):
    done = _cli(
        "fuzz", "--impl", f"{PLUGIN}:segfault_strided_conv2d", "--rank", "2", "--count", "20",
        "--no-variants", "--save", tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error on" in done.stdout
    assert "the worker process died with SIGSEGV" in done.stdout
    (saved,) = tmp_path.glob("*.yaml")
    (case,) = load_cases([saved])
    assert case.stride != (1, 1)  # the shrunk case still shows it


def test_the_python_api_runs_from_a_script_without_a_main_guard(tmp_path, cases_file):
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            f"""\
            import harness
            from harness.cases import load_cases

            print("script ran")
            frame = harness.run(
                load_cases([{str(cases_file)!r}]),
                ["torch", {PLUGIN!r} + ":abort_conv2d"],
                variants=False,
            )
            print(sorted(frame[frame.status == "error"].case_id))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["script ran", "['wide_kernel']"]  # never re-run


def test_one_zygote_serves_every_run_of_a_process_with_each_callers_context(tmp_path, monkeypatch):
    """Runs in one process share a zygote (a run costs forks, not an interpreter start), yet each
    worker sees the caller's sys.path, directory and environment of that moment: a plug-in
    written after the first run, in a directory entered after it, imports; an environment
    variable set after it is read; a zygote that died is replaced."""
    import harness
    from harness.running import workers

    (case,) = [c for c in load_cases([ROOT / "cases" / "seed.yaml"]) if c.index == 0]
    first = harness.run([case], ["torch"], variants=False)
    zygote = workers.shared_zygote()
    plugin_dir = tmp_path / "later"
    plugin_dir.mkdir()
    (plugin_dir / "late_plugin.py").write_text(
        textwrap.dedent(
            """
            import os

            import torch
            import torch.nn.functional as F


            def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
                x, w = torch.from_numpy(input), torch.from_numpy(weight)
                b = None if bias is None else torch.from_numpy(bias)
                out = F.conv2d(x, w, b, stride, padding, dilation, groups).numpy()
                return out + 1.0 if os.environ.get("LATE_PLUGIN_SHIFT") else out
            """
        )
    )
    monkeypatch.chdir(plugin_dir)
    monkeypatch.setenv("LATE_PLUGIN_SHIFT", "1")
    rows = harness.run([case], ["torch", "late_plugin:conv2d"], variants=False)
    assert workers.shared_zygote() is zygote  # the same process forked this run's worker
    assert list(first["status"]) == ["ok"]
    statuses = dict(zip(rows["implementation"], rows["status"], strict=True))
    assert statuses == {"torch": "ok", "late_plugin:conv2d": "unexpected_divergence"}
    zygote.process.kill()
    zygote.process.wait()
    monkeypatch.delenv("LATE_PLUGIN_SHIFT")
    again = harness.run([case], ["late_plugin:conv2d"], variants=False)
    assert list(again["status"]) == ["ok"]
    assert workers.shared_zygote() is not zygote
