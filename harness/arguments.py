"""The command line's arguments: every command, its options and their checks (argparse).

Bad usage is one line naming the option and exit code 2 (the parser's `error`).
"""

from __future__ import annotations

import argparse
import sys

from harness.cases.layouts import LAYOUT_NAMES, parse_layouts
from harness.cases.schema import DTYPES

EXIT_USAGE = 2


def _fail(message: str) -> int:
    print(f"conv-harness: error: {message}", file=sys.stderr)
    return EXIT_USAGE


DEFAULT_REPORT = "reports/discrepancies.csv"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: one line, exit 2
        raise SystemExit(_fail(f"{self.prog}: {message} (see {self.prog} --help)"))


def _add_paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATHS",
        help="case files or directories (default: ./cases if it exists, else the built-in "
        "registry)",
    )


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-k",
        dest="keyword",
        metavar="EXPR",
        help="select cases whose id/tags/sweep/file match EXPR "
        "(words with and/or/not, as pytest -k)",
    )


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


_UNITS = {
    "": 1,
    "b": 1,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
}


def _layouts(text: str) -> tuple[str, ...]:
    try:
        return parse_layouts(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _memory_size(text: str) -> int:
    import re

    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 2GiB, 512MiB or a number of bytes, got {text!r}"
        )
    return int(float(match.group(1)) * _UNITS[unit])


