"""The one code path from cases to Records, shared by the CLI and the pytest matrix.

For each case: materialise its arrays (rounded to the case dtype), compute the baseline (the
float64 reference on those rounded values), call every implementation on fresh copies of the
inputs, compare, and emit one Record per (case, implementation, variant). Nothing an
implementation does (raise, return garbage, mutate its inputs) escapes as an exception: it becomes
a Record with status `error` or `unsupported` and a message.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from harness import reference
from harness.cases import Case
from harness.baseline import Baseline, compute_baseline
from harness.compare import compare, describe
from harness.data import CaseArrays, expected_array, materialize, round_to_dtype
from harness.implementations import (
    DEFAULT_IMPLEMENTATIONS,
    get_implementation,
    harness_pads_first,
    is_plugin,
)
from harness.explanation import explain_divergence
from harness.variants import variant_records

BASELINE = "reference_float64"
COLUMNS = (
    "case_id", "source", "implementation", "variant", "baseline", "dtype", "input_shape",
    "weight_shape", "stride", "padding", "dilation", "groups", "padding_mode", "output_shape",
    "baseline_shape", "max_abs_diff", "max_rel_diff", "mismatched", "total", "worst_index", "atol",
    "rtol", "expected", "observed", "status", "cause", "message",
    # appended to DESIGN.md's columns:
    "sampled", "case_index",
)
FAILING_STATUSES = ("unexpected_divergence", "unexpected_agreement", "error")
# a plug-in accepted a case declared `rejects`: reported, failing only with --strict-rejections
ACCEPTS_INVALID = "accepts_invalid"


@dataclass
class Record:
    """One report row (the CSV columns of DESIGN.md, in order)."""

    case_id: str
    source: str
    implementation: str
    variant: str
    baseline: str
    dtype: str
    input_shape: str
    weight_shape: str
    stride: str
    padding: str
    dilation: str
    groups: int
    padding_mode: str
    output_shape: str
    baseline_shape: str
    max_abs_diff: float | None
    max_rel_diff: float | None
    mismatched: int | None
    total: int | None
    worst_index: str
    atol: float | None
    rtol: float | None
    expected: str
    observed: str
    status: str
    cause: str
    message: str
    sampled: str = ""  # "k/N maps" when only a sample of output maps was computed
    case_index: int = -1  # the case's position in the loaded registry (merging shards)
    # not a column: the run's policy for ACCEPTS_INVALID rows (RunOptions.strict_rejections)
    strict_rejections: bool = field(default=False, repr=False, compare=False)

    def as_row(self) -> dict:
        row = asdict(self)
        del row["strict_rejections"]
        return row

    @property
    def failed(self) -> bool:
        if self.status == ACCEPTS_INVALID:
            return self.strict_rejections
        return self.status in FAILING_STATUSES


def shape_text(shape: Iterable[int] | None) -> str:
    return "" if shape is None else "x".join(str(int(s)) for s in shape)


class ImplementationFault(Exception):
    """An implementation misbehaved; the message goes into the row."""


@dataclass
class Outcome:
    """What one implementation produced for one case."""

    output: np.ndarray | None
    status: str | None = None  # "error" / "unsupported" when output is None
    message: str = ""
    # the output contract (output_contract) broken despite an output: an `error` row in `run`,
    # an `error` probe in `diagnose`
    contract: str = ""


DEFAULT_MAX_MEMORY = 2 * 2**30


@dataclass(frozen=True)
class RunOptions:
    """How to run: variant rows, a per-call time limit, the memory budget per case, and whether a
    plug-in that accepts a case declared `rejects` fails the run."""

    variants: bool = True
    timeout: float | None = None  # seconds per implementation call (main thread only)
    max_memory: int = DEFAULT_MAX_MEMORY
    strict_rejections: bool = False  # ACCEPTS_INVALID rows count as failing (Record.failed)


class CallTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Raise CallTimeout in the calling code after `seconds` (SIGALRM; main thread only).

    Pure-Python loops and sleeps are interrupted; a single long call into C code is interrupted
    when it returns to Python.
    """
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise CallTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def call_arguments(case: Case, arrays: CaseArrays, handles_padding_mode: bool):
    """Positional inputs and keyword parameters to call an implementation with."""
    x = np.array(arrays.input)
    kwargs: dict = {
        "stride": _compact_pair(case.stride),
        "dilation": _compact_pair(case.dilation),
        "groups": case.groups,
    }
    padding = case.padding
    if handles_padding_mode:
        kwargs["padding"] = padding
        kwargs["padding_mode"] = case.padding_mode
    else:
        # F.conv2d's forms pass through: int, (pH, pW), 'same', 'valid' with zero padding;
        # other padding modes and (top, bottom, left, right) are applied here, as nn.Conv2d does
        top, bottom, left, right = case.pads
        if harness_pads_first(case, False):
            reference.check_padding(x.shape[2], x.shape[3], case.pads, case.padding_mode)
            x = reference.pad(x, case.pads, case.padding_mode)
            padding = 0
        elif not isinstance(padding, str):
            padding = top if top == left else (top, left)
        kwargs["padding"] = padding
    weight = np.array(arrays.weight)
    bias = None if arrays.bias is None else np.array(arrays.bias)
    return (x, weight, bias), kwargs


