"""What running implementations in worker processes costs (harness.running.isolation), measured side
by side in one run: the same work in this process and isolated, alternately, medians compared.

    python benchmarks/isolation_cost.py [--repeat 3] [--backward]

Rows: the built-in registry through torch, scipy and the reference with one job (what `run
--jobs 1` does against `run --in-process`), the same with a plug-in added, a fuzz of 300
configurations, and `diagnose examples.flipped_and_no_bias`. The first isolated call of each
includes starting the zygote (an interpreter that imports torch) and its first worker. Not part
of the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.cases import discover, load_cases  # noqa: E402
from harness.running.executor import iter_records  # noqa: E402
from harness.running.runner import RunOptions  # noqa: E402


def _seconds(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _run(cases, names, options, isolate: bool):
    from harness.computations.registry import resolve_implementations

    implementations = resolve_implementations(names, isolated=isolate)
    return lambda: list(iter_records(cases, implementations, options, jobs=1, isolate=isolate))


def _fuzz(isolate: bool):
    def work():
        import contextlib

        from harness.computations.registry import resolve_implementations
        from harness.fuzz import fuzz
        from harness.running.isolation import isolated

        with isolated(None) if isolate else contextlib.nullcontext():
            fuzz(resolve_implementations(None), count=300, seed=1)

    return work


def _diagnose(isolate: bool):
    def work():
        from harness.computations.registry import resolve
        from harness.probing.diagnose import diagnose
        from harness.probing.diagnose_isolated import isolated_diagnose

        implementation = resolve("examples.flipped_and_no_bias", isolated=isolate)
        isolated_diagnose(implementation) if isolate else diagnose(implementation)

    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backward", action="store_true", help="the registry with its gradients")
    args = parser.parse_args()
    cases = [c for c in load_cases(discover([str(ROOT / "cases")])) if c.skip_reason is None]
    options = RunOptions(backward=args.backward)
    plugin = ["torch", "scipy", "reference", "examples.correct_numpy:conv2d"]
    rows = {
        f"registry ({len(cases)} cases), built-ins": (
            _run(cases, None, options, False),
            _run(cases, None, options, True),
        ),
        "registry, built-ins and a NumPy plug-in": (
            _run(cases, plugin, options, False),
            _run(cases, plugin, options, True),
        ),
        "fuzz --count 300 --seed 1": (_fuzz(False), _fuzz(True)),
        "diagnose examples.flipped_and_no_bias": (_diagnose(False), _diagnose(True)),
    }
    print(f"{'work':45s} {'in process':>11s} {'isolated':>9s} {'ratio':>6s}")
    for label, (here, isolated) in rows.items():
        plain, inside = [], []
        for _ in range(args.repeat):  # alternately, so that a noisy machine affects both
            plain.append(_seconds(here))
            inside.append(_seconds(isolated))
        a, b = statistics.median(plain), statistics.median(inside)
        print(f"{label:45s} {a:10.2f}s {b:8.2f}s {b / a:6.2f}")


if __name__ == "__main__":
    main()
