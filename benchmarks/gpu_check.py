"""Device check: the case registry (every rank, every dtype, forward, transposed and backward)
through torch on every accelerator torch finds, against the references, with timings.

    python benchmarks/gpu_check.py [--out DIR] [--quick]

Devices: every CUDA device (`torch@cuda:N` with TF32 off, and `torch@cuda:N+tf32`), MPS
(`torch@mps`) and every XPU (`torch@xpu:N`), each beside `torch` on CPU and `reference`. Without
any it says "no accelerator found", runs a short CPU smoke through `torch@cpu` and exits 0.
Layouts: when harness.cases.layouts exists (memory layouts, issue 16 part 1) and RunOptions has a
`layouts` field, every layout it lists is run too; otherwise the default layout only.
--out DIR writes the CSV report (gpu_check.csv) and a Markdown summary (gpu_check.md): rows and
failing rows per implementation, on CUDA how many float32 rows of cases with random data TF32
moves beyond the tolerance (cause `precision`) of how many, and median timings of each device
against torch on CPU. --quick checks the seed cases only (a smoke test). Exit status 1 when a
row fails. Not part of the test suite except through --quick.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
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
from harness.cases.schema import TensorSpec  # noqa: E402
from harness.reporting.report import csv_text, summary_lines, to_dataframe  # noqa: E402
from harness.running.executor import run_records  # noqa: E402
from harness.running.runner import RunOptions  # noqa: E402


def accelerators() -> list[str]:
    """torch@DEVICE names of every accelerator torch finds here (TF32 off and on for CUDA)."""
    names = []
    for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        names += [f"torch@cuda:{index}", f"torch@cuda:{index}+tf32"]
    if torch.backends.mps.is_available():
        names.append("torch@mps")
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        names += [f"torch@xpu:{index}" for index in range(xpu.device_count())]
    return names


def run_options() -> RunOptions:
    """Backward rows on; every layout when the layouts support is there (import guarded)."""
    options = RunOptions(variants=False, backward=True)
    if importlib.util.find_spec("harness.cases.layouts") is None:
        return options
    layouts = importlib.import_module("harness.cases.layouts")
    names = getattr(layouts, "LAYOUTS", None)
    fields = {f.name for f in dataclasses.fields(RunOptions)}
    if names and "layouts" in fields:
        return dataclasses.replace(options, layouts=tuple(names))  # type: ignore[call-arg]
    return options


def _random(case) -> bool:
    return isinstance(case.input, TensorSpec) and case.input.init in ("normal", "uniform")


def registry_check(names: list[str], quick: bool) -> tuple[list, dict]:
    paths = [ROOT / "cases/seed.yaml"] if quick else [ROOT / "cases"]
    cases = load_cases(paths)
    start = time.perf_counter()
    records = run_records(cases, names, run_options())
    seconds = time.perf_counter() - start
    random_ids = {c.id for c in cases if _random(c)}
    tf32 = [
        r
        for r in records
        if r.implementation.endswith("+tf32") and r.dtype == "float32" and r.case_id in random_ids
    ]
    flagged = [r for r in tf32 if r.cause == "precision"]
    summary = {
        "cases": len(cases),
        "rows": len(records),
        "failing": sum(r.failed for r in records),
        "seconds": seconds,
        "by_impl": {
            name: dict(Counter(r.status for r in records if r.implementation == name))
            for name in names
        },
        "failing_by_impl": {
            name: sum(r.failed for r in records if r.implementation == name) for name in names
        },
        "tf32_rows": len(tf32),
        "tf32_precision": len(flagged),
    }
    print(f"registry: {len(cases)} cases, {len(records)} rows in {seconds:.1f} s")
    for line in summary_lines(records):
        print("  " + line)
    return records, summary


def _synchronize(device: str) -> None:
    module = getattr(torch, torch.device(device).type, None)
    if device != "cpu" and module is not None and hasattr(module, "synchronize"):
        module.synchronize()


def timings(devices: list[str], quick: bool, repeat: int = 5) -> list[dict]:
    """Median ms of F.conv2d on the benchmark shapes: torch on CPU and on each device."""
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    rows = []
    shapes = {"tiny": CASES["tiny"]} if quick else CASES
    for name, (x_shape, w_shape, params) in shapes.items():
        x = torch.from_numpy(rng.standard_normal(x_shape).astype(np.float32))
        w = torch.from_numpy(rng.standard_normal(w_shape).astype(np.float32))
        row: dict = {"case": name}
        for device in ["cpu", *devices]:
            xd, wd = x.to(device), w.to(device)
            samples = []
            for _ in range(repeat + 1):
                start = time.perf_counter()
                with torch.no_grad():
                    F.conv2d(xd, wd, **params)
                _synchronize(device)
                samples.append(time.perf_counter() - start)
            row[device] = statistics.median(samples[1:]) * 1e3
        rows.append(row)
    return rows


def markdown(summary: dict, timing_rows: list[dict], devices: list[str], note: str) -> str:
    lines = ["# Device check", "", note, ""]
    lines += [
        f"{summary['cases']} cases, {summary['rows']} rows, {summary['failing']} failing, "
        f"{summary['seconds']:.1f} s.",
        "",
        "| implementation | rows by status | failing |",
        "| --- | --- | --- |",
    ]
    for name, counts in summary["by_impl"].items():
        lines.append(f"| {name} | {counts} | {summary['failing_by_impl'][name]} |")
    if summary["tf32_rows"]:
        lines += [
            "",
            f"TF32: {summary['tf32_precision']} of {summary['tf32_rows']} float32 rows of cases "
            "with random data are flagged `precision`.",
        ]
    columns = ["cpu", *devices]
    lines += ["", "Median ms of F.conv2d (float32):", ""]
    lines += ["| case | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for row in timing_rows:
        cells = " | ".join(f"{row[c]:.3f}" for c in columns)
        lines.append(f"| {row['case']} | {cells} |")
    lines += ["", "| device | description |", "| --- | --- |"]
    for device in columns:
        lines.append(f"| {device} | {_describe(device)} |")
    return "\n".join(lines) + "\n"


def _describe(device: str) -> str:
    kind = torch.device(device).type
    if kind == "cuda":
        return f"{torch.cuda.get_device_name(device)}, cuDNN {torch.backends.cudnn.version()}"
    return f"{kind}, torch {torch.__version__}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="directory for gpu_check.csv and gpu_check.md")
    parser.add_argument("--quick", action="store_true", help="the seed cases only (a smoke test)")
    args = parser.parse_args()
    names = accelerators()
    if names:
        note = "Accelerators: " + ", ".join(names) + "."
        implementations = ["torch", *names, "reference"]
    else:
        note = "no accelerator found: a CPU smoke run through torch@cpu only."
        implementations = ["torch", "torch@cpu", "reference"]
    print(note)
    records, summary = registry_check(implementations, args.quick or not names)
    devices = sorted({n.removeprefix("torch@").removesuffix("+tf32") for n in names})
    timing_rows = timings(devices, args.quick or not names)
    text = markdown(summary, timing_rows, devices, note)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_check.csv").write_text(csv_text(to_dataframe(records)))
        (args.out / "gpu_check.md").write_text(text)
    return 1 if summary["failing"] else 0


if __name__ == "__main__":
    sys.exit(main())
