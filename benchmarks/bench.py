"""Benchmarks: implementations against torch, harness overhead, memory, parallel runs, start-up.

    python benchmarks/bench.py [--json FILE|-] [--repeat 5] [--skip-scipy] [--skip-jobs]

Every ratio is measured side by side in this one run: torch and the implementation are timed
alternately (after a warm-up) and the medians compared, so a noisy machine affects both. OpenMP
threads are told to sleep when idle (OMP_WAIT_POLICY=PASSIVE unless set), so torch's spinning
threads do not slow the call timed after it.
Prints a table with each target and whether it is met; --json writes the same numbers as JSON
so results can be compared between commits. Not part of the test suite. The conv1d and conv3d
rows alone: python -c "from benchmarks.bench import rank_rows; rank_rows()".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# torch's OpenMP threads spin-wait after each call by default; when calls alternate, that spinning
# steals the cores from the next (BLAS) call and inflates its time. Let idle threads sleep.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from harness.computations.implementations import reference_conv2d, scipy_conv2d  # noqa: E402


def torch_conv2d(x, w, **params):
    """F.conv2d as a user calls it: torch's default number of threads (all cores). The harness's
    own torch leg pins one thread so that reports do not depend on the machine; timing that would
    flatter every ratio."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), **params).numpy()


CASES = {
    # name: (input shape, weight shape, parameters)
    "tiny": ((1, 1, 5, 5), (1, 1, 3, 3), {}),
    "medium": ((8, 16, 32, 32), (32, 16, 3, 3), {"padding": 1}),
    "resnet": ((8, 64, 56, 56), (64, 64, 3, 3), {"padding": 1}),
    "depthwise": ((8, 128, 56, 56), (128, 1, 3, 3), {"padding": 1, "groups": 128}),
    "dilated7x7_s2": ((8, 32, 64, 64), (32, 32, 7, 7), {"padding": 6, "dilation": 2, "stride": 2}),
}
TARGETS = {"resnet": {"float64": 1.0, "float32": 2.5}}
OTHER_TARGET = 1.5
SCIPY_SLOW = 2e8  # multiply-adds above which scipy is timed once


def median_times(functions, repeat: int, budget: float = 1.0) -> list[float]:
    """Median seconds of each function, called alternately after one warm-up call each: at least
    `repeat` rounds, more for fast functions (up to 100 rounds or `budget` seconds per function),
    so that millisecond-sized calls on a noisy machine still give a stable median."""
    slowest = 0.0
    for function in functions:
        start = time.perf_counter()
        function()
        slowest = max(slowest, time.perf_counter() - start)
    rounds = max(repeat, min(100, int(budget / max(slowest, 1e-6))))
    samples = [[] for _ in functions]
    for _ in range(rounds):
        for index, function in enumerate(functions):
            start = time.perf_counter()
            function()
            samples[index].append(time.perf_counter() - start)
    return [statistics.median(s) for s in samples]


