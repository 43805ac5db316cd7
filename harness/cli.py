"""Command line: `conv-harness run | list | validate | ...`.

Exit codes: 0 every expectation holds, 1 an unexpected divergence or an error row, 2 bad input or
usage (one line per problem on stderr, no traceback). `list`, `validate` and `--help` import
neither torch, scipy nor pandas, so they answer instantly.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.arguments import DEFAULT_REPORT, build_parser
from harness.cases.errors import HarnessError
from harness.progress import Counter, Progress
from harness.running.cluster import cluster_from_args

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _load(args):
    from harness.cases.loading import load_cases
    from harness.running.select import select

    return select(load_cases(args.paths), getattr(args, "keyword", None))


def _load_for_listing(args):
    """The cases `list` shows: those a run would take, plus the `large` ones it leaves out."""
    from harness.cases.loading import load_cases
    from harness.running.select import LARGE_TAG, select

    keyword = getattr(args, "keyword", None)
    cases = load_cases(args.paths)
    large = [case for case in cases if LARGE_TAG in case.tags]
    if keyword:
        large = select(large, f"{LARGE_TAG} and ({keyword})")
    shown = {case.id for case in [*select(cases, keyword), *large]}
    return [case for case in cases if case.id in shown]


# Below this estimated cost (scipy-leg multiply-adds, harness.running.select.estimated_cost; about
# 10 s of work) worker processes cost more to start (each imports torch) than they save.
PARALLEL_WORTH = 2_500_000_000


def default_jobs(cases) -> int:
    from harness.computations.reference import available_cores
    from harness.running.select import estimated_cost

    if sum(estimated_cost(case) for case in cases) < PARALLEL_WORTH:
        return 1
    return available_cores()


def cmd_list(args) -> int:
    from harness.running.select import LARGE_TAG, names_large_case

    cases = _load_for_listing(args)
    left_out = 0
    for case in cases:
        shape = "x".join(map(str, case.input_shape)) + " * " + "x".join(map(str, case.weight_shape))
        line = f"{case.id}  [{case.op}, {case.dtype}, {shape}]"
        if case.tags:
            line += "  tags: " + ",".join(case.tags)
        if case.skip_reason:
            line += f"  SKIPPED: {case.skip_reason}"
        if LARGE_TAG in case.tags and not names_large_case(case, getattr(args, "keyword", None)):
            line += "  (large: runs only when -k names it, e.g. -k large)"
            left_out += 1
        print(line)
    skipped = sum(1 for c in cases if c.skip_reason)
    extra = f", {left_out} large left out of runs" if left_out else ""
    print(f"{len(cases)} cases ({skipped} skipped{extra})")
    return EXIT_OK


def cmd_validate(args) -> int:
    from harness.cases.loading import discover, load_cases

    files = discover(args.paths)
    cases = load_cases(files)
    skipped = sum(1 for c in cases if c.skip_reason)
    print(f"ok: {len(files)} files, {len(cases)} cases ({skipped} skipped sweep combinations)")
    return EXIT_OK


def cmd_run(args) -> int:
    from harness.computations.registry import resolve_implementations
    from harness.reporting.report import (
        accepts_invalid_lines,
        atomic_write,
        companion_summary_path,
        divergence_summary,
        hidden_lines,
        summary_csv_text,
        summary_lines,
        summary_markdown,
        to_dataframe,
        write_csv,
    )
    from harness.running.executor import iter_records
    from harness.running.runner import RunOptions

    cases = _load(args)
    if args.shard:
        from harness.running.select import parse_shard, shard

        cases = shard(cases, *parse_shard(args.shard))
    # resolved once, here (a bad --impl is a usage error, exit 2, before any worker starts)
    implementations = resolve_implementations(args.impl, isolated=not args.in_process)
    cluster = cluster_from_args(args)
    runnable = [c for c in cases if c.skip_reason is None]
    if not runnable:
        raise HarnessError("no cases selected (check PATHS and -k)")
    options = RunOptions(
        variants=not args.no_variants,
        timeout=args.timeout,
        max_memory=args.max_memory,
        strict_rejections=args.strict_rejections,
        backward=args.backward,
        layouts=args.layouts,
    )
    records = []
    progress = Progress(len(runnable))
    try:
        jobs = 1 if args.in_process else args.jobs or default_jobs(runnable)
        isolate = not args.in_process
        for record in iter_records(
            runnable, implementations, options, jobs=jobs, cluster=cluster, isolate=isolate
        ):
            records.append(record)
            progress.update(record.case_id)
    except KeyboardInterrupt:
        progress.close()
        partial = str(Path(args.out).with_suffix(".interrupted.csv"))
        if records:
            write_csv(to_dataframe(records), partial)
        kept = f"; the {len(records)} rows computed so far are in {partial}" if records else ""
        print(f"conv-harness: interrupted; {args.out} was not touched{kept}", file=sys.stderr)
        return 130
    progress.close()
    frame = to_dataframe(records)
    write_csv(frame, args.out)
    if args.html:
        from harness.html_command import write_page

        write_page(frame, args.html, [args.out])
    if args.summary_md:
        atomic_write(args.summary_md, summary_markdown(records))
    summary_path = None
    if not args.no_variants:
        summary_path = args.summary_out or companion_summary_path(args.out, DEFAULT_REPORT)
        atomic_write(summary_path, summary_csv_text(divergence_summary(records)))
    for line in summary_lines(records) + hidden_lines(records) + accepts_invalid_lines(records):
        print(line)
    skipped = [c for c in cases if c.skip_reason]
    if skipped:
        print(
            f"{len(skipped)} sweep combinations skipped (torch rejects them); "
            "see `conv-harness list`"
        )
    print(f"report: {args.out}" + (f", divergence summary: {summary_path}" if summary_path else ""))
    if args.html:
        print(f"page: {args.html}")
    return EXIT_FAILED if any(r.failed for r in records) else EXIT_OK


def cmd_schema(args) -> int:
    import json

    from harness.cases.loading import case_json_schema

    print(json.dumps(case_json_schema(), indent=2, sort_keys=True))
    return EXIT_OK


def cmd_merge(args) -> int:
    from harness.reporting.report import merge_reports, write_csv

    merged = merge_reports(args.reports)
    write_csv(merged, args.out)
    print(f"{len(merged)} rows from {len(args.reports)} reports: {args.out}")
    return EXIT_OK


def cmd_report(args) -> int:
    from harness.html_command import report_page

    return report_page(args.reports, args.html)


def cmd_coverage(args) -> int:
    from harness.reporting.coverage import (
        coverage_lines,
        family_rank_lines,
        member_coverage,
        member_lines,
        registry_coverage,
    )

    cases = [c for c in _load(args) if c.computes]
    table = registry_coverage(cases)
    lines, warnings = coverage_lines(table, len(cases))
    rank_lines, rank_warnings = family_rank_lines(table, sorted({c.op for c in cases}))
    lines += rank_lines
    warnings += rank_warnings
    by_member, gaps = member_lines(member_coverage(cases))
    lines += by_member
    strict = getattr(args, "strict_members", False)
    notes = [] if strict else [f"note: {gap}" for gap in gaps]
    warnings += [f"warning: {gap}" for gap in gaps] if strict else []
    for line in lines:
        print(line)
    for line in warnings + notes:
        print(line, file=sys.stderr)
    return EXIT_FAILED if warnings else EXIT_OK


def cmd_diagnose(args) -> int:
    import json

    from harness.cases.yaml_io import dump_yaml
    from harness.computations.registry import resolve
    from harness.probing.diagnose import diagnose, human_lines
    from harness.probing.diagnose_isolated import isolated_diagnose
    from harness.reporting.report import atomic_write

    # resolved once, here: a bad name is a usage error, before any worker starts
    implementation = resolve(args.impl, isolated=not args.in_process)
    if args.in_process:
        diagnosis = diagnose(implementation)
    else:  # in a worker process: a call that crashes natively is its probe's error
        diagnosis = isolated_diagnose(implementation)
    if args.json:
        print(json.dumps(diagnosis.as_json(), indent=2, allow_nan=True))
    else:
        for line in human_lines(diagnosis):
            print(line)
    if args.save_case:
        if diagnosis.counterexample is None:
            print("no counterexample to save: every probe matches", file=sys.stderr)
        else:
            atomic_write(args.save_case, dump_yaml({"cases": [diagnosis.counterexample]}))
            print(f"counterexample written to {args.save_case}", file=sys.stderr)
    return EXIT_OK if diagnosis.verdict == "matches" else EXIT_FAILED


def _no_case(case_id: str, paths: list[str], ids: list[str]) -> str:
    """One line for an unknown CASE_ID: where explain looked, and the closest ids."""
    import difflib

    from harness.cases.loading import default_case_paths

    looked = ", ".join(paths or default_case_paths())
    where = f"among the {len(ids)} case{'s' if len(ids) != 1 else ''} in {looked}"
    if not paths:
        where += " (the default; name case files or directories after CASE_ID to look there)"
    close = difflib.get_close_matches(case_id, ids, n=3, cutoff=0.6)
    if Path(case_id).exists():  # a path where the id goes: explain CASE_ID [PATHS]
        hint = f"; '{case_id}' is a file or directory: CASE_ID comes first, `explain CASE_ID PATHS`"
    elif close:
        hint = "; did you mean " + " or ".join(f"'{name}'" for name in close) + "?"
    else:
        hint = "; `conv-harness list` shows the ids"
    return f"no case '{case_id}' {where}{hint}"


def cmd_explain(args) -> int:
    from harness.cases.loading import load_cases
    from harness.reporting.explain import explain_lines, parse_index

    paths = [*args.paths, *(args.cases or [])]
    cases = {case.id: case for case in load_cases(paths)}
    case = cases.get(args.case_id)
    if case is None:
        raise HarnessError(_no_case(args.case_id, paths, list(cases)))
    if not case.computes:
        why = case.skip_reason or f"it declares that torch rejects it ({case.rejection})"
        raise HarnessError(f"case '{case.id}' has no output to explain: {why}")
    if case.transposed and args.quantity == "output":
        raise HarnessError(
            f"case '{case.id}' is a {case.op}: explain shows {case.forward_op}'s elements (its "
            "grad_input, with --quantity grad_input, is the same true convolution)"
        )
    if case.input_shape[0] == 0 and args.quantity in ("output", "grad_input"):
        from harness.reporting.explain import empty_batch_line

        print(empty_batch_line(case, args.quantity))
        return EXIT_OK
    if args.quantity != "output":
        from harness.reporting.explain_backward import explain_gradient_lines, parse_gradient_index

        index = parse_gradient_index(args.at, case, args.quantity)
        for line in explain_gradient_lines(case, args.quantity, index):
            print(line)
        if args.plot:
            from harness.reporting.explain_backward import plot_gradient

            print(plot_gradient(case, args.quantity, index, args.plot))
        return EXIT_OK
    at = parse_index(args.at, case)
    versus = None
    if args.plot:  # a bad --plot or --versus fails before the explanation is printed
        from harness.reporting.explain import check_plot_path

        check_plot_path(args.plot)
        versus = _versus(args.versus)
    for line in explain_lines(case, at):
        print(line)
    if versus is not None:
        from harness.reporting.explain import plot_comparison

        print(plot_comparison(case, at, versus, args.plot))
    return EXIT_OK


def _versus(name: str):
    """explain --versus resolved once: a mutation's name, or the Implementation it names (an
    unavailable peer or a broken plug-in says why); HarnessError for neither."""
    from harness.computations.registry import resolve_known, shipped_names
    from harness.explaining.mutations import MUTATIONS
    from harness.reporting.explain import versus_problem

    if name in MUTATIONS:
        return name
    implementation = resolve_known(name)
    if implementation is None:
        raise HarnessError(versus_problem(name, shipped_names()))
    return implementation


def cmd_fuzz(args) -> int:
    from harness.computations.registry import resolve_implementations
    from harness.running.isolation import isolated

    implementations = resolve_implementations(args.impl, isolated=True)
    cluster = cluster_from_args(args)
    count = args.count if args.count or args.seconds else 500
    counter = Counter(count)
    with contextlib.ExitStack() as stack:
        if cluster is None:  # each configuration in a worker process: a native crash is a finding
            stack.enter_context(isolated(args.impl))
        return _fuzz_findings(args, implementations, cluster, count, counter)


def _fuzz_findings(args, implementations, cluster, count, counter) -> int:
    from harness.cases.schema import REAL_DTYPES
    from harness.fuzz import RANKS, fuzz, save_finding, shrink_findings, summary_lines

    result = fuzz(
        implementations,
        count=count,
        seconds=args.seconds,
        seed=args.seed,
        variants=not args.no_variants,
        progress=counter.update,
        cluster=cluster,
        names=args.impl,
        ranks=tuple(sorted(set(args.rank))) if args.rank else RANKS,
        dtypes=tuple(dict.fromkeys(args.dtype)) if args.dtype else REAL_DTYPES,
        op=args.op,
        backward=args.backward,
    )
    counter.close()
    shrink_findings(result, implementations, args.seed, variants=not args.no_variants)
    for index, finding in enumerate(result.findings):
        finding.saved = save_finding(finding, args.save, args.seed, index)
    for line in summary_lines(result):
        print(line)
    return EXIT_FAILED if result.findings else EXIT_OK


COMMANDS = {
    "run": cmd_run,
    "fuzz": cmd_fuzz,
    "list": cmd_list,
    "validate": cmd_validate,
    "coverage": cmd_coverage,
    "explain": cmd_explain,
    "diagnose": cmd_diagnose,
    "merge": cmd_merge,
    "report": cmd_report,
    "schema": cmd_schema,
}


def main(argv: Sequence[str] | None = None) -> int:
    # torch (imported later, lazily) and NumPy's BLAS take turns on the same cores; OpenMP threads
    # that spin after each torch call slow the NumPy work that follows. A user's setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except HarnessError as error:
        for problem in error.problems:
            print(f"conv-harness: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            "conv-harness: interrupted; no report was written (an earlier report is unchanged)",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
