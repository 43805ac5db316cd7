"""`conv-harness fuzz`: random differential testing, with what it finds shrunk into case files.

Configurations of every spatial rank (`ranks` narrows them) of one operation (`op`: "conv", the
convolutions conv1d/2d/3d, drawn by harness.strategies.conv_cases; "conv_transpose", the
transposed ones, by conv_transpose_cases) are drawn with hypothesis (every case field, integers
and occasional NaN/Inf among the data kinds) in chunks of CHUNK examples, chunk k seeded with
(seed, k), so the same seed gives the same configurations and findings however long a run lasts.
With `backward`, each configuration also draws its grad_output and runs the gradients' rows
(`run --backward`: grad_input, grad_weight, grad_bias). Each configuration runs through the
implementations and the variants; every failing row (a divergence with its cause, an error, a
harness fault) is a finding, keyed by its signature (operation, quantity, implementation,
variant, status, cause): a bug that shows in conv1d and in conv3d is two findings, and so is one
in grad_input and in grad_weight. For each signature, hypothesis replays the chunk where it first
appeared, with the check raising on that signature, and shrinks the configuration to the smallest
one that still shows it (of the same operation, so of the same rank); that one is saved as a case
file (its grad_output and output_padding with it), its operation, quantity and cause in its tags,
its description quoting the shrunk configuration's message.

`seconds` bounds the whole run, shrinking included (`Budget`): a configuration starts only while
time is left, so a run ends within `seconds` plus the time of one configuration. Once something is
found, drawing stops early enough to leave the time of SHRINK_STEPS configurations per finding
(at most SHRINK_SHARE of the budget), and `shrink_findings` shares what is left among the
findings (what one leaves unused goes to the next); a shrink that runs out of time keeps the
smallest configuration seen so far, and the finding says how far it got (`Finding.shrunk`).
Time is read from `clock` (time.monotonic unless one is passed in).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.cases.schema import REAL_DTYPES
from harness.computations.implementation import Implementation
from harness.running.cluster import Cluster

CHUNK = 50
SHRINK_SHARE = 0.25  # of a --seconds budget, the most kept for shrinking once something is found
SHRINK_STEPS = 500  # configurations kept for shrinking each finding, within SHRINK_SHARE
SEED_STRIDE = 1_000_003
RANKS = (1, 2, 3)
OPS = ("conv", "conv_transpose")


@dataclass(frozen=True)
class Signature:
    implementation: str
    variant: str
    status: str
    cause: str
    op: str = "conv2d"
    quantity: str = "output"  # output, grad_input, grad_weight, grad_bias

    def words(self) -> str:
        cause = f" [{self.cause}]" if self.cause else ""
        where = self.op if self.quantity == "output" else f"{self.op} {self.quantity}"
        return f"{where} {self.implementation} / {self.variant}: {self.status}{cause}"


def signature_of(row) -> Signature:
    """The finding a failing row belongs to."""
    return Signature(row.implementation, row.variant, row.status, row.cause, row.op, row.quantity)


@dataclass(frozen=True)
class Draws:
    """What is drawn: the ranks, the dtypes, the operation (OPS) and whether its gradients run
    too; shrinking replays the same draws."""

    ranks: tuple[int, ...] = RANKS
    dtypes: tuple[str, ...] = REAL_DTYPES
    op: str = "conv"
    backward: bool = False

    def strategy(self):
        from harness.strategies import conv_cases, conv_transpose_cases

        if self.op not in OPS:
            raise ValueError(f"fuzz draws one of {OPS}, not {self.op!r}")
        draw = conv_transpose_cases if self.op == "conv_transpose" else conv_cases
        options = {"grad_output": True} if self.backward else {}
        return draw(ranks=self.ranks, dtypes=self.dtypes, nonfinite=True, case_id="fuzz", **options)

    def options(self, variants: bool):
        from harness.running.runner import RunOptions

        return RunOptions(variants=variants, backward=self.backward)


class _OutOfTime(BaseException):
    """The budget ran out: stops hypothesis at once (not an Exception, so hypothesis does not
    take it for a failure to shrink)."""


@dataclass
class Budget:
    """A run's time: `seconds` from `started` as read on `clock` (no limit when None)."""

    seconds: float | None
    clock: Callable[[], float]
    started: float

    @classmethod
    def start(cls, seconds: float | None, clock: Callable[[], float] | None = None) -> Budget:
        clock = clock or time.monotonic
        return cls(seconds, clock, clock())

    def elapsed(self) -> float:
        return self.clock() - self.started

    def left(self) -> float:
        """Seconds left (infinite without a limit)."""
        return float("inf") if self.seconds is None else self.seconds - self.elapsed()

    def drawing_over(self, found: int = 0, per_configuration: float = 0.0) -> bool:
        """No configuration is to be drawn: the time is out, or only what is kept for shrinking
        the `found` findings is left: SHRINK_STEPS configurations of `per_configuration`
        seconds each, at most SHRINK_SHARE of the budget."""
        if self.seconds is None:
            return False
        kept = min(found * SHRINK_STEPS * per_configuration, self.seconds * SHRINK_SHARE)
        return self.left() <= kept


