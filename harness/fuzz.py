"""`conv-harness fuzz`: random differential testing, with what it finds shrunk into case files.

Configurations of every spatial rank (conv1d, conv2d, conv3d; `ranks` narrows them) are drawn
with hypothesis from harness.strategies.conv_cases (every case field, integers and occasional
NaN/Inf among the data kinds) in chunks of CHUNK examples, chunk k seeded with (seed, k), so the
same seed gives the same configurations and findings however long a run lasts. Each
configuration runs through the implementations and the variants; every failing row (a divergence
with its cause, an error, a harness fault) is a finding, keyed by its signature (operation,
implementation, variant, status, cause): a bug that shows in conv1d and in conv3d is two findings.
For each signature, hypothesis replays the chunk where it first appeared, with the check raising
on that signature, and shrinks the configuration to the smallest one that still shows it (of the
same operation, so of the same rank); that one is saved as a case file, its operation and cause
in its tags.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.cluster import Cluster
from harness.schema import REAL_DTYPES

CHUNK = 50
SEED_STRIDE = 1_000_003
RANKS = (1, 2, 3)


@dataclass(frozen=True)
class Signature:
    implementation: str
    variant: str
    status: str
    cause: str
    op: str = "conv2d"

    def words(self) -> str:
        cause = f" [{self.cause}]" if self.cause else ""
        return f"{self.op} {self.implementation} / {self.variant}: {self.status}{cause}"


def signature_of(row) -> Signature:
    """The finding a failing row belongs to."""
    return Signature(row.implementation, row.variant, row.status, row.cause, row.op)


@dataclass
class Finding:
    signature: Signature
    chunk: int
    first: dict  # the configuration it first appeared on
    message: str
    count: int = 1
    smallest: dict | None = None
    saved: str = ""
    ranks: tuple[int, ...] = RANKS  # the ranks drawn: shrinking replays the same draws
    dtypes: tuple[str, ...] = REAL_DTYPES  # the dtypes drawn, likewise


@dataclass
class FuzzResult:
    configurations: int
    seconds: float
    findings: list[Finding] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.configurations / self.seconds if self.seconds else 0.0


def _settings(count: int, seed: int, shrink: bool):
    from hypothesis import HealthCheck, Phase, settings

    phases = [Phase.generate, Phase.shrink] if shrink else [Phase.generate]
    return settings(
        max_examples=count,
        database=None,
        deadline=None,
        derandomize=False,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
    )


def _run_chunk(
    strategy, seed: int, count: int, check: Callable[[dict], None], shrink: bool = False
) -> None:
    from hypothesis import given
    from hypothesis import seed as hypothesis_seed

    @_settings(count, seed, shrink)
    @hypothesis_seed(seed)
    @given(strategy)
    def chunk(raw):
        check(raw)

    chunk()


def failing_rows(raw: dict, implementations, options) -> list:
    """The failing rows of one configuration (nothing raises out of run_case)."""
    from harness.cases import case_from_dict
    from harness.runner import run_case

    case = case_from_dict(raw)
    return [r for r in run_case(case, implementations, options) if r.failed]


_RESOLVED: list = []


def _failing_rows_named(raw: dict, options, names) -> list:
    """failing_rows on a cluster worker, the implementations resolved there by name (once)."""
    from harness.runner import resolve_implementations

    if not _RESOLVED or _RESOLVED[0] != names:
        _RESOLVED[:] = [names, resolve_implementations(names)]
    return failing_rows(raw, _RESOLVED[1], options)


def fuzz(
    implementations: Sequence[tuple[str, Callable]],
    count: int | None = None,
    seconds: float | None = None,
    seed: int = 0,
    variants: bool = True,
    progress: Callable[[int], None] | None = None,
    ranks: Sequence[int] = RANKS,
    cluster: Cluster | None = None,
    names: Sequence[str] | None = None,
    dtypes: Sequence[str] = REAL_DTYPES,
) -> FuzzResult:
    """Draw configurations of `ranks` and `dtypes` until `count` or `seconds` runs out; the
    findings, not yet shrunk. The real dtypes are drawn unless complex ones are asked for.

    With `cluster` (harness.cluster), each chunk's configurations are drawn here first (the draws
    do not depend on the check, which never raises) and run on the cluster's workers, which
    resolve the implementations `names`; the findings are taken in the draws' order, so they are
    the same as without it.
    """
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(cluster.executor()) if cluster is not None else None
        drawn = (tuple(ranks), tuple(dtypes))
        return _fuzz(implementations, count, seconds, seed, variants, progress, drawn, pool, names)


def _fuzz(implementations, count, seconds, seed, variants, progress, kinds, pool, names):
    from harness.runner import RunOptions

    options = RunOptions(variants=variants)
    ranks, dtypes = kinds
    strategy = _strategy(ranks, dtypes)
    findings: dict[Signature, Finding] = {}
    done = 0
    started = time.monotonic()
    chunk_index = 0

    def out_of_time() -> bool:
        return seconds is not None and time.monotonic() - started >= seconds

    while (count is None or done < count) and not out_of_time():
        size = CHUNK if count is None else min(CHUNK, count - done)

        def take(raw, rows, chunk_index=chunk_index):
            nonlocal done
            done += 1
            for row in rows:
                key = signature_of(row)
                if key in findings:
                    findings[key].count += 1
                else:
                    findings[key] = Finding(
                        key, chunk_index, raw, row.message, ranks=ranks, dtypes=dtypes
                    )
            if progress:
                progress(done)

        def check(raw):
            if out_of_time() or (count is not None and done >= count):
                return
            take(raw, failing_rows(raw, implementations, options))

        chunk_seed = seed * SEED_STRIDE + chunk_index
        if pool is None:
            _run_chunk(strategy, chunk_seed, size, check)
        else:
            drawn: list[dict] = []
            _run_chunk(strategy, chunk_seed, size, drawn.append)
            futures = [pool.submit(_failing_rows_named, raw, options, names) for raw in drawn]
            for raw, future in zip(drawn, futures, strict=True):
                take(raw, future.result())
        chunk_index += 1
    return FuzzResult(done, time.monotonic() - started, list(findings.values()))


def _strategy(ranks: tuple[int, ...], dtypes: tuple[str, ...] = REAL_DTYPES):
    from harness.strategies import conv_cases

    return conv_cases(ranks=ranks, dtypes=dtypes, nonfinite=True, case_id="fuzz")


class _Shown(Exception):
    """The check saw the signature being shrunk."""


def shrink(finding: Finding, implementations, seed: int, variants: bool = True) -> dict:
    """The smallest configuration hypothesis finds that still shows the finding's signature
    (the same operation, so the same rank)."""
    from harness.runner import RunOptions

    options = RunOptions(variants=variants)
    wanted = finding.signature
    smallest = [finding.first]

    def check(raw):
        for row in failing_rows(raw, implementations, options):
            if signature_of(row) == wanted:
                smallest[0] = raw
                raise _Shown()

    try:
        _run_chunk(
            _strategy(finding.ranks, finding.dtypes),
            seed * SEED_STRIDE + finding.chunk,
            CHUNK,
            check,
            shrink=True,
        )
    except _Shown:
        pass
    return smallest[0]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "x"


def save_finding(finding: Finding, directory: str | Path, seed: int, index: int) -> str:
    """Write the finding's smallest configuration as a case file; its path."""
    from harness.yaml_io import dump_yaml

    signature = finding.signature
    raw = dict(finding.smallest or finding.first)
    case_id = (
        f"fuzz_{seed}_{index}_{signature.op}_{slug(signature.implementation)}_"
        f"{slug(signature.variant)}"
    )
    raw["id"] = case_id
    raw["description"] = (
        f"Found by `conv-harness fuzz --seed {seed}`: {signature.words()}. {finding.message[:300]}"
    )
    raw["tags"] = ["fuzz", signature.op, *(c for c in signature.cause.split("+") if c)]
    ordered = {key: raw[key] for key in ("id", "description", "tags") if key in raw}
    ordered.update({k: v for k, v in raw.items() if k not in ordered})
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    target = path / f"{case_id}.yaml"
    text = "# yaml-language-server: $schema=case.schema.json\n" + dump_yaml({"cases": [ordered]})
    target.write_text(text)
    return str(target)


def summary_lines(result: FuzzResult) -> list[str]:
    lines = [
        f"{result.configurations} configurations in {result.seconds:.1f} s "
        f"({result.rate:.0f} per second); {len(result.findings)} distinct findings"
    ]
    for finding in result.findings:
        where = f" -> {finding.saved}" if finding.saved else ""
        lines.append(f"  {finding.signature.words()} on {finding.count} configurations{where}")
        lines.append(f"    {finding.message[:200]}")
    return lines
