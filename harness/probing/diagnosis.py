"""A diagnosis and how it reads: the verdict over every probe (`verdict_of`), the causes, a summary
per spatial rank, its JSON and its human lines.

The human lines give one line per finding and operation: a diverging probe whose causes are all
named by a line above it of the same operation (a flip along W only shows on most probes) is not
repeated; the line that names them says on how many other probes they also show. A verdict of
`error` names the probes that failed and the first line of why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.explaining.explanation import order_causes
from harness.probing.probes import ProbeResult

LISTED = 4  # probes named on an "also shows on" line before "..."


def verdict_of(results: list[ProbeResult]) -> str:
    """diverges when a probe diverges, else error when one fails, else matches."""
    if any(r.status == "diverges" for r in results):
        return "diverges"
    if any(r.status == "error" for r in results):
        return "error"
    return "matches"


@dataclass
class Diagnosis:
    impl: str
    verdict: str  # matches | diverges | error
    causes: list[str]
    results: list[ProbeResult]
    counterexample: dict | None

    @property
    def ranks(self) -> list[dict]:
        """Per spatial rank probed: its operations, verdict and causes."""
        summaries = []
        for rank in sorted({r.probe.rank for r in self.results}):
            results = [r for r in self.results if r.probe.rank == rank]
            operations = list(dict.fromkeys(r.probe.op for r in results))
            causes = order_causes(c for r in results for c in r.causes)
            summary = {"rank": rank, "operations": operations, "verdict": verdict_of(results)}
            summaries.append({**summary, "causes": causes, "probes": len(results)})
        return summaries

    def as_json(self) -> dict:
        return {
            "impl": self.impl,
            "verdict": self.verdict,
            "causes": self.causes,
            "ranks": self.ranks,
            "properties": {
                r.probe.label: {
                    "op": r.probe.op,
                    "rank": r.probe.rank,
                    "status": r.status,
                    "finding": r.finding,
                    "causes": r.causes,
                    "max_abs_diff": r.max_abs_diff,
                    "message": r.message,
                    **({"retried": r.retried} if r.retried else {}),
                }
                for r in self.results
            },
            "counterexample": self.counterexample,
        }


def torch_names(operations) -> str:
    """torch.nn.functional.conv2d, or torch.nn.functional.conv1d, conv2d and conv3d: the torch
    functions of the operations (a backward is its forward's)."""
    names = list(dict.fromkeys(re.sub(r"_backward$", "", op) for op in operations))
    listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)
    return "torch.nn.functional." + listed


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def _head(diagnosis: Diagnosis) -> str:
    impl, results = diagnosis.impl, diagnosis.results
    if diagnosis.verdict == "matches":
        head = f"{impl}: matches {torch_names(r.probe.op for r in results)} on every probe"
        unsupported = [
            r.probe.label
            for r in results
            if r.status == "unsupported" and not r.probe.optional  # listed below only
        ]
        if unsupported:
            head += f" it supports (unsupported: {', '.join(unsupported)})"
        if any(r.status == "unsupported" and r.probe.optional for r in results):
            head += " (complex numbers not supported)"
        retried = list(dict.fromkeys(r.probe.label for r in results if r.retried))
        if retried:
            head += f" (refused as given and retried in simpler forms: {', '.join(retried)})"
        return head
    if diagnosis.verdict == "diverges":
        diverging = [r.probe.op for r in results if r.status == "diverges"]
        return f"{impl}: diverges from {torch_names(diverging)}: " + ", ".join(diagnosis.causes)
    if any(r.contract for r in results):
        broken = next(r for r in results if r.contract)
        return f"{impl}: breaks {broken.probe.op}'s output contract: {broken.contract}"
    failed = [r for r in results if r.status == "error"]
    reasons: dict[str, list[str]] = {}
    for r in failed:
        reasons.setdefault(_first_line(r.message or r.finding), []).append(r.probe.label)
    named = "; ".join(
        f"{reason} ({_listed(labels)})" for reason, labels in list(reasons.items())[:LISTED]
    )
    more = f"; and {len(reasons) - LISTED} other reasons" if len(reasons) > LISTED else ""
    probes = "probes fail" if len(failed) > 1 else "probe fails"
    return f"{impl}: could not be checked: {len(failed)} {probes}: {named}{more}"


def _listed(labels: list[str]) -> str:
    return ", ".join(labels[:LISTED]) + (
        f" and {len(labels) - LISTED} more" if len(labels) > LISTED else ""
    )


def folded_results(results: list[ProbeResult]) -> dict[int, list[ProbeResult]]:
    """The diverging results a human reads on their own line (by index), each with those it
    stands for: a result whose causes are all named by lines already shown for its operation is
    folded into the first shown line of that operation sharing a cause, so each operation keeps
    its own line per cause (a kernel flipped along W at rank 2 and reversed at rank 1 are two
    lines, each naming its member). Results showing the cause their probe is about are shown
    first."""
    diverging = [k for k, r in enumerate(results) if r.status == "diverges"]
    diverging.sort(key=lambda k: (results[k].probe.cause not in results[k].causes, k))
    shown: dict[int, list[ProbeResult]] = {}
    named: dict[str, set[str]] = {}  # the causes shown lines name, per operation
    for k in diverging:
        op, causes = results[k].probe.op, set(results[k].causes)
        hosts = [h for h in shown if results[h].probe.op == op]
        if hosts and causes <= named[op]:
            host = next(h for h in hosts if causes & set(results[h].causes))
            shown[host].append(results[k])
            continue
        shown[k] = []
        named[op] = named.get(op, set()) | causes
    return shown


def human_lines(diagnosis: Diagnosis) -> list[str]:
    from harness.cases.yaml_io import dump_yaml

    ranks = diagnosis.ranks
    lines = [_head(diagnosis)]
    if len(ranks) > 1:  # a verdict per rank
        for s in ranks:
            causes = f": {', '.join(s['causes'])}" if s["causes"] else ""
            lines.append(
                f"  rank {s['rank']} ({', '.join(s['operations'])}; {s['probes']} probes): "
                f"{s['verdict']}{causes}"
            )
    lines.append("")
    results = diagnosis.results
    shown = folded_results(results)
    width = max((len(r.probe.label) for r in results), default=0)
    for k, r in enumerate(results):
        if r.status == "diverges" and k not in shown:
            continue
        arrow = f" -> {'+'.join(r.causes)}" if r.causes else ""
        label = {"unsupported": "unsupported: ", "error": "error: "}.get(r.status, "")
        also = ""
        if shown.get(k):
            labels = [o.probe.label for o in shown[k]]
            listed = ", ".join(labels[:LISTED]) + (", ..." if len(labels) > LISTED else "")
            probes = "probes" if len(labels) > 1 else "probe"
            also = f" (also shows on {len(labels)} other {probes}: {listed})"
        lines.append(f"{r.probe.label + ':':<{width + 1}} {label}{r.finding}{also}{arrow}")
    if diagnosis.counterexample:
        lines += ["", "smallest counterexample (save it with --save-case FILE):", ""]
        lines += dump_yaml({"cases": [diagnosis.counterexample]}).rstrip().splitlines()
    return lines
