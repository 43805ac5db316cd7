"""Measured margins of the tolerance model (harness.verdicts.compare), on both sides.

    python benchmarks/tolerance_margins.py [--random N] [--cases PATH ...]

Honest side: for every implementation that computes in the case's dtype (torch at one and two
threads, the reference, scipy, the correct examples, and the test-only implementations of
tests/data/honest_impls.py: im2col, FFT in float64 and in the case dtype, sequential tap loops in
two orders, pairwise and blocked summation, a custom autograd Function), the largest ratio
|observed - baseline| / allowed over all elements of all cases. Below 1 means never flagged;
the margin is 1 / ratio.

Narrow side: for implementations one step narrower than the case dtype (tests/data/narrow_impls.py:
float64 computed in float32; float32 with TF32, float16 or bfloat16 inputs), on every case whose
input and weight are random non-integer data, the smallest such ratio (above 1 means flagged on
every case; the margin is the ratio itself), and how many of those rows get the cause `precision`.

Cases: the built-in registry, N configurations drawn with harness.strategies (derandomized), and
six layers with K = 576, 4608 and 25088 in float64 and float32.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.cases import TensorSpec, case_from_dict, load_cases  # noqa: E402
from harness.cases.data import materialize  # noqa: E402
from harness.computations.calling import call_implementation  # noqa: E402
from harness.computations.registry import get_implementation  # noqa: E402
from harness.explaining.explanation import explain_divergence  # noqa: E402
from harness.verdicts.baseline import compute_baseline  # noqa: E402


def _module(name: str):
    path = ROOT / "tests" / "data" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"tests.data.{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def honest_implementations() -> dict:
    honest = _module("honest_impls")
    found = {name: get_implementation(name) for name in ("torch", "reference", "scipy")}
    for example in ("correct_numpy", "correct_fft", "correct_torch_tensor"):
        found[example] = get_implementation(f"examples.{example}:conv2d")
    for name in (
        "im2col_gemm",
        "fft_float64",
        "fft_case_dtype",
        "tap_loop_sequential",
        "tap_loop_reversed",
        "pairwise_sum",
        "blocked_sum",
        "torch_two_threads",
        "torch_autograd_function",
        "einsum_float32_accumulate_for_halves",
    ):
        found[name] = getattr(honest, name)
    return found


NARROW = {
    "float64": ("float64_via_float32",),
    "float32": ("tf32_emulated", "float16_inputs", "bfloat16_inputs"),
    "complex128": ("complex128_via_complex64",),
}


def drawn_cases(count: int) -> list:
    from hypothesis import HealthCheck, given, settings

    from harness.strategies import conv2d_cases

    drawn = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(conv2d_cases(case_id="drawn"))
    def collect(raw):
        drawn.append(raw)

    collect()
    return [case_from_dict({**raw, "id": f"drawn_{k}"}) for k, raw in enumerate(drawn)]


def large_reduction_cases() -> list:
    """Float64 and float32 layers with K = 576, 4608 and 25088 (VGG fc6 as a conv), random data."""
    cases = []
    for dtype in ("float64", "float32"):
        for c_in, k in ((64, 3), (512, 3), (512, 7)):
            cases.append(
                case_from_dict(
                    {
                        "id": f"large_k_{dtype}_{c_in * k * k}",
                        "dtype": dtype,
                        "padding": k // 2,
                        "input": {"shape": [2, c_in, 10, 10], "init": "normal", "seed": 1},
                        "weight": {"shape": [8, c_in, k, k], "init": "normal", "seed": 2},
                        "bias": {"shape": [8], "init": "normal", "seed": 3},
                    }
                )
            )
    return cases


def random_data(case) -> bool:
    return all(
        isinstance(t, TensorSpec) and t.init in ("normal", "uniform")
        for t in (case.input, case.weight)
    )


def worst_ratio(output: np.ndarray, baseline) -> float:
    """max |observed - baseline| / allowed over the elements where both are finite."""
    expected = baseline.output
    if output.shape != expected.shape:
        return float("inf")
    both = np.isfinite(output) & np.isfinite(expected)
    if (np.isfinite(output) != np.isfinite(expected)).any():
        return float("inf")
    if not both.any():
        return 0.0
    tol = baseline.tolerance
    allowed = tol.rtol * np.abs(expected) + np.broadcast_to(tol.atol, expected.shape)
    gap = np.abs(output - expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(gap[both] == 0, 0.0, gap[both] / allowed[both])
    return float(ratio.max())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=300, help="drawn configurations")
    parser.add_argument("--cases", nargs="*", default=[str(ROOT / "cases")])
    args = parser.parse_args(argv)
    narrow_module = _module("narrow_impls")
    honest = honest_implementations()
    cases = (
        [c for c in load_cases(args.cases) if c.computes and not c.transposed]
        + drawn_cases(args.random)
        + large_reduction_cases()
    )
    worst = defaultdict(lambda: (0.0, ""))  # (impl, dtype) -> (ratio, case)
    narrow_low = {}  # (impl, dtype) -> (smallest ratio, case)
    narrow_rows = defaultdict(int)
    narrow_precision = defaultdict(int)
    for case in cases:
        if 0 in case.output_shape:
            continue  # an empty batch: no element to measure
        arrays = materialize(case)
        if not all(np.isfinite(a).all() for a in (arrays.input64, arrays.weight64)):
            continue  # NaN/Inf propagation is compared elsewhere (cause `nan`), not rounding
        baseline = compute_baseline(case, arrays)
        for name, func in honest.items():
            outcome = call_implementation(func, case, arrays)
            if outcome.output is None or name in case.diverges:
                continue
            ratio = worst_ratio(outcome.output, baseline)
            if ratio > worst[name, case.dtype][0]:
                worst[name, case.dtype] = (ratio, case.id)
        if not random_data(case):
            continue
        for name in NARROW.get(case.dtype, ()):
            outcome = call_implementation(getattr(narrow_module, name), case, arrays)
            if outcome.output is None:
                continue
            ratio = worst_ratio(outcome.output, baseline)
            key = (name, case.dtype)
            if key not in narrow_low or ratio < narrow_low[key][0]:
                narrow_low[key] = (ratio, case.id)
            narrow_rows[key] += 1
            if (
                ratio > 1
                and explain_divergence(case, arrays, outcome.output, baseline) == "precision"
            ):
                narrow_precision[key] += 1
    print(f"{len(cases)} cases ({args.random} drawn)")
    print("\nhonest computation: largest |diff| / allowed (never flagged below 1)")
    print(f"{'implementation':40s} {'dtype':9s} {'ratio':>9s} {'margin':>8s}  case")
    for (name, dtype), (ratio, case_id) in sorted(worst.items()):
        margin = f"{1 / ratio:8.1f}" if ratio else "     inf"
        print(f"{name:40s} {dtype:9s} {ratio:9.3g} {margin}  {case_id}")
    print(
        "\nnarrower arithmetic on random data: smallest largest-|diff| / allowed "
        "(flagged on every case above 1)"
    )
    print(f"{'implementation':24s} {'dtype':9s} {'ratio':>9s}  {'precision':>11s}  case")
    for (name, dtype), (ratio, case_id) in sorted(narrow_low.items()):
        rows = narrow_rows[name, dtype]
        print(
            f"{name:24s} {dtype:9s} {ratio:9.3g}  {narrow_precision[name, dtype]:4d} / "
            f"{rows:<4d}  {case_id}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