def _add_cluster(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the cases on the workers of this dask.distributed scheduler "
        "(needs conv-harness[cluster]); the report is the same as a one-process run",
    )
    parser.add_argument(
        "--cluster",
        metavar="local:N",
        help="start a local Dask cluster of N single-threaded worker processes for the run",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="conv-harness",
        description="Cross-validate 1-D, 2-D and 3-D convolutions (torch, scipy, a handwritten "
        "reference, yours) on a registry of YAML cases, and say why they diverge.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser("run", help="run the cases and write the CSV report")
    _add_paths(run)
    run.add_argument(
        "--impl",
        action="append",
        metavar="NAME|module:function",
        help="implementation to check (repeatable; default: torch, scipy, reference)",
    )
    run.add_argument(
        "--out",
        default=DEFAULT_REPORT,
        metavar="FILE",
        help=f"CSV report path (default: {DEFAULT_REPORT})",
    )
    run.add_argument(
        "--html",
        metavar="FILE",
        help="also write one self-contained HTML page of the report (after the CSV)",
    )
    _add_selection(run)
    run.add_argument(
        "--no-variants",
        action="store_true",
        help="only as_is rows (skip the mutation variant rows)",
    )
    run.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        metavar="N",
        help="worker processes (default: all cores, or 1 for a registry too small to "
        "repay starting workers); the report is the same for any N",
    )
    run.add_argument(
        "--in-process",
        action="store_true",
        help="run the cases in this process (one job): a debugger sees the calls, but an "
        "implementation that crashes natively ends the run (by default each job is a worker "
        "process, and a crash becomes error rows)",
    )
    _add_cluster(run)
    run.add_argument(
        "--shard",
        metavar="I/N",
        help="run only shard I of N (deterministic, balanced by estimated cost)",
    )
    run.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="time limit per implementation call; a call past it becomes an error row",
    )
    run.add_argument(
        "--max-memory",
        type=_memory_size,
        default="2GiB",
        metavar="SIZE",
        help="refuse cases needing more memory than this (default 2GiB; e.g. 512MiB)",
    )
    run.add_argument(
        "--summary-md",
        metavar="FILE",
        help="also write a Markdown summary (for a CI job summary page)",
    )
    run.add_argument(
        "--summary-out",
        metavar="FILE",
        help="divergence summary CSV (default: divergence_summary.csv beside the default "
        "report, else named after --out: X.csv -> X.divergence_summary.csv)",
    )
    run.add_argument(
        "--backward",
        action="store_true",
        help="also check the backward pass: rows for grad_input, grad_weight and grad_bias "
        "(column `quantity`) from each implementation's conv2d_backward",
    )
    run.add_argument(
        "--layouts",
        metavar="LIST",
        type=_layouts,
        default=(),
        help="also run the implementations that take torch tensors (torch, accepts_tensors "
        "plug-ins) with their tensors in these memory layouts: 'all' or a comma list of "
        + ", ".join(LAYOUT_NAMES)
        + " (one row each, column `layout`; cause `layout` when a result depends on it)",
    )
    run.add_argument(
        "--strict-rejections",
        action="store_true",
        help="fail (exit 1) when a plug-in accepts a case declared `rejects` (status "
        "accepts_invalid); built-ins and peers must always refuse such cases",
    )

    listing = commands.add_parser("list", help="list the cases (skipped sweep combinations too)")
    _add_paths(listing)
    _add_selection(listing)

    commands.add_parser("schema", help="print the JSON Schema of the case file format")

    merge = commands.add_parser(
        "merge", help="combine shard reports into the report a single run gives"
    )
    merge.add_argument("reports", nargs="+", metavar="REPORT")
    merge.add_argument("--out", required=True, metavar="FILE", help="merged CSV path")

    report = commands.add_parser(
        "report", help="write the HTML page of existing report CSVs (shards are merged)"
    )
    report.add_argument("reports", nargs="+", metavar="CSV")
    report.add_argument("--html", required=True, metavar="FILE", help="HTML page path")

    validate = commands.add_parser("validate", help="check case files; exit 2 on any problem")
    _add_paths(validate)

    coverage = commands.add_parser(
        "coverage",
        help="which cases detect each mutation and each family member per rank; warn (exit 1) "
        "if none detects a mutation",
    )
    _add_paths(coverage)
    _add_selection(coverage)
    coverage.add_argument(
        "--strict-members",
        action="store_true",
        help="also warn (exit 1) when no case of a rank detects a family member (a kernel "
        "flipped along W only, a stride phase on H only, ...); without it such gaps are notes",
    )

    diagnose = commands.add_parser(
        "diagnose",
        help="check your conv1d/conv2d/conv3d against torch and name what it gets wrong, per rank",
    )
    diagnose.add_argument(
        "impl",
        metavar="module[:function]",
        help="the implementation: a module (importable from here, or file.py) whose conv1d, "
        "conv2d and conv3d (and their _backward and conv_transpose{1,2,3}d) are each probed at "
        "their rank, or module:function, the operation its name says (conv2d unless named "
        "like conv1d, conv3d, ...)",
    )
    diagnose.add_argument("--json", action="store_true", help="machine-readable output")
    diagnose.add_argument(
        "--in-process",
        action="store_true",
        help="probe in this process (a debugger sees the calls; a native crash ends it), not "
        "in a worker process, where a call that crashes is its probe's error",
    )
    diagnose.add_argument(
        "--save-case", metavar="FILE", help="write the smallest counterexample as a case file"
    )

    fuzz = commands.add_parser(
        "fuzz",
        help="random differential testing (convolutions or transposed ones, their gradients "
        "with --backward); save what it finds, shrunk, as case files",
    )
    fuzz.add_argument(
        "--impl",
        action="append",
        metavar="NAME|module:function",
        help="implementation to check (repeatable; default: torch, scipy, reference)",
    )
    fuzz.add_argument(
        "--count",
        type=_positive_int,
        metavar="N",
        help="configurations to draw (default 500, or unlimited with --seconds); with "
        "--seconds too, the run stops at whichever limit comes first",
    )
    fuzz.add_argument(
        "--seconds",
        type=_positive_float,
        metavar="S",
        help="the whole run, shrinking included, ends within S seconds plus the time of one "
        "configuration: once something is found, drawing stops with a quarter of S left for "
        "shrinking; a finding the time did not let shrink fully is saved as far as it got "
        "(and the summary says so)",
    )
    fuzz.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="S",
        help="the same seed gives the same configurations and findings (default 0)",
    )
    fuzz.add_argument(
        "--save",
        default="reports/fuzz",
        metavar="DIR",
        help="where to write the shrunk cases (default: reports/fuzz)",
    )
    _add_cluster(fuzz)
    fuzz.add_argument(
        "--no-variants",
        action="store_true",
        help="only the implementations' rows (skip the mutation variant rows)",
    )
    fuzz.add_argument(
        "--rank",
        action="append",
        type=int,
        choices=(1, 2, 3),
        metavar="R",
        help="draw only convolutions of spatial rank R: 1 (conv1d), 2 (conv2d), 3 (conv3d); "
        "repeatable (default: every rank)",
    )
    fuzz.add_argument(
        "--dtype",
        action="append",
        choices=DTYPES,
        metavar="D",
        help="draw cases of dtype D (repeatable; default: the real ones, float64, float32, "
        "float16, bfloat16; complex64 and complex128 when asked for)",
    )
    fuzz.add_argument(
        "--op",
        choices=("conv", "conv_transpose"),
        default="conv",
        help="the operation drawn: conv (conv1d/2d/3d, the default) or conv_transpose "
        "(conv_transpose1d/2d/3d, with output_padding)",
    )
    fuzz.add_argument(
        "--backward",
        action="store_true",
        help="also draw a grad_output and check the gradients (grad_input, grad_weight, "
        "grad_bias: the rows of run --backward); a finding names its quantity",
    )

    explain = commands.add_parser(
        "explain", help="compute one output element by hand: products, sums, dot product"
    )
    explain.add_argument(
        "case_id", metavar="CASE_ID", help="the case's id (`conv-harness list` shows them)"
    )
    explain.add_argument(
        "paths",
        nargs="*",
        metavar="PATHS",
        help="case files or directories to find CASE_ID in, as for run/list/validate (default: "
        "./cases if it exists, else the built-in registry)",
    )
    explain.add_argument(
        "--at",
        metavar="n,o,i(,j(,k))",
        help="output index of the case's rank: n,o,i (1-D), n,o,i,j (2-D), n,o,i,j,k (3-D); "
        "default all zeros; for --quantity its tensor's index: n,c,p,q for grad_input, o,c,u,v "
        "for grad_weight (one position per axis), o for grad_bias",
    )
    explain.add_argument(
        "--quantity",
        choices=["output", "grad_input", "grad_weight", "grad_bias"],
        default="output",
        help="explain an element of a gradient instead of the output (the case's grad_output, "
        "or one drawn from its id)",
    )
    explain.add_argument(
        "--cases",
        action="append",
        metavar="PATH",
        help="the older spelling of PATHS, still accepted (repeatable; adds to PATHS)",
    )
    explain.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw baseline, --versus output and their difference: lines for a 1-D case, "
        "heatmaps for 2-D, rows of depth slices for 3-D (png, pdf, svg, ...: the formats "
        "matplotlib writes; missing folders are created)",
    )
    explain.add_argument(
        "--versus",
        default="flipped",
        metavar="NAME",
        help="what --plot compares with the baseline: a mutation (default "
        "flipped) or an implementation (torch, module:function, ...)",
    )
    return parser
