"""Calling an implementation safely: its arguments, a time limit, and its result read exactly.

Each call gets fresh copies of the inputs (an implementation that modifies them in place is an
error), the padding nn.Conv2d would apply first
(harness.computations.implementations.harness_pads_first), an optional time limit, and its result is
read as float64 from any float-like type under one output contract (`output_contract`) shared by
`run` and `diagnose`. Nothing it does escapes as an exception: the Outcome says what happened.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.cases.case import Case
from harness.cases.data import CaseArrays, exact_dtype, is_complex, round_to_dtype
from harness.cases.layouts import CONTIGUOUS, laid_out
from harness.computations import reference
from harness.computations.implementations import (
    harness_pads_first,
    torch_conv,
    torch_conv_on_tensors,
)


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
    result_dtype: str | None = None  # the dtype the result had of its own (None: a list)
    died: bool = False  # the call ended its worker process before (ProcessDied): never a refusal


class ProcessDied(Exception):
    """Raised in place of an implementation whose call ended its worker process before
    (harness.running.isolation): the message says how, and becomes its `error` row as it is."""


class CallTimeout(Exception):
    pass


# Called before each implementation call when set (harness.running.isolation's diagnose worker
# counts the calls, and raises ProcessDied in place of one that ended the process before).
CALL_WATCH: list[Callable[[], None]] = []


def complex_refusal(
    dtype: str, outcome: Outcome, status: str | None, expected: np.ndarray | None = None
) -> str:
    """Why a failing result (`status` neither ok nor unsupported) on a `dtype` case says the
    implementation has no complex numbers, or '': it raised on them, returned a real array, or
    complex values whose imaginary parts are all zero where torch's (`expected`) are not. The
    one rule of `run` (every operation and quantity) and `diagnose`: such code is
    `unsupported` there, as for NotImplementedError, never failing, and nothing is claimed about
    complex behaviour it never showed; any other divergence stays what it is."""
    if not is_complex(dtype) or status in ("ok", "unsupported", None):
        return ""
    words = f"complex numbers not supported ({dtype} inputs)"
    if outcome.output is None:
        raised = outcome.status == "error" and outcome.message.startswith("raised ")
        return f"{words}: it {outcome.message}" if raised else ""
    if outcome.contract and not is_complex(outcome.result_dtype or ""):
        return f"{words}: it returned {outcome.result_dtype} values"
    output = outcome.output
    if (
        expected is not None
        and output.shape == expected.shape
        and np.any(np.imag(expected))
        and not np.any(np.nan_to_num(np.imag(output)))
    ):
        return f"{words}: every imaginary part it returned is 0"
    return ""


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Raise CallTimeout in the calling code after `seconds` (SIGALRM; main thread only).

    Pure-Python loops and sleeps are interrupted; a single long call into C code is interrupted
    when it returns to Python.
    """
    usable = (
        seconds
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable or seconds is None:
        yield
        return

    def expire(signum, frame):
        raise CallTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def call_arguments(case: Case, arrays: CaseArrays, handles_padding_mode: bool):
    """Positional inputs and keyword parameters to call an implementation with."""
    x = np.array(arrays.input)
    kwargs: dict = {
        "stride": compact(case.stride),
        "dilation": compact(case.dilation),
        "groups": case.groups,
    }
    padding: str | int | tuple[int, ...] = case.padding
    if handles_padding_mode:
        kwargs["padding"] = padding
        kwargs["padding_mode"] = case.padding_mode
    else:
        # F.convNd's forms pass through: int, one value per axis, 'same', 'valid' with zero
        # padding; other padding modes and (before, after) per axis are applied here, as
        # nn.ConvNd does
        if harness_pads_first(case, False):
            reference.check_padding(x.shape[2:], case.pads, case.padding_mode)
            x = reference.pad(x, case.pads, case.padding_mode)
            padding = 0
        elif not isinstance(padding, str):
            padding = compact(case.pads[0::2])
        kwargs["padding"] = padding
    weight = np.array(arrays.weight)
    bias = None if arrays.bias is None else np.array(arrays.bias)
    return (x, weight, bias), kwargs


def compact(values: tuple[int, ...]) -> int | tuple[int, ...]:
    """One int when every axis has the same value (torch's short form), else the tuple."""
    return values[0] if len(set(values)) == 1 else values


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
            torch.float16,
            torch.float32,
            torch.float64,
        ):
            tensor = tensor.float()  # bfloat16, float8: every value is a float32
        return tensor.numpy(), name
    if isinstance(result, (list, tuple, int, float, complex)):
        return np.asarray(result), None
    if isinstance(result, np.generic) or any(
        hasattr(result, attribute)
        for attribute in ("__array__", "__array_interface__", "__array_struct__")
    ):
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