def implementation_rows(repeat: int, with_scipy: bool) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    for dtype in ("float64", "float32"):
        for name, (x_shape, w_shape, params) in CASES.items():
            x = rng.standard_normal(x_shape).astype(dtype)
            w = rng.standard_normal(w_shape).astype(dtype)
            reps = repeat
            torch_time, ref_time = median_times(
                [partial(torch_conv2d, x, w, **params), partial(reference_conv2d, x, w, **params)],
                reps,
            )
            limit = None if name == "tiny" else TARGETS.get(name, {}).get(dtype, OTHER_TARGET)
            row = {
                "case": name,
                "dtype": dtype,
                "input": list(x_shape),
                "weight": list(w_shape),
                "torch_ms": torch_time * 1e3,
                "reference_ms": ref_time * 1e3,
                "reference_ratio": ref_time / torch_time,
                "target": limit,
            }
            if with_scipy:
                macs = (
                    np.prod(x_shape[:1]) * w_shape[0] * np.prod(x_shape[2:]) * np.prod(w_shape[1:])
                )
                scipy_reps = 1 if macs > SCIPY_SLOW else max(1, repeat // 2)
                torch_time2, scipy_time = median_times(
                    [partial(torch_conv2d, x, w, **params), partial(scipy_conv2d, x, w, **params)],
                    scipy_reps if name != "tiny" else repeat * 4,
                )
                row["scipy_ms"] = scipy_time * 1e3
                row["scipy_ratio"] = scipy_time / torch_time2
            rows.append(row)
            print(
                f"  {name:<14} {dtype:<8} torch {row['torch_ms']:9.3f} ms   reference "
                f"{row['reference_ms']:9.3f} ms  x{row['reference_ratio']:.2f}"
                + (f"   scipy x{row['scipy_ratio']:.1f}" if "scipy_ratio" in row else ""),
                flush=True,
            )
    return rows


RANK_CASES = {
    # name: (input shape, weight shape, parameters): conv1d and conv3d layers
    "conv1d": ((8, 256, 4096), (256, 256, 9), {"padding": 4}),
    "conv3d": ((2, 64, 16, 56, 56), (64, 64, 3, 3, 3), {"padding": 1}),
}
RANK_TARGETS = {"float64": 1.0, "float32": 2.0}


def torch_conv(x, w, **params):
    """F.conv1d/conv2d/conv3d by the input's rank, with torch's default threads (as
    torch_conv2d)."""
    import torch
    import torch.nn.functional as F

    function = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[x.ndim]
    with torch.no_grad():
        return function(torch.from_numpy(x), torch.from_numpy(w), **params).numpy()


def rank_rows(repeat: int = 5) -> list[dict]:
    """The reference's conv1d and conv3d (harness.computations.reference.conv) against torch, side
    by side:

    python -c "from benchmarks.bench import rank_rows; rank_rows()"
    """
    from harness.computations import reference

    rows = []
    rng = np.random.default_rng(0)
    for dtype in ("float64", "float32"):
        for name, (x_shape, w_shape, params) in RANK_CASES.items():
            x = rng.standard_normal(x_shape).astype(dtype)
            w = rng.standard_normal(w_shape).astype(dtype)
            torch_time, ref_time = median_times(
                [partial(torch_conv, x, w, **params), partial(reference.conv, x, w, **params)],
                repeat,
            )
            row = {
                "case": name,
                "dtype": dtype,
                "input": list(x_shape),
                "weight": list(w_shape),
                "torch_ms": torch_time * 1e3,
                "reference_ms": ref_time * 1e3,
                "reference_ratio": ref_time / torch_time,
                "target": RANK_TARGETS[dtype],
            }
            rows.append(row)
            print(
                f"  {name:<14} {dtype:<8} torch {row['torch_ms']:9.3f} ms   reference "
                f"{row['reference_ms']:9.3f} ms  x{row['reference_ratio']:.2f}",
                flush=True,
            )
    return rows


def harness_overhead(cases_count: int = 2000) -> dict:
    """Per-row time of the harness itself on a sweep of tiny cases, implementations excluded."""
    from harness.cases import load_cases
    from harness.reporting.report import csv_text, to_dataframe
    from harness.running.executor import run_records

    biases = -(-cases_count // 3)
    text = (
        "sweeps:\n  - id: tiny\n    base: {input: {shape: [1, 1, 5, 5], init: normal, seed: 1},"
        " weight: {shape: [1, 1, 3, 3], init: normal, seed: 2}}\n"
        f"    vary: {{bias: [{', '.join(f'[{k}]' for k in range(biases))}], padding: [0, 1, 2]}}\n"
    )
    import harness.computations.implementations as implementations

    spent = {"seconds": 0.0}
    originals = dict(implementations.BUILTINS)

    def timed(function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent["seconds"] += time.perf_counter() - start

        wrapper.handles_padding_mode = True
        return wrapper

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tiny.yaml"
        path.write_text(text)
        for key, function in originals.items():
            implementations.BUILTINS[key] = timed(function)
        try:
            start = time.perf_counter()
            cases = load_cases([path])[:cases_count]
            records = run_records(cases)
            csv_text(to_dataframe(records))
            total = time.perf_counter() - start
        finally:
            implementations.BUILTINS.update(originals)
    own = total - spent["seconds"]
    return {
        "cases": len(cases),
        "rows": len(records),
        "total_s": total,
        "implementations_s": spent["seconds"],
        "harness_ms_per_row": own / len(records) * 1e3,
        "target_ms_per_row": 0.3,
    }


def reference_memory() -> dict:
    from harness.computations import reference

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 256, 224, 224))
    w = rng.standard_normal((256, 256, 3, 3))
    tracemalloc.start()
    start = time.perf_counter()
    out = reference.conv2d(x, w, padding=1)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "case": "(1,256,224,224)x(256,256,3,3) float64",
        "seconds": seconds,
        "peak_mib": peak / 2**20,
        "output_mib": out.nbytes / 2**20,
        "extra_mib": (peak - out.nbytes) / 2**20,
        "target_extra_mib": 256,
    }


