"""`fuzz --seconds S` ends within S plus the time of one configuration, shrinking included.

Time is a fake clock the tests move by hand: each call of the implementation (one per drawn
configuration and per shrink step here: one implementation, no variants, forward only) costs
`cost` seconds, so the number of configurations and shrink steps that fit a budget is known
exactly, without reading a real clock.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness import cli
from harness import fuzz as fuzz_module
from harness.cases import case_from_dict, load_cases
from harness.computations.registry import implementation
from harness.fuzz import SHRINK_SHARE, Budget, fuzz, save_finding, shrink, shrink_findings
from harness.fuzz import summary_lines as fuzz_summary
from harness.running.runner import RunOptions, run_case
from tests.conftest import run_cli


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def costly(clock: Clock, cost: float, broken: bool):
    """A conv2d that takes `cost` fake seconds per call: torch's own result, or (broken) one
    that always raises, so every configuration shows the same single finding."""
    calls = []

    def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        clock.now += cost
        calls.append(clock.now)
        if broken:
            raise RuntimeError("broken on purpose")
        tensors = [torch.as_tensor(np.asarray(a)) for a in (input, weight)]
        b = None if bias is None else torch.as_tensor(np.asarray(bias))
        return F.conv2d(*tensors, b, stride, padding, dilation, groups).numpy()

    return conv2d, calls


def _fuzz(clock, conv2d, **options):
    return fuzz(
        [implementation("timed", conv2d)],
        seed=3,
        variants=False,
        ranks=(2,),
        dtypes=("float64",),
        clock=clock,
        **options,
    )


# (seconds, cost of one configuration): budgets that are and are not multiples of the cost
BUDGETS = [(10, 1), (10, 3), (7.5, 2), (4, 4), (3, 5), (12, 0.5)]


@pytest.mark.parametrize(("seconds", "cost"), BUDGETS)
def test_without_findings_configurations_start_until_the_budget_ends(seconds, cost):
    clock = Clock()
    conv2d, calls = costly(clock, cost, broken=False)
    result = _fuzz(clock, conv2d, seconds=seconds)
    assert not result.findings
    # a configuration starts at 0, cost, 2 cost, ... while that is before `seconds`
    assert result.configurations == math.ceil(seconds / cost)
    assert len(calls) == result.configurations
    assert seconds <= clock.now < seconds + cost
    assert result.seconds == clock.now


@pytest.mark.parametrize("steps", [None, 3])
@pytest.mark.parametrize(("seconds", "cost"), BUDGETS)
def test_with_findings_drawing_leaves_a_share_and_shrinking_takes_the_rest(
    seconds, cost, steps, monkeypatch
):
    if steps is not None:  # fewer shrink steps kept than a quarter of the budget holds
        monkeypatch.setattr(fuzz_module, "SHRINK_STEPS", steps)
    clock = Clock()
    conv2d, calls = costly(clock, cost, broken=True)
    result = _fuzz(clock, conv2d, seconds=seconds)
    (finding,) = result.findings
    # found on the first configuration: drawing goes on while more than the time kept for
    # shrinking one finding is left
    kept = min(fuzz_module.SHRINK_STEPS * cost, seconds * SHRINK_SHARE)
    assert result.configurations == math.ceil((seconds - kept) / cost)
    drawn_until = clock.now
    shrink_findings(result, [implementation("timed", conv2d)], seed=3, variants=False)
    left = seconds - drawn_until
    # shrink steps start while time is left (the chunk's replay stops at the first one), or
    # shrinking ends sooner, having nothing smaller to try
    most = max(math.ceil(left / cost), 0)
    assert len(calls) == result.configurations + finding.shrink_steps
    assert clock.now < seconds + cost
    assert result.shrink_seconds == clock.now - drawn_until
    moved = repr(finding.smallest) != repr(finding.first)
    if finding.shrink_stop == "out of time":
        assert finding.shrink_steps == most
        assert finding.shrunk == ("partly shrunk" if moved else "not shrunk")
    else:
        assert (finding.shrunk, finding.shrink_stop) == ("shrunk", "")
        assert finding.shrink_steps <= most
    if finding.shrink_steps == 0:
        assert finding.smallest is finding.first


def test_several_findings_share_what_is_left_and_all_steps_start_in_time():
    """A conv2d broken two ways (raising on a grouped case, wrong elsewhere): two findings,
    each shrunk in its share; no step starts after the budget."""
    clock = Clock()
    starts = []

    def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        starts.append(clock.now)
        clock.now += 1
        if groups > 1:
            raise RuntimeError("no groups")
        return np.zeros(1)

    result = _fuzz(clock, conv2d, seconds=40)
    assert len(result.findings) >= 2, [f.signature for f in result.findings]
    shrink_findings(result, [implementation("timed", conv2d)], seed=3, variants=False)
    assert max(starts) < 40
    assert clock.now <= 41
    assert sum(f.shrink_steps for f in result.findings) + result.configurations == len(starts)


def test_count_and_seconds_together_stop_at_the_first_limit():
    clock = Clock()
    conv2d, _ = costly(clock, 1, broken=False)
    assert _fuzz(clock, conv2d, count=3, seconds=100).configurations == 3
    clock.now = 0.0
    assert _fuzz(clock, conv2d, count=100, seconds=5).configurations == 5
    clock.now = 0.0
    assert _fuzz(clock, conv2d, count=60).configurations == 60  # no limit on time


def test_without_a_time_limit_shrinking_finishes_on_a_smallest_case():
    clock = Clock()
    conv2d, _ = costly(clock, 1, broken=True)
    result = _fuzz(clock, conv2d, count=5)
    (finding,) = result.findings
    shrink_findings(result, [implementation("timed", conv2d)], seed=3, variants=False)
    assert (finding.shrunk, finding.shrink_stop, finding.shrink_words) == ("shrunk", "", "")
    case = case_from_dict({**finding.smallest, "id": "smallest"})
    assert case.input_shape == (1, 1, 1, 1)  # raising on everything: the smallest there is
    assert case.weight_shape == (1, 1, 1, 1)


def _elements(raw: dict) -> int:
    return int(np.prod(case_from_dict({**raw, "id": "x"}).input_shape))


def test_a_partly_shrunk_case_still_shows_its_finding_and_says_how_far_it_got(tmp_path):
    """A conv2d that raises on inputs of more than 6 elements: the first finding is larger than
    need be; 6 steps shrink it some of the way, and what is kept still raises."""
    clock = Clock()
    fine, _ = costly(clock, 1, broken=False)

    def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        if np.asarray(input).size > 6:
            clock.now += 1
            raise RuntimeError("too large")
        return fine(input, weight, bias, stride, padding, dilation, groups)

    result = _fuzz(clock, conv2d, count=50)
    (finding,) = result.findings
    finding.smallest = shrink(
        finding, [implementation("timed", conv2d)], 3, False, seconds=6, clock=clock
    )
    assert finding.shrink_steps == 6
    assert finding.shrink_words == "partly shrunk: out of time"
    assert 6 < _elements(finding.smallest) <= _elements(finding.first)
    rows = run_case(
        case_from_dict({**finding.smallest, "id": "kept"}),
        [implementation("timed", conv2d)],
        RunOptions(variants=False),
    )
    assert [(r.status, r.implementation) for r in rows if r.failed] == [("error", "timed")]
    (saved,) = load_cases([save_finding(finding, tmp_path, 3, 0)])
    assert "(partly shrunk: out of time)" in saved.description
    result.shrink_seconds = 4.0
    first, line = fuzz_summary(result)[:2]
    assert "1 saved before shrinking finished" in first
    assert "a longer --seconds shrinks further" in first
    assert line.endswith("(partly shrunk: out of time)")


def test_budget_reads_only_its_clock():
    clock = Clock()
    budget = Budget.start(8, clock)
    clock.now = 5.9
    assert budget.left() == pytest.approx(2.1)
    assert not budget.drawing_over(found=1, per_configuration=1.0)  # over a quarter of 8 s
    clock.now = 6.1
    assert not budget.drawing_over()
    assert budget.drawing_over(found=1, per_configuration=1.0)  # 1.9 s left: under 2 s
    # 1.9 s left: kept for 2 findings of SHRINK_STEPS steps of 1.8 / 2 / SHRINK_STEPS s each
    # (1.8 s), not for 3 (2.7 s, within the cap of 2 s)
    step = 1.8 / 2 / fuzz_module.SHRINK_STEPS
    assert not budget.drawing_over(found=2, per_configuration=step)
    assert budget.drawing_over(found=3, per_configuration=step)
    clock.now = 8
    assert budget.drawing_over()
    assert Budget.start(None, clock).left() == math.inf


def test_the_command_shares_its_seconds_with_shrinking(monkeypatch, tmp_path, capsys):
    """`fuzz --seconds 20`, every configuration costing 1 s on a fake monotonic clock: 15 drawn,
    5 shrink steps, the case saved partly shrunk."""
    clock = Clock()
    monkeypatch.setattr(fuzz_module.time, "monotonic", clock)
    real = fuzz_module.failing_rows

    def one_second(raw, implementations, options):
        clock.now += 1
        return real(raw, implementations, options)

    monkeypatch.setattr(fuzz_module, "failing_rows", one_second)
    plugin = tmp_path / "large_only.py"
    plugin.write_text(
        "import numpy as np\n"
        "def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):\n"
        "    if np.asarray(input).size > 6:\n"
        "        raise RuntimeError('too large')\n"
        "    raise NotImplementedError('small inputs are not supported')\n"
    )
    argv = ["fuzz", "--impl", f"{plugin}:conv2d", "--no-variants", "--rank", "2"]
    found = tmp_path / "found"
    code = cli.main([*argv, "--seconds", "20", "--seed", "2", "--save", str(found)])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("15 configurations in 15.0 s"), out
    assert "shrunk in 5.0 s" in out
    assert "(partly shrunk: out of time)" in out
    assert clock.now == 20
    (saved,) = load_cases(list(found.iterdir()))
    assert "(partly shrunk: out of time)" in saved.description


def test_help_says_how_count_and_seconds_combine():
    text = " ".join(run_cli("fuzz", "--help").stdout.split())
    assert "whichever limit comes first" in text
    assert "shrinking included" in text
