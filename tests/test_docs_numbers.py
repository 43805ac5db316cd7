"""Numbers in README.md and CONTRIBUTING.md that a command prints are either checked here against
the command or not written at all: a count of tests, rows, probes, configurations or findings
goes stale with every case added, so the prose says what is counted and the command says how
many. The transcripts README shows are rerun and compared with what the commands print now."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT, run_cli

DOCS = ("README.md", "CONTRIBUTING.md")
# "1,650 tests", "258 probes", "3,929 torch rows", "2000 configurations", "0 findings", "4,448
# passed" (a dtype's digits, as in "float16 rows", are part of a word and not a count)
PRINTED_COUNT = re.compile(
    r"(?<![\w.])\d[\d,]*\s+(?:(?:torch|layout|other|more|failing)\s+){0,2}"
    r"(?:tests?|rows?|probes?|configurations?|findings?|passed|failed|skipped)\b"
)
CHECKED_TRANSCRIPT = re.compile(r"```text\n\$ conv-harness .*?```", flags=re.S)


@pytest.mark.parametrize("name", DOCS)
def test_no_unchecked_count_of_what_a_command_prints(name):
    text = CHECKED_TRANSCRIPT.sub("", (ROOT / name).read_text())  # those are checked below
    found = [m.group(0).replace("\n", " ") for m in PRINTED_COUNT.finditer(text)]
    assert found == [], f"{name}: counts a command prints, neither checked nor removed: {found}"


def transcripts() -> list[tuple[str, list[str]]]:
    """README's ```text blocks that start with `$ conv-harness ...`: (the command, its lines)."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```text\n\$ conv-harness ([^\n]*)\n(.*?)```", text, flags=re.S)
    return [(command, shown.splitlines()) for command, shown in blocks]


def test_readme_has_the_transcripts_checked_here():
    commands = [command.split()[0] for command, _ in transcripts()]
    assert sorted(commands) == ["diagnose", "explain"]


@pytest.mark.parametrize(
    ("command", "shown"), [pytest.param(c, s, id=c.split()[0]) for c, s in transcripts()]
)
def test_a_readme_transcript_is_what_the_command_prints(command, shown):
    result = run_cli(*command.split())
    status = None
    if shown[-2:-1] == ["$ echo $?"]:  # the transcript shows the exit status
        shown, status = shown[:-2], int(shown[-1])
    assert result.returncode == (0 if status is None else status), result.stderr
    printed = result.stdout.splitlines()
    if "..." not in shown:
        assert printed == shown
        return
    # `...` leaves lines out: what is shown appears in that order, each line exactly
    at = 0
    for line in (line for line in shown if line != "..."):
        assert line in printed[at:], f"README line not printed (in this order): {line!r}"
        at = printed.index(line, at) + 1
