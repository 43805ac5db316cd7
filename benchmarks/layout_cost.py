"""What a diverging layout row costs, beside a diverging contiguous row, in one run.

    python benchmarks/layout_cost.py [--case ID] [--repeat N]

On one registry case (f32_cin64_3x3 by default: C_in = 64, 3x3 kernels), with implementations that
take tensors (tests/data/layout_bugs.py, tests/data/layout_role_bugs.py):
- a diverging contiguous row: a tensor plug-in whose kernel is flipped (written here), minus the
  same plug-in unflipped;
- a diverging layout row: the stride-ignoring plug-in with `--layouts all` (every layout row
  diverges), minus it without layouts, per layout row; the same for gradient rows (`--backward`,
  a backward that reads grad_output's storage as contiguous), per diverging gradient row;
- layout rows explained by a family search, as `run` did before a layout row that differs from
  its own contiguous row was `layout` at once (harness.explaining.explanation.explain_divergence on
  the first --before layout outputs: minutes each on a busy machine).
Each time is the best of N runs. The ratios (row / contiguous row) are printed side by side.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.cases import load_cases  # noqa: E402
from harness.cases.data import materialize  # noqa: E402
from harness.cases.layouts import LAYOUT_NAMES  # noqa: E402
from harness.computations.calling import call_implementation  # noqa: E402
from harness.computations.registry import (  # noqa: E402
    get_implementation,
    implementation,
)
from harness.explaining.explanation import explain_divergence  # noqa: E402
from harness.running.runner import RunOptions, planned_layouts, run_case  # noqa: E402
from harness.verdicts.baseline import compute_baseline  # noqa: E402

STRIDE_IGNORING = "tests/data/layout_bugs.py:conv2d"
GRAD_OUTPUT_IGNORING = "tests/data/layout_role_bugs.py:grad_output_strides_ignored_conv2d_backward"


def flipped_tensor_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """A tensor plug-in with its kernel flipped on every spatial axis: a contiguous divergence."""
    import torch
    import torch.nn.functional as F

    w = torch.flip(weight, dims=list(range(2, weight.ndim)))
    conv = (F.conv1d, F.conv2d, F.conv3d)[weight.ndim - 3]
    return conv(input, w, bias, stride, padding, dilation, groups)


def honest_tensor_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    import torch.nn.functional as F

    conv = (F.conv1d, F.conv2d, F.conv3d)[weight.ndim - 3]
    return conv(input, weight, bias, stride, padding, dilation, groups)


flipped_tensor_conv.accepts_tensors = True  # type: ignore[attr-defined]
honest_tensor_conv.accepts_tensors = True  # type: ignore[attr-defined]


def best(repeat: int, run) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def rows_time(case, name, func, repeat, **options) -> tuple[float, list]:
    settings = RunOptions(variants=False, **options)
    records: list = []

    def run():
        records[:] = run_case(case, [implementation(name, func)], settings)

    return best(repeat, run), list(records)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", default="f32_cin64_3x3")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--before", type=int, default=1, help="layout rows explained as before")
    args = parser.parse_args()
    cases = {c.id: c for c in load_cases([ROOT / "cases"])}
    case = cases[args.case]
    repeat = args.repeat

    honest, _ = rows_time(case, "honest", honest_tensor_conv, repeat)
    flipped, flipped_rows = rows_time(case, "flipped", flipped_tensor_conv, repeat)
    contiguous_row = flipped - honest
    assert flipped_rows[0].status == "unexpected_divergence", flipped_rows[0].message

    bug = get_implementation(STRIDE_IGNORING)
    plain, _ = rows_time(case, STRIDE_IGNORING, bug, repeat)
    laid, layout_rows = rows_time(case, STRIDE_IGNORING, bug, repeat, layouts=LAYOUT_NAMES)
    diverging = [r for r in layout_rows if r.layout != "contiguous" and r.cause == "layout"]
    layout_row = (laid - plain) / max(len(diverging), 1)

    # the path before: each diverging layout output explained by the family search
    arrays = materialize(case)
    baseline = compute_baseline(case, arrays)
    layouts = planned_layouts(case, implementation(STRIDE_IGNORING, bug), LAYOUT_NAMES)
    outputs = [
        call_implementation(bug, case, arrays, layout=layout).output
        for layout in layouts[: args.before]
    ]

    def explain_all():
        for output in outputs:
            explain_divergence(case, arrays, output, baseline)

    searched = best(1, explain_all) / max(len(outputs), 1) + layout_row

    backward = get_implementation(GRAD_OUTPUT_IGNORING)
    g_plain, _ = rows_time(case, GRAD_OUTPUT_IGNORING, backward, repeat, backward=True)
    g_laid, g_rows = rows_time(
        case, GRAD_OUTPUT_IGNORING, backward, repeat, backward=True, layouts=LAYOUT_NAMES
    )
    g_diverging = [r for r in g_rows if r.layout != "contiguous" and r.cause == "layout"]
    gradient_row = (g_laid - g_plain) / max(len(g_diverging), 1)

    print(f"case {case.id}: {len(diverging)} diverging layout rows of {len(layouts)} layouts")
    print(f"{'row':<48} {'seconds':>9} {'/ contiguous row':>17}")
    for label, seconds in (
        ("diverging contiguous row (flipped kernel)", contiguous_row),
        ("diverging layout row, now", layout_row),
        ("diverging gradient layout row, now", gradient_row),
        ("diverging layout row, family search (before)", searched),
    ):
        print(f"{label:<48} {seconds:9.3f} {seconds / contiguous_row:17.2f}")
    print(
        f"whole run: {plain:.2f} s without layouts, {laid:.2f} s with --layouts all "
        f"({len(layout_rows) - 1} layout rows); gradients {g_plain:.2f} s without layouts, "
        f"{g_laid:.2f} s with ({len(g_diverging)} diverging gradient layout rows)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