def jobs_speedup() -> dict:
    """`run --jobs 1` against `--jobs 2` on the ResNet-layer registry, and the same on two tiny
    cases: their time is start-up (interpreter, imports, spawning, torch in every worker), so the
    difference is the speedup of the work itself."""
    registry = ROOT / "benchmarks" / "resnet_registry.yaml"
    tiny = "cases:\n" + "".join(
        f"  - {{id: tiny{k}, input: {{shape: [1, 1, 5, 5], init: normal, seed: {k}}},"
        f" weight: {{shape: [1, 1, 3, 3], init: normal, seed: 9}}}}\n"
        for k in (1, 2)
    )
    timings, outputs = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        tiny_path = Path(folder) / "tiny.yaml"
        tiny_path.write_text(tiny)
        for label, path in (("registry", registry), ("startup", tiny_path)):
            for jobs in (1, 2):
                out = Path(folder) / f"{label}{jobs}.csv"
                start = time.perf_counter()
                result = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "harness",
                        "run",
                        str(path),
                        "--jobs",
                        str(jobs),
                        "--out",
                        str(out),
                    ],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                )
                timings[label, jobs] = time.perf_counter() - start
                if result.returncode != 0:
                    raise SystemExit(f"run --jobs {jobs} failed: {result.stderr or result.stdout}")
                outputs[label, jobs] = out.read_bytes()
    work = [timings["registry", j] - timings["startup", j] for j in (1, 2)]
    return {
        "registry": str(registry.relative_to(ROOT)),
        "jobs1_s": timings["registry", 1],
        "jobs2_s": timings["registry", 2],
        "speedup": timings["registry", 1] / timings["registry", 2],
        "startup_jobs1_s": timings["startup", 1],
        "startup_jobs2_s": timings["startup", 2],
        "work_speedup": work[0] / work[1] if work[1] > 0 else None,
        "identical_csv": outputs["registry", 1] == outputs["registry", 2],
        "target_speedup": 1.7,
    }


def backward_rows(repeat: int) -> list[dict]:
    """The reference's backward (grad_input + grad_weight) and conv_transpose2d against torch."""
    import torch
    import torch.nn.functional as F

    from harness.computations import gradients

    rng = np.random.default_rng(1)
    rows = []
    x = rng.standard_normal((8, 64, 56, 56))
    w = rng.standard_normal((64, 64, 3, 3))
    g = rng.standard_normal((8, 64, 56, 56))
    xt, wt, gt = (torch.from_numpy(a) for a in (x, w, g))

    def torch_backward():
        xr, wr = xt.clone().requires_grad_(), wt.clone().requires_grad_()
        out = F.conv2d(xr, wr, None, 1, 1)
        torch.autograd.grad(out, (xr, wr), gt)

    def reference_backward():
        gradients.conv2d_backward(g, x, w, None, 1, 1)

    torch_s, ref_s = median_times([torch_backward, reference_backward], repeat)
    rows.append(
        {
            "case": "backward resnet (8,64,56,56)x(64,64,3,3) grad_input+grad_weight",
            "dtype": "float64",
            "torch_ms": torch_s * 1e3,
            "reference_ms": ref_s * 1e3,
            "reference_ratio": ref_s / torch_s,
            "target": 1.5,
        }
    )
    xd = rng.standard_normal((8, 128, 28, 28))
    wd = rng.standard_normal((128, 64, 4, 4))
    xdt, wdt = torch.from_numpy(xd), torch.from_numpy(wd)
    torch_s, ref_s = median_times(
        [
            partial(F.conv_transpose2d, xdt, wdt, None, 2, 1),
            partial(gradients.conv_transpose2d, xd, wd, None, 2, 1),
        ],
        repeat,
    )
    rows.append(
        {
            "case": "conv_transpose2d decoder (8,128,28,28)x(128,64,4,4) stride 2",
            "dtype": "float64",
            "torch_ms": torch_s * 1e3,
            "reference_ms": ref_s * 1e3,
            "reference_ratio": ref_s / torch_s,
            "target": None,
        }
    )
    return rows


def fuzz_rate(count: int = 2000, seed: int = 1) -> dict:
    """Configurations per second `conv-harness fuzz` checks on the built-ins with the variants."""
    from harness.computations.registry import resolve_implementations
    from harness.fuzz import fuzz

    result = fuzz(resolve_implementations(None), count=count, seed=seed)
    return {
        "configurations": result.configurations,
        "seconds": result.seconds,
        "per_second": result.rate,
        "findings": len(result.findings),
        "target": 50,
    }