def _compact_pair(pair: tuple[int, int]):
    return pair[0] if pair[0] == pair[1] else pair


def to_numpy(result) -> tuple[np.ndarray, str | None]:
    """An implementation's result as a NumPy array, and the name of the result's own dtype.

    torch tensors of any dtype (bfloat16 and other floats NumPy lacks become float32, exactly), on
    any device, with grad; NumPy arrays and scalars; anything with `__array__` (a JAX array gives an
    `ml_dtypes` bfloat16 array for a bfloat16 result). Lists, tuples and Python numbers have no
    dtype of their own: the name is None and the caller reads them in the case's dtype. Anything
    else is an ImplementationFault.
    """
    torch = sys.modules.get("torch")  # a torch tensor exists only once torch is imported
    if torch is not None and isinstance(result, torch.Tensor):
        tensor = result.detach()
        if tensor.layout != torch.strided:
            tensor = tensor.to_dense()
        tensor = tensor.cpu().resolve_conj().resolve_neg()
        name = str(tensor.dtype).removeprefix("torch.")
        if tensor.is_floating_point() and tensor.dtype not in (
                torch.float16, torch.float32, torch.float64):
            tensor = tensor.float()  # bfloat16, float8: every value is a float32
        return tensor.numpy(), name
    if isinstance(result, (list, tuple, int, float)):
        return np.asarray(result), None
    if isinstance(result, np.generic) or any(
            hasattr(result, attribute)
            for attribute in ("__array__", "__array_interface__", "__array_struct__")):
        array = np.asarray(result)
        return array, array.dtype.name
    raise ImplementationFault(f"returned {type(result).__name__}, not an array")


def real_values(array: np.ndarray) -> np.ndarray:
    """The array's values in float64, exactly for every float format up to float64.

    Integers and floats are read as they are; `ml_dtypes` floats (bfloat16, float8_*; NumPy dtype
    kind 'V') too, without ml_dtypes being needed here: bfloat16 is the upper half of a float32.
    Anything else (complex, bool, strings, objects) is an ImplementationFault.
    """
    dtype = array.dtype
    if dtype.kind in "fiu":
        return array.astype(np.float64)
    if dtype.kind == "V" and dtype.name == "bfloat16" and dtype.itemsize == 2:
        bits = array.view(np.uint16).astype(np.uint32) << 16
        return bits.view(np.float32).astype(np.float64)
    if dtype.kind == "V" and getattr(dtype.type, "__module__", "").startswith("ml_dtypes"):
        try:
            return array.astype(np.float64)  # ml_dtypes registers these casts
        except (TypeError, ValueError):
            pass
    raise ImplementationFault(f"returned an array of dtype {dtype}, not real numbers")