@dataclass
class Finding:
    signature: Signature
    chunk: int
    first: dict  # the configuration it first appeared on
    message: str
    count: int = 1
    smallest: dict | None = None
    saved: str = ""
    draws: Draws = Draws()  # what was drawn: shrinking replays the same draws
    smallest_message: str = ""  # the message of the smallest configuration's row
    shrunk: str = ""  # "shrunk", "partly shrunk", "not shrunk"; "" before shrinking
    shrink_stop: str = ""  # why shrinking stopped short: "out of time", "flaky", "not drawn again"
    shrink_steps: int = 0  # configurations run while shrinking

    @property
    def shrink_words(self) -> str:
        """How far shrinking got, when it stopped short ("" when it finished or never ran)."""
        return f"{self.shrunk}: {self.shrink_stop}" if self.shrink_stop else ""

    @property
    def shown_message(self) -> str:
        """The message of the configuration saved: the shrunk one's once shrinking found it."""
        return self.smallest_message or self.message


@dataclass
class FuzzResult:
    configurations: int
    seconds: float
    findings: list[Finding] = field(default_factory=list)
    budget: Budget | None = None  # the run's time, which shrinking shares
    shrink_seconds: float = 0.0  # spent by shrink_findings

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
    """The failing rows of one configuration (nothing raises out of run_case; a worker that dies
    gives error rows, harness.running.isolation)."""
    from harness.cases.loading import case_from_dict
    from harness.running.isolation import case_rows

    case = case_from_dict(raw)  # in the worker of an `isolated` block (cmd_fuzz opens one)
    return [r for r in case_rows(case, implementations, options) if r.failed]


_RESOLVED: list = []


def _failing_rows_named(raw: dict, options, names) -> list:
    """failing_rows on a cluster worker, the implementations resolved there by name (once)."""
    from harness.computations.registry import resolve_implementations

    if not _RESOLVED or _RESOLVED[0] != names:
        _RESOLVED[:] = [names, resolve_implementations(names)]
    return failing_rows(raw, _RESOLVED[1], options)


def fuzz(
    implementations: Sequence[Implementation],
    count: int | None = None,
    seconds: float | None = None,
    seed: int = 0,
    variants: bool = True,
    progress: Callable[[int], None] | None = None,
    ranks: Sequence[int] = RANKS,
    cluster: Cluster | None = None,
    names: Sequence[str] | None = None,
    dtypes: Sequence[str] = REAL_DTYPES,
    op: str = "conv",
    backward: bool = False,
    clock: Callable[[], float] | None = None,
) -> FuzzResult:
    """Draw configurations of operation `op` ("conv" or "conv_transpose", OPS), of `ranks` and
    `dtypes` until `count` or `seconds` runs out, whichever comes first, with their gradients if
    `backward`; the findings, not yet shrunk (`shrink_findings` shrinks them in the time left).
    The real dtypes are drawn unless complex ones are asked for. `clock` reads the time
    (time.monotonic by default).

    With `cluster` (harness.running.cluster), each chunk's configurations are drawn here first (the
    draws do not depend on the check, which never raises) and run on the cluster's workers, which
    resolve the implementations `names`; the findings are taken in the draws' order, so they are
    the same as without it.
    """
    draws = Draws(tuple(ranks), tuple(dtypes), op, backward)
    strategy = draws.strategy()  # a wrong op fails before a cluster starts
    budget = Budget.start(seconds, clock)
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(cluster.executor()) if cluster is not None else None
        return _fuzz(
            implementations, count, budget, seed, variants, progress, draws, strategy, pool, names
        )


def _fuzz(implementations, count, budget, seed, variants, progress, draws, strategy, pool, names):
    options = draws.options(variants)
    findings: dict[Signature, Finding] = {}
    done = 0
    chunk_index = 0

    def out_of_time() -> bool:
        return budget.drawing_over(len(findings), budget.elapsed() / max(done, 1))

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
                    findings[key] = Finding(key, chunk_index, raw, row.message, draws=draws)
            if progress:
                progress(done)

        def check(raw):
            if out_of_time():
                raise _OutOfTime()
            take(raw, failing_rows(raw, implementations, options))

        chunk_seed = seed * SEED_STRIDE + chunk_index
        if pool is None:
            with contextlib.suppress(_OutOfTime):
                _run_chunk(strategy, chunk_seed, size, check)
        else:
            drawn: list[dict] = []
            _run_chunk(strategy, chunk_seed, size, drawn.append)
            futures = [pool.submit(_failing_rows_named, raw, options, names) for raw in drawn]
            for raw, future in zip(drawn, futures, strict=True):
                if out_of_time():  # what is still queued is not waited for
                    for queued in futures:
                        queued.cancel()
                    break
                take(raw, future.result())
        chunk_index += 1
    return FuzzResult(done, budget.elapsed(), list(findings.values()), budget)


