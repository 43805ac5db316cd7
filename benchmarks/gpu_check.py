"""GPU check: the registry through torch on CUDA (TF32 off and on), and a CPU/GPU timing table.

    python benchmarks/gpu_check.py [--out DIR]

Needs a CUDA device; without one it says so and exits 0. Runs in well under 5 minutes on one
GPU. Not part of the test suite. Prints, per implementation, the rows by status, how many float32
rows TF32 moves beyond the per-element tolerance (cause precision) and the largest gap with its
allowance there, and medians of torch CPU vs torch CUDA (synchronised) on the benchmark shapes.
--out DIR writes the CSV report and a JSON summary there.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.bench import CASES  # noqa: E402
from harness.cases import load_cases  # noqa: E402
from harness.executor import run_records  # noqa: E402
from harness.report import csv_text, summary_lines, to_dataframe  # noqa: E402
from harness.runner import RunOptions  # noqa: E402

IMPLEMENTATIONS = ["torch", "torch_cuda", "torch_cuda_tf32", "reference"]


def registry_check(out_dir: Path | None) -> dict:
    cases = load_cases([ROOT / "cases"])
    start = time.perf_counter()
    records = run_records(cases, IMPLEMENTATIONS, RunOptions(variants=False))
    seconds = time.perf_counter() - start
    by_impl = {
        name: dict(Counter(r.status for r in records if r.implementation == name))
        for name in IMPLEMENTATIONS
    }
    tf32 = [r for r in records if r.implementation == "torch_cuda_tf32" and r.dtype == "float32"]
    gaps = [r for r in tf32 if r.observed == "diverge"]
    worst = max(gaps, key=lambda r: r.max_abs_diff or 0, default=None)
    print(f"registry: {len(cases)} cases, {len(records)} rows in {seconds:.1f} s")
    for line in summary_lines(records):
        print("  " + line)
    for name, counts in by_impl.items():
        print(f"  {name:<16} {counts}")
    print(
        f"  TF32 float32 rows diverging (cause precision): {len(gaps)} of {len(tf32)}; "
        f"causes {sorted({r.cause for r in gaps})}"
    )
    if worst is not None:
        print(
            f"  largest TF32 gap: {worst.max_abs_diff:.3g} on {worst.case_id} "
            f"(allowed {worst.atol:.3g} + {worst.rtol:.3g}*|ref|)"
        )
    if out_dir is not None:
        (out_dir / "gpu_discrepancies.csv").write_text(csv_text(to_dataframe(records)))
    return {
        "cases": len(cases),
        "rows": len(records),
        "seconds": seconds,
        "by_impl": by_impl,
        "tf32_float32_rows": len(tf32),
        "tf32_diverging": len(gaps),
        "tf32_causes": sorted({r.cause for r in gaps}),
        "failing": sum(r.failed for r in records),
    }


def timing_table(repeat: int = 10) -> list[dict]:
    import torch.nn.functional as F

    rows = []
    rng = np.random.default_rng(0)
    print("timings (median ms): torch CPU vs torch CUDA (TF32 off / on)")
    for dtype in (np.float32, np.float64):
        for name, (x_shape, w_shape, params) in CASES.items():
            x = torch.from_numpy(rng.standard_normal(x_shape).astype(dtype))
            w = torch.from_numpy(rng.standard_normal(w_shape).astype(dtype))
            xc, wc = x.cuda(), w.cuda()

            def cpu(x=x, w=w, params=params):
                F.conv2d(x, w, **params)

            def gpu(tf32, xc=xc, wc=wc, params=params):
                def call():
                    with torch.backends.cudnn.flags(enabled=True, allow_tf32=tf32):
                        F.conv2d(xc, wc, **params)
                    torch.cuda.synchronize()

                return call

            timings = {}
            for label, function in (("cpu", cpu), ("cuda", gpu(False)), ("cuda_tf32", gpu(True))):
                function()
                samples = []
                for _ in range(repeat):
                    start = time.perf_counter()
                    function()
                    samples.append(time.perf_counter() - start)
                timings[label] = statistics.median(samples) * 1e3
            row = {
                "case": name,
                "dtype": np.dtype(dtype).name,
                **{f"{k}_ms": v for k, v in timings.items()},
            }
            rows.append(row)
            print(
                f"  {name:<14} {row['dtype']:<8} cpu {timings['cpu']:9.3f}  cuda "
                f"{timings['cuda']:8.3f}  cuda_tf32 {timings['cuda_tf32']:8.3f}"
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="directory for the CSV report and JSON summary")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check (torch_cuda and torch_cuda_tf32 need one)")
        return 0
    started = time.perf_counter()
    print(
        f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}, "
        f"cuDNN {torch.backends.cudnn.version()}"
    )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    summary = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "registry": registry_check(args.out),
        "timings": timing_table(),
    }
    summary["seconds"] = time.perf_counter() - started
    print(f"done in {summary['seconds']:.1f} s; failing rows: {summary['registry']['failing']}")
    if args.out:
        (args.out / "gpu_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if summary["registry"]["failing"] else 0


if __name__ == "__main__":
    sys.exit(main())
