"""Reconciling probes whose values two families explain alike (harness.probing.probe_ties)."""

from harness.probing.probe_ties import reconciled
from harness.probing.probes import Probe, ProbeResult


def _result(name, causes, alternatives=()):
    probe = Probe(name, "stride", {}, "", "conv2d_backward")
    return ProbeResult(
        probe, None, "diverges", f"{name}: {causes}", causes=list(causes),
        alternatives=list(alternatives),
    )  # fmt: skip


def test_a_tied_probe_takes_the_cause_an_untied_probe_needs():
    untied = _result("stride", ["stride"])
    tied = _result(
        "padding",
        ["padding"],
        [(["padding"], "one fewer pad before"), (["stride"], "a stride phase of 1")],
    )
    out = reconciled([untied, tied])
    assert out[0] is untied
    assert out[1].causes == ["stride"]
    assert out[1].finding == "a stride phase of 1"


def test_without_a_forced_cause_the_one_most_probes_admit_wins():
    a = _result("a", ["padding"], [(["padding"], "pad"), (["stride"], "phase")])
    b = _result("b", ["stride"], [(["stride"], "phase"), (["dilation"], "dil")])
    out = reconciled([a, b])
    assert [r.causes for r in out] == [["stride"], ["stride"]]


def test_two_real_bugs_stay_two_and_ok_results_are_untouched():
    ok = ProbeResult(Probe("x", "bias", {}, "", "conv2d"), None, "ok", "as torch")
    both = [_result("s", ["stride"]), _result("p", ["padding"])]
    tied = _result("t", ["padding"], [(["padding"], "pad"), (["stride"], "phase")])
    out = reconciled([ok, *both, tied])
    assert out[0] is ok
    assert {c for r in out for c in r.causes} == {"stride", "padding"}
    assert out[3].causes == ["padding"]  # the named one, already needed
