"""Measured margins of the rounding model on every quantity (forward output, transposed output,
grad_input, grad_weight, grad_bias), on both sides.

    python benchmarks/quantity_margins.py [--random N] [--cases PATH ...]

Settings: every registry case (rejections and empty batches left out) in its own dtype and re-cast
into the other real dtypes (complex cases into the other complex dtype), and N configurations of
every rank and dtype drawn with harness.strategies and quantity_impls.transposed_cases
(derandomized).

Honest side: per quantity and dtype, the largest max-over-elements |value - baseline| / allowed
of torch at 1 and 2 threads, the reference, scipy, an FFT in float64, torch in float64
rounded once and torch's own kernels in the case dtype with and without mkldnn
(tests/data/quantity_impls.py). Below 1 means never flagged; the margin is 1 / ratio.

Mutations of torch's values (zeroed, halved, averaged instead of summed, one channel dropped): how
many are flagged, the smallest max-over-elements |mutated - baseline| / allowed among the flagged
ones (how near detection came to failing: above 1 by construction), and among those that pass
(the change stays within the allowance on every element, as where the data hides the mutation:
a zeroed channel of zeros, an average over one position) the largest |mutated - torch| / allowed.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.cases import case_from_dict, load_cases  # noqa: E402
from harness.verdicts.compare import compare  # noqa: E402
from tests.data import quantity_impls as qi  # noqa: E402


def drawn_cases(count: int) -> list:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from harness.strategies import conv_cases

    drawn = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(conv_cases(case_id="drawn"), qi.transposed_cases()))
    def collect(raw):
        drawn.append(raw)

    if count:
        collect()
    cases = []
    for k, raw in enumerate(drawn):
        try:
            cases.append(case_from_dict({**raw, "id": f"drawn_{k}"}))
        except Exception:  # a transposed output size of zero or less
            continue
    return cases


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=200, help="drawn configurations")
    parser.add_argument("--cases", nargs="*", default=[str(ROOT / "cases")])
    args = parser.parse_args(argv)
    registry = [c for c in load_cases(args.cases) if not c.rejects]
    cases = registry + [qi.recast(c, d) for c in registry for d in qi.recast_dtypes(c)]
    cases += drawn_cases(args.random)
    honest = defaultdict(lambda: (0.0, ""))  # (quantity, dtype) -> (ratio, where)
    flagged = defaultdict(int)
    total = defaultdict(int)
    nearest = {}  # (quantity, dtype, mutation) -> smallest ratio among flagged
    passing = {}  # (quantity, dtype, mutation) -> largest change / allowed among passing
    settings_count = 0
    for case in cases:
        s = qi.setting(case)
        if s is None:
            continue
        settings_count += 1
        torch_values = None
        for name, implementation in qi.HONEST.items():
            if name in case.diverges:
                continue
            values = implementation(s)
            torch_values = values if name == "torch_1_thread" else torch_values
            for quantity, baseline in s.baselines.items():
                if quantity not in values:
                    continue
                ratio = qi.ratio(values[quantity], baseline.output, qi.allowed(baseline))
                key = (quantity, case.dtype)
                if ratio > honest[key][0]:
                    honest[key] = (ratio, f"{name} on {case.id}")
        if torch_values is None:
            continue
        for (quantity, mutation), value in qi.mutations(s, torch_values).items():
            baseline = s.baselines[quantity]
            allowance = qi.allowed(baseline)
            key3 = (quantity, case.dtype, mutation)
            total[key3] += 1
            if not compare(np.asarray(value), baseline.output, baseline.tolerance).agree:
                flagged[key3] += 1
                ratio = qi.ratio(value, baseline.output, allowance)
                nearest[key3] = min(nearest.get(key3, np.inf), ratio)
            else:
                change = qi.ratio(value, np.asarray(torch_values[quantity]), allowance)
                passing[key3] = max(passing.get(key3, 0.0), change)
    print(
        f"{settings_count} settings ({len(registry)} registry cases, re-cast, {args.random} drawn)"
    )
    print("\nhonest: largest |value - baseline| / allowed (flagged above 1)")
    print(f"{'quantity':12s} {'dtype':10s} {'ratio':>8s} {'margin':>8s}  where")
    for (quantity, dtype), (ratio, where) in sorted(honest.items()):
        margin = f"{1 / ratio:8.1f}" if ratio else "     inf"
        print(f"{quantity:12s} {dtype:10s} {ratio:8.3g} {margin}  {where}")
    print(
        "\nmutations of torch's values: flagged / all; smallest |mutated - baseline| / allowed "
        "among the flagged; largest |mutated - torch| / allowed among those that pass"
    )
    header = f"{'quantity':12s} {'dtype':10s} {'mutation':16s} {'flagged':>11s}"
    print(f"{header} {'nearest':>9s} {'passing':>9s}")
    for key3 in sorted(total):
        quantity, dtype, mutation = key3
        near = f"{nearest[key3]:9.3g}" if key3 in nearest else "        -"
        passed = f"{passing[key3]:9.3g}" if key3 in passing else "        -"
        counts = f"{flagged[key3]} / {total[key3]}"
        print(f"{quantity:12s} {dtype:10s} {mutation:16s} {counts:>11s} {near} {passed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
