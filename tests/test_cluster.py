"""`run` and `fuzz` on a Dask cluster (--cluster local:N, --scheduler ADDRESS): the same report
bytes and findings as one process, a killed worker's cases rerun, a plug-in the workers cannot
import gives error rows naming the cases, and without dask the options are a usage error."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from harness.cli import main  # noqa: E402
from tests.conftest import ROOT, run_cli  # noqa: E402

SUBSET = ("cases/seed.yaml", "cases/conv1d.yaml")


def _cli(*args, tmp_path, timeout: float = 300) -> subprocess.CompletedProcess:
    """python -m harness ARGS with tmp_path importable (for the plug-ins written there)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]))
    env["CONV_TEST_MARKER"] = str(tmp_path / "killed")
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_run_on_a_local_cluster_gives_the_bytes_of_one_process(tmp_path):
    """The whole built-in registry: the same report bytes on two cluster workers as in one
    process."""
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert run_cli("run", "--jobs", "1", "--out", one).returncode == 0
    result = run_cli("run", "--cluster", "local:2", "--out", two)
    assert result.returncode == 0, result.stderr
    assert one.read_bytes() == two.read_bytes()


def test_run_through_a_separately_started_scheduler_gives_the_same_bytes(tmp_path):
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert run_cli("run", "cases/seed.yaml", "--jobs", "1", "--out", one).returncode == 0
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://")
        result = run_cli("run", "cases/seed.yaml", "--scheduler", address, "--out", two)
    assert result.returncode == 0, result.stderr
    assert one.read_bytes() == two.read_bytes()


KILLER = '''
"""A correct conv2d that kills its dask worker process once (the first case it sees there)."""
import os

from examples.correct_numpy import conv2d as _conv2d


def conv2d(*args, **kwargs):
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return _conv2d(*args, **kwargs)
    marker = os.environ["CONV_TEST_MARKER"]
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return _conv2d(*args, **kwargs)
'''


def test_a_killed_worker_has_its_cases_rerun_and_the_report_is_the_same(tmp_path):
    (tmp_path / "killer_plugin.py").write_text(textwrap.dedent(KILLER))
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    common = ("run", "cases/seed.yaml", "--impl", "torch", "--impl", "killer_plugin:conv2d")
    first = _cli(*common, "--jobs", "1", "--out", one, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    result = _cli(*common, "--cluster", "local:2", "--out", two, tmp_path=tmp_path)
    assert (tmp_path / "killed").exists()  # a worker did die
    assert result.returncode == 0, result.stderr
    assert one.read_bytes() == two.read_bytes()


UNIMPORTABLE = '''
"""A plug-in that imports in the main process only (as one missing on the workers)."""
import multiprocessing

if multiprocessing.current_process().name != "MainProcess":
    raise ImportError("this plug-in is not installed on the workers")

from examples.correct_numpy import conv2d  # noqa: F401
'''


def test_a_plugin_the_workers_cannot_import_gives_error_rows_naming_the_cases(tmp_path):
    (tmp_path / "local_only.py").write_text(textwrap.dedent(UNIMPORTABLE))
    report = tmp_path / "r.csv"
    result = _cli(
        "run",
        "cases/seed.yaml",
        "--impl",
        "local_only:conv2d",
        "--cluster",
        "local:1",
        "--out",
        report,
        tmp_path=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    from harness.report import read_csv

    frame = read_csv(report)
    assert len(frame) > 0
    assert set(frame.status) == {"error"}
    for row in frame.itertuples():
        assert f"case {row.case_id} on a cluster worker" in row.message, row.message


def _findings(stdout: str) -> list[str]:
    return [
        line.split(" -> ")[0]
        for line in stdout.splitlines()
        if line.startswith("  ") and " on " in line
    ]


def test_fuzz_on_a_local_cluster_finds_the_same(tmp_path):
    common = ("fuzz", "--impl", "examples.bias_ignored:conv2d", "--rank", "2")
    common += ("--count", "50", "--seed", "3", "--no-variants")
    alone = run_cli(*common, "--save", tmp_path / "a")
    spread = run_cli(*common, "--cluster", "local:2", "--save", tmp_path / "b")
    assert alone.returncode == spread.returncode == 1, spread.stderr
    assert _findings(alone.stdout), alone.stdout
    assert _findings(alone.stdout) == _findings(spread.stdout)
    saved_a = sorted(p.read_text() for p in (tmp_path / "a").iterdir())
    saved_b = sorted(p.read_text() for p in (tmp_path / "b").iterdir())
    assert saved_a == saved_b


@pytest.mark.parametrize("option", [("--cluster", "local:2"), ("--scheduler", "tcp://h:8786")])
@pytest.mark.parametrize("command", ["run", "fuzz"])
def test_without_dask_the_options_are_a_one_line_usage_error(monkeypatch, capsys, command, option):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    assert main([command, *option]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "pip install 'conv-harness[cluster]'" in err


def test_bad_cluster_options_are_usage_errors(capsys):
    assert main(["run", "--cluster", "local:0"]) == 2
    assert main(["run", "--cluster", "local:1", "--scheduler", "tcp://h:1"]) == 2
    assert main(["fuzz", "--scheduler", "h:1"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 3


def test_dask_scheduler_and_two_dask_workers_started_apart_give_the_same_bytes(tmp_path):
    """The documented set-up: `dask scheduler` and two `dask worker` processes, reached with
    --scheduler; the report equals a one-process run's."""
    import json
    import time

    dask = str(Path(sys.executable).with_name("dask"))
    if not Path(dask).exists():
        pytest.skip("the dask command is not installed beside this Python")
    scheduler_file = tmp_path / "scheduler.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    scheduler = [dask, "scheduler", "--port", "0", "--dashboard-address", ":0"]
    processes = [subprocess.Popen([*scheduler, "--scheduler-file", str(scheduler_file)], **quiet)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    [dask, "worker", address, "--nthreads", "1", "--dashboard-address", ":0"],
                    **quiet,
                )
            )
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        one, two = tmp_path / "one.csv", tmp_path / "two.csv"
        assert run_cli("run", *SUBSET, "--jobs", "1", "--out", one).returncode == 0
        result = run_cli("run", *SUBSET, "--scheduler", address, "--out", two)
        assert result.returncode == 0, result.stderr
        assert one.read_bytes() == two.read_bytes()
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