def complex_values(array: np.ndarray) -> np.ndarray:
    """The array's values in complex128 (a complex case's result; real results are read as
    complex with zero imaginary parts, and break the output contract by their dtype)."""
    if array.dtype.kind == "c":
        return array.astype(np.complex128)
    return real_values(array).astype(np.complex128)


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
        return (
            f"returned {dtype} for bfloat16 inputs (conv2d returns the input's dtype: "
            "bfloat16, or float32 holding bfloat16 values)"
        )
    return f"returned {dtype} for {case_dtype} inputs (conv2d returns the input's dtype)"


def torch_layout_conv(
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    padding_mode="zeros",
    device=None,
):
    """The built-in `torch` (and torch@DEVICE: `device` is where the tensors already are) on the
    tensors as they are laid out (harness.cases.layouts): the same F.convNd call as
    harness.computations.implementations.torch_conv, without its contiguous copies. A padding
    nn.ConvNd applies with F.pad first makes a contiguous input."""
    return torch_conv_on_tensors(
        input, weight, bias, stride, padding, dilation, groups, padding_mode
    )


torch_layout_conv.accepts_tensors = True  # type: ignore[attr-defined]
torch_layout_conv.accepts_layouts = True  # type: ignore[attr-defined]
torch_layout_conv.handles_padding_mode = True  # type: ignore[attr-defined]


def layout_function(func: Callable, bind: Callable | None = None) -> Callable | None:
    """The function that takes `func`'s tensors in other memory layouts: a callable with
    `accepts_tensors` or `accepts_layouts` itself, torch_layout_conv for the built-in torch's
    forward convolution (passed through `bind`, which puts it on a torch@DEVICE's device, for
    such a device's forward); None for an implementation that takes NumPy arrays."""
    if func is torch_conv:
        return torch_layout_conv
    if (
        bind is not None
        and getattr(func, "device", None)
        and getattr(func, "__name__", "") == torch_conv.__name__
    ):
        return bind(torch_layout_conv)
    if getattr(func, "accepts_tensors", False) or getattr(func, "accepts_layouts", False):
        return func
    return None


def call_implementation(
    func: Callable,
    case: Case,
    arrays: CaseArrays,
    timeout: float | None = None,
    maps=None,
    layout: str = CONTIGUOUS,
) -> Outcome:
    """Call a convolution (or, for a transposed case, a transposed convolution) on the case;
    with a `layout` other than contiguous, `func` (one that takes tensors) gets its tensors laid
    out so (harness.cases.layouts)."""
    handles = bool(getattr(func, "handles_padding_mode", False))
    try:
        args, kwargs = call_arguments(case, arrays, handles)
    except ValueError as error:  # the padding step nn.Conv2d would take refuses, as F.pad does
        return Outcome(None, "error", one_line(f"padding before the call refused: {error}"))
    if case.transposed:
        kwargs = transposed_arguments(case)
    if maps is not None and getattr(func, "samples_output_maps", False):
        kwargs["output_maps"] = maps
    called = safe_call(func, args, kwargs, timeout, layout, case.dtype)
    outcome = called if isinstance(called, Outcome) else read_result(called, case.dtype)
    return with_numerics_note(func, outcome)


def with_numerics_note(func: Callable, outcome: Outcome) -> Outcome:
    """The outcome with the numerics a device implementation states (TF32, cuDNN settings; its
    `numerics_note`) at the front of its message."""
    note = getattr(func, "numerics_note", "")
    if note:
        outcome.message = "; ".join(p for p in (note, outcome.message) if p)
    return outcome


def transposed_arguments(case: Case) -> dict:
    """F.conv_transposeNd's keyword arguments for a transposed case."""
    return {
        "stride": compact(case.stride),
        "padding": compact(case.pads[0::2]),
        "output_padding": compact(case.output_padding),
        "groups": case.groups,
        "dilation": compact(case.dilation),
    }


