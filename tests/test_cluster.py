"""`run` and `fuzz` on a Dask cluster (--cluster local:N, --scheduler ADDRESS): the same report
bytes and findings as one process, a killed worker's cases rerun, a plug-in the workers cannot
import gives error rows naming the cases, and without dask the options are a usage error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
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


@pytest.mark.parametrize(
    "paths",
    [
        pytest.param((*SUBSET, "cases/transposed.yaml", "cases/complex.yaml"), id="four_files"),
        pytest.param((), id="whole_registry", marks=pytest.mark.slow),
    ],
)
def test_run_on_a_local_cluster_gives_the_bytes_of_one_process(tmp_path, paths):
    """The same report bytes on two cluster workers as in one process: forward, transposed,
    complex and rank-1 cases by default, the whole built-in registry as a slow check."""
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert run_cli("run", *paths, "--jobs", "1", "--out", one).returncode == 0
    result = run_cli("run", *paths, "--cluster", "local:2", "--out", two)
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
    from harness.reporting.report import read_csv

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


@pytest.mark.slow  # its own dask processes, over 10 s of CPU; the tests above check --cluster
def test_fuzz_on_a_local_cluster_finds_the_same(tmp_path):
    common = ("fuzz", "--impl", "examples.bias_ignored:conv2d", "--count", "200", "--seed", "3")
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


@pytest.mark.slow  # its own dask processes, over 10 s of CPU; the tests above check --cluster
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
    (tmp_path / "dask").mkdir()  # the README's worker config: glibc's malloc defaults kept
    (tmp_path / "dask" / "conv-harness.yaml").write_text(
        "distributed:\n  nanny:\n    pre-spawn-environ:\n      MALLOC_TRIM_THRESHOLD_: null\n"
    )
    env["DASK_CONFIG"] = str(tmp_path / "dask")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    scheduler = [dask, "scheduler", "--port", "0", "--dashboard-address", ":0"]
    processes = [subprocess.Popen([*scheduler, "--scheduler-file", str(scheduler_file)], **quiet)]
    try:
        deadline = time.monotonic() + 300
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
        with distributed.Client(address, timeout=300) as client:
            client.wait_for_workers(2, timeout=300)
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


SLEEPER = """
import os
import time

from examples.correct_numpy import conv2d as _conv2d


def conv2d(input, weight, *args, **kwargs):
    marker = os.path.join(os.environ["CONV_TEST_FOLDER"], f"size{input.shape[-1]}")
    if input.shape[-1] == 9:  # the third case: wait until interrupted
        open(marker, "w").close()
        time.sleep(1000)
    result = _conv2d(input, weight, *args, **kwargs)
    open(marker, "w").close()
    return result
"""

THREE_CASES = "cases:\n" + "".join(
    f"  - {{id: c{k}, input: {{shape: [1, 1, {size}, {size}], init: normal, seed: {k}}},"
    f" weight: {{shape: [1, 1, 3, 3], init: normal, seed: 7}}}}\n"
    for k, size in ((1, 5), (2, 6), (3, 9))
)


def test_ctrl_c_cancels_the_cluster_work_and_keeps_the_rows_so_far(tmp_path):
    """Ctrl-C in the terminal (SIGINT to the whole process group, the workers included) while a
    worker is busy: exit 130 within seconds, no traceback, the report untouched and the finished
    cases' rows in REPORT.interrupted.csv."""
    (tmp_path / "sleeper.py").write_text(SLEEPER)
    registry = tmp_path / "three.yaml"
    registry.write_text(THREE_CASES)
    out = tmp_path / "report.csv"
    out.write_text("previous report\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]))
    env["CONV_TEST_FOLDER"] = str(tmp_path)
    command = [sys.executable, "-m", "harness", "run", str(registry), "--impl", "sleeper:conv2d"]
    process = subprocess.Popen(
        [*command, "--cluster", "local:2", "--no-variants", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    markers = [tmp_path / f"size{size}" for size in (5, 6, 9)]
    try:
        deadline = time.monotonic() + 300
        while not all(m.exists() for m in markers) and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
        time.sleep(1)  # c1's and c2's rows reach the harness; c3 is running
        started = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=300)
        stopped = time.monotonic() - started
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    # not the 1000 s the busy worker would need; the limit only catches a wait for it
    assert stopped < 300, stopped
    assert "Traceback" not in stderr, stderr
    assert "interrupted" in stderr.splitlines()[-1]
    assert out.read_text() == "previous report\n"
    rows = (tmp_path / "report.interrupted.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["c1", "c2"]


def test_local_workers_keep_glibc_malloc_defaults_and_our_environment_is_restored(monkeypatch):
    """dask's nanny would start workers with MALLOC_TRIM_THRESHOLD_ (large arrays then fault in
    page by page) and writes its pre-spawn variables into the starting process's environment."""
    from harness.running.cluster import Cluster

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with Cluster(local_workers=1).executor() as pool:
        seen = pool.submit(os.environ.get, "MALLOC_TRIM_THRESHOLD_").result()
        threads = pool.submit(os.environ.get, "OMP_NUM_THREADS").result()
    assert seen is None
    assert threads == "1"  # one BLAS/OpenMP thread per single-threaded worker
    assert "OMP_NUM_THREADS" not in os.environ