def startup_times() -> list[dict]:
    rows = []
    probe = (
        "import sys, time; t = time.perf_counter(); from harness.cli import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main({args})\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('torch', 'scipy', 'pandas') if m in sys.modules))"
    )
    for args in (["validate"], ["list"], ["--help"]):
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", probe.format(args=args)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        rows.append(
            {
                "command": " ".join(args),
                "seconds": seconds,
                "heavy_imports": result.stdout.strip().splitlines()[-1],
                "target_s": 1.0,
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON ('-': stdout)")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per implementation")
    parser.add_argument("--skip-scipy", action="store_true", help="do not time the scipy leg")
    parser.add_argument("--skip-jobs", action="store_true", help="skip the --jobs comparison")
    args = parser.parse_args()

    import torch

    results = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "torch_threads": torch.get_num_threads(),
        }
    }
    print("implementations against torch (median of alternating calls):", flush=True)
    results["implementations"] = implementation_rows(args.repeat, not args.skip_scipy)
    print("conv1d and conv3d: the reference against torch ...", flush=True)
    results["implementations"] += rank_rows(args.repeat)
    print("harness overhead on a sweep of 2,000 tiny cases ...", flush=True)
    results["overhead"] = harness_overhead()
    print("reference memory on the large case ...", flush=True)
    results["memory"] = reference_memory()
    if not args.skip_jobs:
        print("run --jobs 1 vs --jobs 2 on the ResNet-layer registry ...", flush=True)
        results["jobs"] = jobs_speedup()
    print("backward and conv_transpose2d against torch ...", flush=True)
    results["backward"] = backward_rows(args.repeat)
    print("fuzz rate on the built-ins (torch, scipy, reference, variants) ...", flush=True)
    results["fuzz"] = fuzz_rate()
    results["startup"] = startup_times()

    checks = []
    for row in results["implementations"]:
        if row["target"] is not None:
            checks.append(
                (
                    f"reference/torch {row['case']} {row['dtype']}",
                    f"{row['reference_ratio']:.2f}",
                    f"<= {row['target']}",
                    row["reference_ratio"] <= row["target"],
                )
            )
    overhead = results["overhead"]
    checks.append(
        (
            "harness overhead per row (ms)",
            f"{overhead['harness_ms_per_row']:.3f}",
            "<= 0.3",
            overhead["harness_ms_per_row"] <= 0.3,
        )
    )
    memory = results["memory"]
    checks.append(
        (
            "reference extra memory (MiB)",
            f"{memory['extra_mib']:.0f}",
            "<= 256",
            memory["extra_mib"] <= 256,
        )
    )
    if "jobs" in results:
        jobs = results["jobs"]
        checks.append(
            (
                "--jobs 2 speedup over --jobs 1",
                f"{jobs['speedup']:.2f}",
                ">= 1.7",
                jobs["speedup"] >= 1.7,
            )
        )
        checks.append(
            (
                "--jobs 1 and --jobs 2 CSV identical",
                str(jobs["identical_csv"]),
                "True",
                jobs["identical_csv"],
            )
        )
        if jobs["work_speedup"] is not None:
            print(
                f"--jobs: {jobs['jobs1_s']:.1f} s vs {jobs['jobs2_s']:.1f} s; start-up alone "
                f"{jobs['startup_jobs1_s']:.1f} s vs {jobs['startup_jobs2_s']:.1f} s, so the work "
                f"beyond start-up runs {jobs['work_speedup']:.2f}x faster with 2 jobs"
            )
    for row in results["backward"]:
        print(
            f"{row['case']} {row['dtype']}: torch {row['torch_ms']:.1f} ms, reference "
            f"{row['reference_ms']:.1f} ms, ratio {row['reference_ratio']:.2f}"
        )
        if row["target"] is not None:
            checks.append(
                (
                    f"reference/torch {row['case'][:40]}",
                    f"{row['reference_ratio']:.2f}",
                    f"<= {row['target']}",
                    row["reference_ratio"] <= row["target"],
                )
            )
    rate = results["fuzz"]
    checks.append(
        (
            f"fuzz configurations per second ({rate['findings']} findings)",
            f"{rate['per_second']:.0f}",
            ">= 50",
            rate["per_second"] >= 50 and rate["findings"] == 0,
        )
    )
    for row in results["startup"]:
        checks.append(
            (
                f"`conv-harness {row['command']}` seconds (heavy imports {row['heavy_imports']})",
                f"{row['seconds']:.2f}",
                "<= 1.0",
                row["seconds"] <= 1.0 and row["heavy_imports"] == "[]",
            )
        )
    results["targets"] = [
        {"what": w, "measured": m, "target": t, "met": ok} for w, m, t, ok in checks
    ]

    width = max(len(w) for w, *_ in checks)
    print()
    print(f"{'target':<{width}}  {'measured':>9}  {'wanted':>8}  met")
    for what, measured, target, ok in checks:
        print(f"{what:<{width}}  {measured:>9}  {target:>8}  {'yes' if ok else 'NO'}")
    if args.json:
        text = json.dumps(results, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
