"""Case selection: a small `-k` expression language like pytest's.

`-k EXPR` keeps the cases for which EXPR is true, where EXPR combines words with `and`, `or`,
`not` and parentheses, and a word is true when it is a substring (case-insensitive) of the case
id, one of its tags, its sweep id or its file name. `--shard I/N` keeps a deterministic share.

Cases tagged `large` (too big for every run: many channels, 64-bit indexing) are left out unless
the expression names them: a word of it is `large`, or a substring of the case's id.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from harness.cases.errors import HarnessError
from harness.cases.loading import Case

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


def _tokens(expression: str) -> list[str]:
    position, tokens = 0, []
    expression = expression.strip()
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if not match:
            break
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def compile_expression(expression: str) -> Callable[[Callable[[str], bool]], bool]:
    """Parse EXPR once; the result evaluates it with a word matcher."""
    tokens = _tokens(expression)
    position = 0

    def fail(message: str):
        raise HarnessError(f"-k '{expression}': {message}")

    def peek():
        return tokens[position] if position < len(tokens) else None

    def take():
        nonlocal position
        position += 1
        return tokens[position - 1]

    def parse_or():
        left = parse_and()
        while peek() == "or":
            take()
            right = parse_and()
            left = (lambda a, b: lambda m: a(m) or b(m))(left, right)
        return left

    def parse_and():
        left = parse_not()
        while peek() == "and":
            take()
            right = parse_not()
            left = (lambda a, b: lambda m: a(m) and b(m))(left, right)
        return left

    def parse_not():
        if peek() == "not":
            take()
            inner = parse_not()
            return lambda m: not inner(m)
        return parse_atom()

    def parse_atom():
        token = peek()
        if token is None:
            fail("expression ends too early")
        if token == "(":
            take()
            inner = parse_or()
            if peek() != ")":
                fail("missing ')'")
            take()
            return inner
        if token in (")", "and", "or"):
            fail(f"unexpected '{token}'")
        word = take().lower()
        return lambda m: m(word)

    if not tokens:
        return lambda matcher: True
    tree = parse_or()
    if position != len(tokens):
        fail(f"unexpected '{tokens[position]}'")
    return tree


def case_matcher(case: Case) -> Callable[[str], bool]:
    names = [case.id, *case.tags, case.sweep or "", case.file.rsplit("/", 1)[-1]]
    names = [n.lower() for n in names if n]
    return lambda word: any(word in name for name in names)


LARGE_TAG = "large"


def names_large_case(case: Case, expression: str | None) -> bool:
    """Whether a selection asks for this case although it is tagged `large`."""
    if not expression:
        return False
    words = [w.lower() for w in _tokens(expression) if w not in ("(", ")", "and", "or", "not")]
    return any(word == LARGE_TAG or word in case.id.lower() for word in words)


def select(cases: Sequence[Case], expression: str | None) -> list[Case]:
    """The cases `expression` keeps (all without one), `large` ones only when it names them."""
    kept = [c for c in cases if LARGE_TAG not in c.tags or names_large_case(c, expression)]
    if not expression:
        return kept
    evaluate = compile_expression(expression)
    return [case for case in kept if evaluate(case_matcher(case))]


def parse_shard(text: str, option: str = "--shard") -> tuple[int, int]:
    """'I/N' -> (I, N) with 1 <= I <= N; errors name `option`."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise HarnessError(f"{option} '{text}': expected I/N, e.g. 1/4") from None
    if not 1 <= index <= count:
        raise HarnessError(f"{option} '{text}': I must be between 1 and N")
    return index, count


CASE_OVERHEAD = 5_000_000  # a case's fixed cost (rows, comparisons, variants) in multiply-adds
PER_OUTPUT_ELEMENT = 100  # comparing a dozen rows and computing the variants, per output element


def estimated_cost(case: Case) -> int:
    """Rough cost of running a case, in multiply-adds of the slow scipy leg (about 1.5 ns each):
    a fixed overhead, the two scipy legs (as_is and flipped, call overhead included, sampled above
    SCIPY_FULL_COST), about a dozen convolutions by the fast reference and torch (about 50x faster
    than scipy) and the comparisons, which grow with the output's size."""
    if not case.computes:
        return CASE_OVERHEAD // 10
    from harness.computations.cost import SCIPY_FULL_COST, scipy_cost

    elements = math.prod(case.output_shape)
    macs = elements * case.reduction_length
    return (
        CASE_OVERHEAD
        + 2 * min(scipy_cost(case), SCIPY_FULL_COST)
        + macs // 4
        + PER_OUTPUT_ELEMENT * elements
    )


def shard(cases: Sequence[Case], index: int, count: int) -> list[Case]:
    """Shard `index` of `count` (1-based): a deterministic partition balanced by estimated cost
    (largest first, each to the lightest shard so far), returned in the cases' own order."""
    if count == 1:
        return list(cases)
    loads = [0] * count
    owner: dict[str, int] = {}
    for case in sorted(cases, key=lambda c: (-estimated_cost(c), c.id)):
        target = min(range(count), key=lambda k: (loads[k], k))
        owner[case.id] = target
        loads[target] += estimated_cost(case)
    return [case for case in cases if owner[case.id] == index - 1]