def output_contract(dtype: str | None, case_dtype: str) -> str:
    """The output contract, shared by `run` and `diagnose`: '' when it holds, else what breaks it.

    A result with a dtype of its own must have the case's dtype; for bfloat16 cases (whose inputs
    arrive as float32 arrays holding bfloat16 values) float32 and bfloat16 both qualify. A result
    without one (a list, a tuple, a Python number; dtype None) is read in the case's dtype and
    never breaks it.
    """
    if dtype is None or dtype == case_dtype:
        return ""
    if case_dtype == "bfloat16":
        if dtype == "float32":
            return ""
        return (f"returned {dtype} for bfloat16 inputs (conv2d returns the input's dtype: "
                "bfloat16, or float32 holding bfloat16 values)")
    return f"returned {dtype} for {case_dtype} inputs (conv2d returns the input's dtype)"


# The scipy leg (a Python loop over 2-D correlations, holding the GIL) runs 30-1500x slower
# than torch. Its cost is counted in multiply-adds: each correlate2d call computes the
# full-resolution 'valid' correlation of one padded input plane with the (dilation-spread)
# kernel, strides are taken afterwards, and the call itself costs about as much as
# SCIPY_CALL_COST multiply-adds (about 4 us here), which dominates for 1x1 kernels on small
# planes. Above SCIPY_FULL_COST
# (about 30-50 ms of work) the leg computes a deterministic sample of output maps.
SCIPY_FULL_COST = 20_000_000
SCIPY_CALL_COST = 3_000


def scipy_map_cost(case: Case) -> int:
    """Multiply-adds (call overhead included) the scipy leg spends on one (n, o) output map."""
    _, _, h, w = case.input_shape
    _, cg, kh, kw = case.weight_shape
    (dh, dw), (top, bottom, left, right) = case.dilation, case.pads
    spread_h, spread_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    valid = max(0, h + top + bottom - spread_h + 1) * max(0, w + left + right - spread_w + 1)
    return cg * (SCIPY_CALL_COST + valid * spread_h * spread_w)


def scipy_cost(case: Case) -> int:
    n, c_out = case.output_shape[:2]
    return n * c_out * scipy_map_cost(case)