class _Shown(Exception):
    """The check saw the signature being shrunk."""


def shrink(
    finding: Finding,
    implementations,
    seed: int,
    variants: bool = True,
    seconds: float | None = None,
    clock: Callable[[], float] | None = None,
) -> dict:
    """The smallest configuration hypothesis finds within `seconds` (no limit when None) that
    still shows the finding's signature (the same operation, so the same rank); its row's
    message becomes the finding's `smallest_message`. A step (one configuration run) starts
    only while time is left; when it runs out, the smallest seen so far is kept, and
    `finding.shrunk` says so ("partly shrunk", or "not shrunk" when none smaller was seen).

    Hypothesis replays the chunk the finding first appeared in; the configurations drawn before
    that one are passed over without running (they did not show it when drawn)."""
    options = finding.draws.options(variants)
    wanted = finding.signature
    smallest = [finding.first]
    budget = Budget.start(seconds, clock)
    first = repr(finding.first)
    replayed = [False]

    def check(raw):
        if not replayed[0]:
            if repr(raw) != first:
                return
            replayed[0] = True
        if budget.left() <= 0:
            raise _OutOfTime()
        finding.shrink_steps += 1
        for row in failing_rows(raw, implementations, options):
            if signature_of(row) == wanted:
                smallest[0] = raw
                finding.smallest_message = row.message
                raise _Shown()

    from hypothesis.errors import Flaky

    try:
        _run_chunk(
            finding.draws.strategy(),
            seed * SEED_STRIDE + finding.chunk,
            CHUNK,
            check,
            shrink=True,
        )
        finding.shrink_stop = "not drawn again"  # nothing to shrink from
    except _Shown:
        finding.shrink_stop = ""
    except _OutOfTime:
        finding.shrink_stop = "out of time"
    except Flaky:  # an implementation whose rows change from one call to the next
        finding.shrink_stop = "flaky"
    moved = repr(smallest[0]) != first
    finding.shrunk = (
        "shrunk" if not finding.shrink_stop else "partly shrunk" if moved else "not shrunk"
    )
    return smallest[0]


def shrink_findings(result: FuzzResult, implementations, seed: int, variants: bool = True):
    """Shrink every finding of `result` (`Finding.smallest`) within what is left of the run's
    budget, shared evenly among the findings still to shrink."""
    budget = result.budget or Budget.start(None)
    started = budget.elapsed()
    for index, finding in enumerate(result.findings):
        share = None
        if budget.seconds is not None:
            share = max(budget.left(), 0.0) / (len(result.findings) - index)
        finding.smallest = shrink(
            finding, implementations, seed, variants, seconds=share, clock=budget.clock
        )
    result.shrink_seconds = budget.elapsed() - started


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "x"


def save_finding(finding: Finding, directory: str | Path, seed: int, index: int) -> str:
    """Write the finding's smallest configuration as a case file; its path."""
    from harness.cases.yaml_io import dump_yaml

    signature = finding.signature
    raw = dict(finding.smallest or finding.first)
    quantity = "" if signature.quantity == "output" else f"{signature.quantity}_"
    case_id = (
        f"fuzz_{seed}_{index}_{signature.op}_{quantity}{slug(signature.implementation)}_"
        f"{slug(signature.variant)}"
    )
    raw["id"] = case_id
    state = f" ({finding.shrink_words})" if finding.shrink_words else ""
    raw["description"] = (
        f"Found by `conv-harness fuzz --seed {seed}`: {signature.words()}{state}. "
        f"{finding.shown_message[:300]}"
    )
    tags = [signature.op, *([signature.quantity] if quantity else [])]
    raw["tags"] = ["fuzz", *tags, *(c for c in signature.cause.split("+") if c)]
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
    if any(f.shrunk for f in result.findings):
        lines[0] += f", shrunk in {result.shrink_seconds:.1f} s"
    short = [f for f in result.findings if f.shrink_words]
    if short:
        lines[0] += f"; {len(short)} saved before shrinking finished (see below)"
        if any(f.shrink_stop == "out of time" for f in short):
            lines[0] += "; a longer --seconds shrinks further"
    for finding in result.findings:
        where = f" -> {finding.saved}" if finding.saved else ""
        state = f" ({finding.shrink_words})" if finding.shrink_words else ""
        lines.append(
            f"  {finding.signature.words()} on {finding.count} configurations{where}{state}"
        )
        lines.append(f"    {finding.shown_message[:200]}")
    return lines