def wants_bfloat16(func: Callable) -> bool:
    """Whether `func` asks for its bfloat16 cases' arrays as `ml_dtypes.bfloat16` arrays: its own
    `wants_bfloat16` attribute, else its module's (a global of the module defining it)."""
    own = getattr(func, "wants_bfloat16", None)
    if own is not None:
        return bool(own)
    return bool(getattr(func, "__globals__", {}).get("wants_bfloat16", False))


def bfloat16_arrays(func: Callable, args: tuple, case_dtype: str) -> tuple | Outcome:
    """The NumPy arguments as `ml_dtypes.bfloat16` arrays (exactly: they hold bfloat16 values)
    when the case is bfloat16 and `func` asks for them (`wants_bfloat16`); else as they are. An
    error Outcome when ml_dtypes, which the harness does not require, is not installed."""
    if case_dtype != "bfloat16" or getattr(func, "accepts_tensors", False):
        return args
    if not wants_bfloat16(func):
        return args
    try:
        from ml_dtypes import bfloat16
    except ImportError:
        return Outcome(
            None,
            "error",
            "it sets wants_bfloat16, but the ml_dtypes package that makes bfloat16 arrays is not "
            "installed (pip install ml_dtypes)",
        )
    return tuple(None if a is None else np.asarray(a).astype(bfloat16) for a in args)


def safe_call(
    func: Callable,
    args: tuple,
    kwargs: dict,
    timeout: float | None,
    layout: str = CONTIGUOUS,
    case_dtype: str = "",
):
    """func(*args, **kwargs) on copies it may not modify, within the time limit: its result, or
    the Outcome saying what went wrong. A function with `accepts_tensors = True` gets torch
    tensors that require grad (its result may stay attached to autograd), laid out as `layout`
    says (harness.cases.layouts; (input, weight, bias) only). On a bfloat16 case (`case_dtype`),
    one with `wants_bfloat16` gets `ml_dtypes.bfloat16` arrays instead of float32 ones."""
    converted = bfloat16_arrays(func, args, case_dtype)
    if isinstance(converted, Outcome):
        return converted
    args = converted
    originals = [None if a is None else a.copy() for a in args]
    if layout != CONTIGUOUS and getattr(func, "accepts_tensors", False) and len(args) == 3:
        try:
            args = laid_out(args, layout, getattr(func, "device", None) or "cpu")
        except Exception as error:  # the harness's own fault, said as such in the row
            return Outcome(None, "error", one_line(f"laying out the tensors ({layout}): {error}"))
    elif getattr(func, "accepts_tensors", False):
        import torch

        args = tuple(
            None if a is None else torch.from_numpy(a.copy()).requires_grad_() for a in args
        )
    try:
        for watch in CALL_WATCH:
            watch()
        with time_limit(timeout):
            result = func(*args, **kwargs)
    except CallTimeout:
        return Outcome(None, "error", f"ran past the {timeout:g} s timeout (--timeout)")
    except ProcessDied as error:
        return Outcome(None, "error", str(error), died=True)
    except NotImplementedError as error:
        return Outcome(None, "unsupported", one_line(f"NotImplementedError: {error}"))
    except Exception as error:
        return Outcome(None, "error", one_line(f"raised {type(error).__name__}: {error}"))
    if not getattr(func, "accepts_tensors", False):
        names = ("grad_output", "input", "weight", "bias")[-len(args) :]
        for name, given, original in zip(names, args, originals, strict=True):
            if (
                given is not None
                and original is not None
                and not np.array_equal(given, original, equal_nan=True)
            ):
                return Outcome(None, "error", f"modified its {name} argument in place")
    return result


def read_result(result, case_dtype: str) -> Outcome:
    """One result read as float64 values under the output contract."""
    try:
        values, dtype = to_numpy(result)
        output = complex_values(values) if is_complex(case_dtype) else real_values(values)
    except ImplementationFault as error:
        return Outcome(None, "error", one_line(str(error)))
    except Exception as error:
        return Outcome(None, "error", one_line(f"result could not be read as an array: {error}"))
    if dtype is None:  # no dtype of its own (a list): read in the case's dtype
        output = round_to_dtype(output, case_dtype).astype(exact_dtype(case_dtype))
    return Outcome(output, None, "", output_contract(dtype, case_dtype), dtype)


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
