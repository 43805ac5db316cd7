"""pytest plugin: options, the case matrix's parametrisation, markers and the report header.

`pytest` runs one test per (case, implementation, variant) over cases/ (ids like
`seed_stats_se_335321-scipy-as_is`); `pytest --cases PATH --impl module:function` over others.
Rows come from harness.runner, the same code path as `conv-harness run`: a case is run once (all its
rows at once) the first time one of its tests needs it. Case tags become registered markers.
Heavy imports happen inside functions.
"""

from __future__ import annotations

import pytest

from harness.errors import HarnessError

MATRIX_FIXTURE = "matrix_row"


def pytest_addoption(parser):
    group = parser.getgroup("conv-harness")
    group.addoption(
        "--cases",
        action="append",
        default=None,
        metavar="PATH",
        help="case files/directories for the matrix (default: cases/)",
    )
    group.addoption(
        "--impl",
        action="append",
        default=None,
        metavar="NAME|module:function",
        help="implementations for the matrix (default: torch, scipy, reference)",
    )
    group.addoption(
        "--shard",
        default=None,
        metavar="I/N",
        help="only the cases of shard I of N (as conv-harness run --shard)",
    )
    group.addoption(
        "--strict-rejections",
        action="store_true",
        default=False,
        help="fail when a plug-in accepts a case declared `rejects` (accepts_invalid; "
        "otherwise such tests are skipped with the reason)",
    )


class MatrixState:
    """Cases, implementations and the per-case row cache for one session."""

    def __init__(self, config):
        from harness.cases import load_cases

        self.config = config
        paths = config.getoption("--cases") or [str(config.rootpath / "cases")]
        self.implementation_names = config.getoption("--impl") or None
        try:
            self.cases = load_cases(paths)
            if config.getoption("--shard"):
                from harness.select import parse_shard, shard

                self.cases = shard(self.cases, *parse_shard(config.getoption("--shard")))
        except HarnessError as error:
            raise pytest.UsageError("\n".join(error.problems)) from None
        self._implementations = None
        self.unavailable: dict[str, str] = {}
        self._rows: dict[str, dict] = {}

    @property
    def implementations(self):
        """Available implementations; unavailable peers are remembered and their tests skipped."""
        if self._implementations is None:
            from harness.peers import ImplementationUnavailable
            from harness.registry import DEFAULT_IMPLEMENTATIONS, get_implementation

            self._implementations = []
            for name in dict.fromkeys(self.implementation_names or DEFAULT_IMPLEMENTATIONS):
                try:
                    self._implementations.append((name, get_implementation(name)))
                except ImplementationUnavailable as error:
                    self.unavailable[name] = error.problems[0]
                except HarnessError as error:
                    raise pytest.UsageError("\n".join(error.problems)) from None
        return self._implementations

    def rows_for(self, case):
        if case.id not in self._rows:
            from harness.runner import RunOptions, run_case

            options = RunOptions(strict_rejections=self.config.getoption("--strict-rejections"))
            records = run_case(case, self.implementations, options)
            self._rows[case.id] = {(r.implementation, r.variant): r for r in records}
        return self._rows[case.id]

    def matrix(self):
        """(case, implementation, variant) triples, in the report's order."""
        from harness.registry import DEFAULT_IMPLEMENTATIONS
        from harness.variants import planned_variants

        names = list(dict.fromkeys(self.implementation_names or DEFAULT_IMPLEMENTATIONS))
        for case in self.cases:
            for name in names:
                yield case, name, "as_is"
            if case.computes:
                for variant in planned_variants(case):
                    yield case, variant.implementation, variant.name


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "matrix: a (case, implementation, variant) row of the registry"
    )
    state = MatrixState(config)
    config.stash[_STATE] = state
    for tag in sorted({tag for case in state.cases for tag in case.tags}):
        config.addinivalue_line("markers", f"{tag}: case tag from the registry")


_STATE = pytest.StashKey[MatrixState]()


def pytest_report_header(config):
    import numpy
    import scipy

    try:
        import torch

        torch_version = torch.__version__
    except ImportError:  # pragma: no cover - torch is a dependency
        torch_version = "not installed"
    state = config.stash[_STATE]
    names = state.implementation_names or ["torch", "scipy", "reference"]
    return [
        f"conv-harness: torch {torch_version}, numpy {numpy.__version__}, "
        f"scipy {scipy.__version__}",
        f"conv-harness: {len(state.cases)} cases, implementations: {', '.join(names)}",
    ]


def pytest_generate_tests(metafunc):
    if MATRIX_FIXTURE not in metafunc.fixturenames:
        return
    state = metafunc.config.stash[_STATE]
    params = []
    for case, implementation, variant in state.matrix():
        marks = [pytest.mark.matrix, *(getattr(pytest.mark, tag) for tag in case.tags)]
        if case.skip_reason:
            marks.append(pytest.mark.skip(reason=f"{case.id}: {case.skip_reason}"))
        params.append(
            pytest.param(
                (case, implementation, variant),
                marks=marks,
                id=f"{case.id}-{implementation}-{variant}",
            )
        )
    metafunc.parametrize(MATRIX_FIXTURE, params)


@pytest.fixture
def matrix_state(request) -> MatrixState:
    return request.config.stash[_STATE]


def check_row(state: MatrixState, case, implementation: str, variant: str):
    """Fail (without a harness traceback) unless the row meets its expectation."""
    rows = state.rows_for(case)
    if implementation in state.unavailable:
        pytest.skip(state.unavailable[implementation])
    record = rows.get((implementation, variant))
    where = f"[{case.file} :: {case.id}]"
    if record is None:
        pytest.fail(
            f"no row for implementation {implementation!r}, variant {variant!r} {where}",
            pytrace=False,
        )
    if record.status == "unsupported":
        pytest.skip(f"{implementation} does not support this case: {record.message} {where}")
    if record.status == "accepts_invalid" and not record.failed:  # without --strict-rejections
        pytest.skip(f"accepts_invalid: {implementation} {record.message} {where}")
    if record.failed:
        cause = f" (cause: {record.cause})" if record.cause else ""
        pytest.fail(f"{record.status}{cause}: {record.message} {where}", pytrace=False)
    if record.status == "hidden":
        state.config.stash.setdefault(_HIDDEN, []).append(
            f"{case.id}-{implementation}-{variant}: {record.message}"
        )
    return record


_HIDDEN = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    hidden = config.stash.get(_HIDDEN, [])
    if hidden and "a" in (config.option.reportchars or "").lower():
        terminalreporter.section("hidden divergences (the case's data cannot show the semantics)")
        for line in hidden:
            terminalreporter.line(f"HIDDEN {line}")