def sampled_maps(case: Case) -> list[tuple[int, int]] | None:
    """(n, o) output maps for a slow leg on a large case, or None to compute everything."""
    n, c_out = case.output_shape[:2]
    per_map = scipy_map_cost(case)
    if n * c_out * per_map <= SCIPY_FULL_COST:
        return None
    count = max(1, SCIPY_FULL_COST // max(per_map, 1))
    # output channels spread evenly (as many distinct ones as there are maps, up to C_out) and
    # images taken in turn: an even spread over the flat (n, o) index can alias onto a few
    # channels or a single image
    return sorted({(k % n, (k * c_out) // count) for k in range(count)})


def maps_mask(shape, maps) -> np.ndarray | None:
    if maps is None:
        return None
    mask = np.zeros(shape[:2], dtype=bool)
    for n, o in maps:
        mask[n, o] = True
    return np.broadcast_to(mask[:, :, None, None], shape)


def call_implementation(func: Callable, case: Case, arrays: CaseArrays,
                        timeout: float | None = None, maps=None) -> Outcome:
    handles = bool(getattr(func, "handles_padding_mode", False))
    try:
        args, kwargs = call_arguments(case, arrays, handles)
    except ValueError as error:  # the padding step nn.Conv2d would take refuses, as F.pad does
        return Outcome(None, "error", _one_line(f"padding before the call refused: {error}"))
    if maps is not None and getattr(func, "samples_output_maps", False):
        kwargs["output_maps"] = maps
    originals = [None if a is None else a.copy() for a in args]
    try:
        with time_limit(timeout):
            result = func(*args, **kwargs)
    except CallTimeout:
        return Outcome(None, "error", f"ran past the {timeout:g} s timeout (--timeout)")
    except NotImplementedError as error:
        return Outcome(None, "unsupported", _one_line(f"NotImplementedError: {error}"))
    except Exception as error:
        return Outcome(None, "error", _one_line(f"raised {type(error).__name__}: {error}"))
    for name, given, original in zip(("input", "weight", "bias"), args, originals):
        if given is not None and not np.array_equal(given, original, equal_nan=True):
            return Outcome(None, "error", f"modified its {name} argument in place")
    try:
        values, dtype = to_numpy(result)
        output = real_values(values)
    except ImplementationFault as error:
        return Outcome(None, "error", _one_line(str(error)))
    except Exception as error:
        return Outcome(None, "error", _one_line(f"result could not be read as an array: {error}"))
    if dtype is None:  # no dtype of its own (a list): read in the case's dtype
        output = round_to_dtype(output, case.dtype).astype(np.float64)
    return Outcome(output, None, "", output_contract(dtype, case.dtype))


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _case_columns(case: Case) -> dict:
    return {
        "case_id": case.id,
        "source": case.file,
        "dtype": case.dtype,
        "input_shape": shape_text(case.input_shape),
        "weight_shape": shape_text(case.weight_shape),
        "stride": shape_text(case.stride),
        "padding": case.padding_label,
        "dilation": shape_text(case.dilation),
        "groups": case.groups,
        "padding_mode": case.padding_mode,
        "case_index": case.index,
    }


def make_record(case: Case, implementation: str, variant: str, reference_result: Baseline,
                output: np.ndarray | None, *, expected: str = "agree", status: str | None = None,
                message: str = "", cause: str = "", baseline_name: str = BASELINE,
                maps=None) -> Record:
    """A row for one output compared with the baseline (or a row for a failed call)."""
    baseline, tol = reference_result.output, reference_result.tolerance
    columns = _case_columns(case)
    if output is None:
        return Record(
            **columns, implementation=implementation, variant=variant, baseline=baseline_name,
            output_shape="", baseline_shape=shape_text(baseline.shape), max_abs_diff=None,
            max_rel_diff=None, mismatched=None, total=int(baseline.size), worst_index="",
            atol=tol.atol_at(None), rtol=tol.rtol, expected=expected,
            observed="error" if status == "error" else "", status=status or "error", cause="",
            message=message,
        )
    mask = maps_mask(baseline.shape, maps) if output.shape == baseline.shape else None
    metrics = compare(output, baseline, tol, where=mask)
    observed = "agree" if metrics.agree else "diverge"
    detail = describe(metrics, tol, output.shape, baseline.shape)
    if status is None:
        status = "ok" if observed == expected else (
            "unexpected_divergence" if observed == "diverge" else "unexpected_agreement"
        )
    if observed == "agree":
        cause = ""
    sample_note = ""
    if mask is not None:
        sample_note = (f"computed on a sample of {len(maps)} of {baseline.shape[0] * baseline.shape[1]}"
                       " output maps (large case; see SCIPY_FULL_COST)")
    text = "; ".join(p for p in (sample_note, message, detail) if p)
    atol = tol.atol_at(metrics.worst_index if metrics.shape_ok else None)
    return Record(
        **columns, implementation=implementation, variant=variant, baseline=baseline_name,
        output_shape=shape_text(output.shape), baseline_shape=shape_text(baseline.shape),
        max_abs_diff=metrics.max_abs_diff, max_rel_diff=metrics.max_rel_diff,
        mismatched=metrics.mismatched, total=metrics.total,
        worst_index="" if metrics.worst_index is None else ",".join(map(str, metrics.worst_index)),
        atol=atol, rtol=tol.rtol, expected=expected, observed=observed, status=status,
        cause=cause, message=text,
        sampled="" if mask is None else f"{len(maps)}/{baseline.shape[0] * baseline.shape[1]} maps",
    )


def golden_problem(case: Case, output: np.ndarray, baseline: Baseline) -> str:
    """'' if the output matches the case's golden `expected`, else a description."""
    golden = expected_array(case)
    if golden is None:
        return ""
    metrics = compare(output, golden, baseline.tolerance)
    if metrics.agree:
        return ""
    return "differs from the case's expected output: " + describe(
        metrics, baseline.tolerance, output.shape, golden.shape
    )


check_expected = golden_problem


def rejection_records(case: Case, implementations: Sequence[tuple[str, Callable]],
                      timeout: float | None = None, *,
                      strict_rejections: bool = False) -> list[Record]:
    """Rows for a case that declares `rejects`: every implementation must refuse it, as the
    validator predicts; torch's message must contain the declared substring (if one is given).

    The implementations shipped with the harness (built-ins and peers) must refuse: accepting is an
    `error`. A plug-in need not validate its arguments: accepting is ACCEPTS_INVALID, a failing
    row only with `strict_rejections`.
    """
    arrays = materialize(case)
    records = []
    for name, func in implementations:
        outcome = call_implementation(func, case, arrays, timeout)
        refused = outcome.status in ("error", "unsupported") and outcome.output is None
        problem, failure = "", "error"
        accepts = name in case.diverges  # documented: this implementation accepts the case
        if accepts:
            problem = f"declared to accept the case, yet refused it: {outcome.message}" if refused \
                else ""
        elif case.rejection is None:
            problem = ("the case declares `rejects` but the validator finds nothing torch would "
                       "reject" + ("; yet it refused it: the validator misses a rule" if refused
                                   else f"; {name} accepted it"))
        elif not refused:
            problem = f"accepted a configuration torch rejects ({case.rejection})"
            if is_plugin(name):  # a plug-in need not validate its arguments
                problem += "; allowed for a plug-in unless --strict-rejections"
                failure = ACCEPTS_INVALID
        elif isinstance(case.rejects, str) and name == "torch" and case.rejects not in outcome.message:
            problem = f"torch's message does not contain {case.rejects!r}: {outcome.message}"
        if accepts and not problem:
            message = (f"accepts what torch rejects ({case.rejection}), as declared: "
                       f"{case.diverges[name]}")
            status = "ok"
        else:
            message = problem or f"rejected as predicted ({case.rejection}): {outcome.message}"
            status = failure if problem else "rejected"
        records.append(Record(
            **_case_columns(case), implementation=name, variant="as_is", baseline="validator",
            output_shape="" if outcome.output is None else shape_text(outcome.output.shape),
            baseline_shape="", max_abs_diff=None, max_rel_diff=None, mismatched=None, total=None,
            worst_index="", atol=None, rtol=None, expected="accept" if accepts else "reject",
            observed="reject" if refused else "accept", status=status,
            cause=case.diverges.get(name, "") if status == "ok" else "", message=_one_line(message),
            strict_rejections=strict_rejections,
        ))
    return records


def memory_estimate(case: Case) -> int:
    """Bytes a case needs: its tensors, padded copies, outputs of every comparison, chunk buffers."""
    n, c_in, h, w = case.input_shape
    c_out, cg, kh, kw = case.weight_shape
    top, bottom, left, right = case.pads
    padded = n * c_in * (h + top + bottom) * (w + left + right)
    output = math.prod(case.output_shape) if case.computes else 0
    elements = 3 * n * c_in * h * w + 2 * padded + 8 * output + 3 * c_out * cg * kh * kw
    return 8 * elements + reference.CHUNK_BYTES


def size_text(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def refusal_records(case: Case, implementations, needed: int, budget: int) -> list[Record]:
    message = (f"refused: the case needs about {size_text(needed)} for its tensors and "
               f"intermediate buffers, over the {size_text(budget)} budget; raise --max-memory "
               "or make the case smaller")
    return [
        Record(**_case_columns(case), implementation=name, variant="as_is", baseline=BASELINE,
               output_shape="", baseline_shape=shape_text(case.output_shape), max_abs_diff=None,
               max_rel_diff=None, mismatched=None, total=None, worst_index="", atol=None,
               rtol=None, expected="agree", observed="error", status="error", cause="",
               message=message)
        for name, _ in implementations
    ]


def harness_fault_text(stage: str, error: BaseException) -> str:
    """The message of a row whose computation failed inside the harness, not the implementation."""
    return _one_line(f"harness fault while {stage} (a bug in conv-harness, not in the "
                     f"implementation; please report it): {type(error).__name__}: {error}")


def as_is_record(case: Case, name: str, func: Callable, arrays: CaseArrays, baseline: Baseline,
                 outcome: Outcome, maps=None) -> Record:
    """The as_is row of one implementation: its output against the baseline, its cause, the
    case's declared divergence and golden output, the dtype contract."""
    if outcome.output is None:
        return make_record(case, name, "as_is", baseline, None, status=outcome.status,
                           message=outcome.message)
    known_cause = case.diverges.get(name)
    sampled = maps if getattr(func, "samples_output_maps", False) else None
    record = make_record(case, name, "as_is", baseline, outcome.output, message=outcome.message,
                         expected="diverge" if known_cause else "agree", maps=sampled)
    if record.observed == "diverge":
        try:
            record.cause = explain_divergence(
                case, arrays, outcome.output, baseline,
                prepadded=harness_pads_first(case, getattr(func, "handles_padding_mode", False)))
        except Exception as error:  # never lose the row: the harness's own fault is recorded
            record.status = "error"
            record.message = f"{harness_fault_text('explaining the divergence', error)}; " \
                             f"{record.message}"
            return record
        declared = getattr(func, "known_causes", ())
        if known_cause and record.cause != known_cause:
            record.status = "unexpected_divergence"
            record.message = (f"expected to diverge by '{known_cause}' but the cause is "
                              f"'{record.cause}'; {record.message}")
        elif not known_cause and record.cause in declared:
            record.expected = "diverge"
            record.status = "ok"
            record.message = f"a known divergence of {name} ({record.cause}); {record.message}"
    golden = golden_problem(case, outcome.output, baseline)
    declared_divergence = known_cause and record.observed == "diverge"
    if golden and not declared_divergence:  # a declared divergence differs from the golden too
        if record.observed == "agree":
            golden = ("the case's expected output disagrees with this result and with the "
                      "float64 reference, which agree with each other: check the case's "
                      f"`expected`; {golden}")
        record.status = "unexpected_divergence"
        record.observed = "diverge"
        record.message = "; ".join(p for p in (golden, record.message) if p)
    if outcome.contract:
        record.status = "error"
        record.message = "; ".join(p for p in (outcome.contract, record.message) if p)
    return record


def run_case(case: Case, implementations: Sequence[tuple[str, Callable]],
             options: RunOptions = RunOptions()) -> list[Record]:
    """All Records for one case: one per implementation (as_is) plus the variant rows.

    Nothing raises out of it: a failure inside the harness's own code becomes `error` rows that
    say so, and the run goes on.
    """
    try:
        return _case_records(case, implementations, options)
    except Exception as error:
        message = harness_fault_text("running the case", error)
        return [Record(**_case_columns(case), implementation=name, variant="as_is",
                       baseline=BASELINE, output_shape="", baseline_shape="", max_abs_diff=None,
                       max_rel_diff=None, mismatched=None, total=None, worst_index="",
                       atol=None, rtol=None, expected="agree", observed="error",
                       status="error", cause="", message=message)
                for name, _ in implementations]


def _case_records(case: Case, implementations: Sequence[tuple[str, Callable]],
                  options: RunOptions) -> list[Record]:
    needed = memory_estimate(case)
    if needed > options.max_memory:
        return refusal_records(case, implementations, needed, options.max_memory)
    if case.rejects is not False:
        return rejection_records(case, implementations, options.timeout,
                                 strict_rejections=options.strict_rejections)
    arrays = materialize(case)
    baseline = compute_baseline(case, arrays)
    maps = sampled_maps(case)
    records = []
    for name, func in implementations:
        outcome = call_implementation(func, case, arrays, options.timeout, maps)
        records.append(as_is_record(case, name, func, arrays, baseline, outcome, maps))
    if options.variants:
        records.extend(variant_records(case, arrays, baseline))
    return records


def resolve_implementations(names: Sequence[str] | None) -> list[tuple[str, Callable]]:
    names = list(names) if names else list(DEFAULT_IMPLEMENTATIONS)
    return [(name, get_implementation(name)) for name in dict.fromkeys(names)]


def iter_records(cases: Sequence[Case], implementations: Sequence[str] | None = None,
                 options: RunOptions = RunOptions(), jobs: int = 1) -> Iterator[Record]:
    """Records case by case, in the cases' order (so an interrupted run keeps what it has).

    jobs > 1 runs cases in that many worker processes (spawned, so each imports its own torch);
    the rows and their order are the same as with one job.
    """
    names = list(implementations) if implementations else None
    resolved = resolve_implementations(names)
    runnable = [case for case in cases if case.skip_reason is None]
    if jobs <= 1 or len(runnable) <= 1:
        for case in runnable:
            yield from run_case(case, resolved, options)
        return
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    worker_count = min(jobs, len(runnable))
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=worker_count, mp_context=context,
        initializer=_init_worker, initargs=(names,),
    )
    try:
        from harness.select import estimated_cost

        # the costliest cases first, so that no worker starts a long case when the others finish
        order = sorted(range(len(runnable)), key=lambda k: -estimated_cost(runnable[k]))
        futures = [None] * len(runnable)
        with _worker_threads(max(1, reference.available_cores() // worker_count)):
            for k in order:
                futures[k] = pool.submit(_run_in_worker, runnable[k], options)
        for future in futures:  # rows in the cases' order
            yield from future.result()
    except BaseException:  # Ctrl-C or a failure: stop the workers now, not after their cases
        workers = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.terminate()
        raise
    pool.shutdown(wait=False)  # the results are in: write the report while the workers exit


_WORKER_IMPLEMENTATIONS: list = []
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _worker_threads(count: int):
    """Workers spawned inside start their BLAS and OpenMP pools with `count` threads.

    Each worker gets its share of the cores: N workers whose BLAS each spawned a thread per core
    would oversubscribe them (and OpenBLAS threads spin while they wait). The variables are read
    when a worker imports NumPy, so they are set in this process's environment while the workers
    start (ProcessPoolExecutor starts them on submit) and restored afterwards. A variable the user
    set is left as it is.
    """
    added = [name for name in THREAD_VARIABLES if name not in os.environ]
    for name in added:
        os.environ[name] = str(count)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _init_worker(names) -> None:
    import signal as signal_module

    signal_module.signal(signal_module.SIGINT, signal_module.SIG_IGN)  # the parent handles Ctrl-C
    _WORKER_IMPLEMENTATIONS[:] = resolve_implementations(names)


def _run_in_worker(case: Case, options: RunOptions) -> list[Record]:
    return run_case(case, _WORKER_IMPLEMENTATIONS, options)


def run_records(cases: Sequence[Case], implementations: Sequence[str] | None = None,
                options: RunOptions = RunOptions()) -> list[Record]:
    return list(iter_records(cases, implementations, options))


def run(cases: Sequence[Case], implementations: Sequence[str] | None = None, variants: bool = True,
        timeout: float | None = None, max_memory: int = DEFAULT_MAX_MEMORY,
        strict_rejections: bool = False):
    """Run cases through implementations; a pandas DataFrame with exactly the report's rows.

    `strict_rejections` makes `accepts_invalid` rows (a plug-in accepted a case declared
    `rejects`) count as failing, as `conv-harness run --strict-rejections` does; the rows
    themselves are the same either way.
    """
    from harness.report import to_dataframe

    options = RunOptions(variants=variants, timeout=timeout, max_memory=max_memory,
                         strict_rejections=strict_rejections)
    return to_dataframe(run_records(cases, implementations, options))
