"""Work-phase speed-up of `run --jobs 2` and `run --cluster local:2` over one process, next to the
machine's ceiling: two independent single-threaded processes doing the same work at once.

    PYTHONPATH=. python benchmarks/cluster_bench.py [REGISTRY]

Every run is a fresh `python -m harness run` with one BLAS/OpenMP thread per process. Start-up
(interpreter, imports, spawning workers or starting the cluster) is measured on a two-case
registry of tiny cases and subtracted, so the ratios are those of the work itself. All timings
come from this one run, side by side.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SINGLE = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TINY = "cases:\n" + "".join(
    f"  - {{id: tiny{k}, input: {{shape: [1, 1, 5, 5], init: normal, seed: {k}}},"
    f" weight: {{shape: [1, 1, 3, 3], init: normal, seed: 9}}}}\n"
    for k in (1, 2)
)


def _command(path: Path, out: Path, mode: list[str]) -> list[str]:
    return [sys.executable, "-m", "harness", "run", str(path), "--out", str(out), *mode]


def _timed(commands: list[list[str]]) -> float:
    """Seconds until every command (started together) has finished; each must exit 0."""
    env = {**os.environ, **SINGLE}
    start = time.perf_counter()
    processes = [
        subprocess.Popen(c, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for c in commands
    ]
    for process in processes:
        _, error = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"run failed: {error.decode(errors='replace')[-400:]}")
    return time.perf_counter() - start


def main() -> int:
    registry = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "benchmarks/resnet_registry.yaml"
    modes = {"one": ["--jobs", "1"], "jobs2": ["--jobs", "2"], "cluster2": ["--cluster", "local:2"]}
    with tempfile.TemporaryDirectory() as folder:
        tiny = Path(folder) / "tiny.yaml"
        tiny.write_text(TINY)
        out = Path(folder)
        startup = {m: _timed([_command(tiny, out / f"s{m}.csv", a)]) for m, a in modes.items()}
        total = {m: _timed([_command(registry, out / f"{m}.csv", a)]) for m, a in modes.items()}
        pair = _timed([_command(registry, out / f"pair{k}.csv", modes["one"]) for k in (1, 2)])
        same = {m: (out / f"{m}.csv").read_bytes() == (out / "one.csv").read_bytes() for m in modes}
    work = {m: total[m] - startup[m] for m in modes}
    ceiling = 2 * total["one"] / pair  # two processes' throughput over one's, same work each
    print(f"registry: {registry}")
    print(f"two independent single-threaded processes: {pair:.1f} s for twice the work of one")
    print(f"  ceiling (throughput of two over one): {ceiling:.2f}x")
    for mode in ("jobs2", "cluster2"):
        speedup = work["one"] / work[mode]
        print(
            f"{mode}: {total[mode]:.1f} s (start-up {startup[mode]:.1f} s); work-phase speed-up "
            f"{speedup:.2f}x = {100 * speedup / ceiling:.0f}% of the ceiling; same bytes as one "
            f"process: {same[mode]}"
        )
    print(f"one process: {total['one']:.1f} s (start-up {startup['one']:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
