"""Probes whose values read alike under several families, reconciled across a diagnosis.

On one probe two families can give the very same values: a grad_input shifted one position late
at stride 1 is a stride phase and also one less padding before; a transposed output whose phase
equals its output_padding is a stride phase and also output_padding put first. Each probe's
explanation names one of them, so a diagnosis that only unites the probes' causes would name
both. A probe with such ties (`ProbeResult.alternatives`: every equally cheap explanation, the
named one first) keeps the explanation whose causes the diagnosis needs anyway: those of the
probes with one explanation only, else the causes most probes admit. A probe without ties is
left as it is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from harness.probing.probes import ProbeResult


def reconciled(results: list[ProbeResult]) -> list[ProbeResult]:
    """The results with each tied probe's explanation chosen to agree with the others."""
    diverging = [r for r in results if r.status == "diverges"]
    forced = {c for r in diverging if len(r.alternatives) <= 1 for c in r.causes}
    votes = Counter(
        cause
        for r in diverging
        for cause in {c for causes, _ in (r.alternatives or [(r.causes, "")]) for c in causes}
    )
    chosen = []
    for result in results:
        if result.status != "diverges" or len(result.alternatives) <= 1:
            chosen.append(result)
            continue
        inside = [a for a in result.alternatives if set(a[0]) <= forced]
        pick = inside[0] if inside else max(result.alternatives, key=lambda a: _score(a, votes))
        causes, finding = pick
        chosen.append(replace(result, causes=list(causes), finding=finding or result.finding))
    return chosen


def _score(alternative, votes: Counter) -> tuple[int, int]:
    """More probes admitting its causes first, then fewer causes."""
    causes = alternative[0]
    return (min((votes[c] for c in causes), default=0), -len(causes))
