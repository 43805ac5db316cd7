"""pytest plugin (entry point `pytest11`, name `conv_harness`): options, the case matrix, markers
and the report header.

Installed with conv-harness, it is loaded in every pytest run of that environment and does nothing
until asked: `pytest --conv-impl module:function` (or `--conv-cases PATH`, `--conv-shard I/N`) runs
one test per (case, implementation, variant) over ./cases at the rootdir when it exists, else the
built-in registry, with ids like `test_matrix[seed_stats_se_335321-mymod:conv2d-as_is]`. A test
that takes the `matrix_row` fixture (this repository's tests/test_matrix.py) is parametrised with
the matrix; when no collected test takes it, the plugin contributes the matrix items itself
(`MatrixCollector`, node `conv-harness`). Cases and implementations are resolved when pytest starts
(`activate`): a bad name, path or shard is one usage error (exit 4) before any test runs; a peer
that is not available here (its package, a CUDA device) is not an error, its tests skip saying why.
Rows come from harness.running.runner, the same code path as `conv-harness run`: a case is run once
(all its rows at once) the first time one of its tests needs it. Case tags become registered
markers. Heavy imports happen inside functions.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.cases.errors import HarnessError

PLUGIN_NAME = "conv_harness"
MATRIX_FIXTURE = "matrix_row"
MATRIX_NODE = "conv-harness"

# (name, argparse keywords): the option is --conv-NAME, stored as conv_NAME (dashes as underscores)
OPTIONS = (
    (
        "cases",
        {
            "action": "append",
            "default": None,
            "metavar": "PATH",
            "help": "case files/directories for the matrix (default: ./cases at the rootdir if "
            "it exists, else the built-in registry)",
        },
    ),
    (
        "impl",
        {
            "action": "append",
            "default": None,
            "metavar": "NAME|module:function",
            "help": "implementations for the matrix, repeatable (default: torch, scipy, "
            "reference); runs the matrix even if no test asks for it",
        },
    ),
    (
        "backward",
        {
            "action": "store_true",
            "default": False,
            "help": "also test the backward pass: a test per gradient (grad_input, grad_weight, "
            "grad_bias) and its variants, as conv-harness run --backward",
        },
    ),
    (
        "layouts",
        {
            "default": None,
            "metavar": "all|LIST",
            "help": "also test the implementations that take torch tensors with their tensors in "
            "these memory layouts (as conv-harness run --layouts): ids like "
            "case-torch-as_is@channels_last",
        },
    ),
    (
        "shard",
        {
            "default": None,
            "metavar": "I/N",
            "help": "only the cases of shard I of N (as conv-harness run --shard)",
        },
    ),
    (
        "large",
        {
            "action": "store_true",
            "default": False,
            "help": "also run the cases tagged `large` (otherwise skipped with the reason)",
        },
    ),
    (
        "strict-rejections",
        {
            "action": "store_true",
            "default": False,
            "help": "fail when a plug-in accepts a case declared `rejects` (accepts_invalid; "
            "otherwise such tests are skipped with the reason)",
        },
    ),
)
LARGE_SKIP = "tagged large: left out unless asked for (--conv-large)"
# the options that ask for the matrix (--conv-strict-rejections alone only changes verdicts)
REQUESTING = ("cases", "impl", "shard")


def _dest(name: str) -> str:
    return "conv_" + name.replace("-", "_")


def pytest_addoption(parser):
    group = parser.getgroup("conv-harness", "conv-harness: the convolution case matrix")
    for name, keywords in OPTIONS:
        group.addoption(f"--conv-{name}", dest=_dest(name), **keywords)


def add_unprefixed_aliases(parser) -> None:
    """The options under their names without the prefix (--cases, --impl, --shard,
    --strict-rejections), stored in the same place. For a project's own conftest.py
    (`pytest_addoption`); this repository's keeps its older commands working with it."""
    group = parser.getgroup("conv-harness")
    for name, keywords in OPTIONS:
        group.addoption(
            f"--{name}", dest=_dest(name), **{**keywords, "help": f"alias of --conv-{name}"}
        )


def requested(config) -> bool:
    """True when the command line asks for the matrix (--conv-impl, --conv-cases, --conv-shard)."""
    return any(config.getoption(_dest(name)) for name in REQUESTING)


def _usage_error(error: HarnessError) -> pytest.UsageError:
    # pytest prints each argument as its own `ERROR: ...` line and exits 4, without a traceback
    return pytest.UsageError(*(f"conv-harness: {problem}" for problem in error.problems))


class MatrixState:
    """Cases, implementations and the per-case row cache for one session."""

    def __init__(self, config):
        from harness.cases.loading import default_case_paths, load_cases
        from harness.running.select import LARGE_TAG, parse_shard, shard

        self.config = config
        self.implementation_names = config.getoption("conv_impl") or None
        try:
            paths = config.getoption("conv_cases") or default_case_paths(config.rootpath)
            self.cases = load_cases(paths)
            if not config.getoption("conv_large"):
                self.cases = [
                    replace(case, skip_reason=LARGE_SKIP) if LARGE_TAG in case.tags else case
                    for case in self.cases
                ]
            if config.getoption("conv_shard"):
                index, count = parse_shard(config.getoption("conv_shard"), "--conv-shard")
                self.cases = shard(self.cases, index, count)
            self.implementations, self.unavailable = self._resolve()
        except HarnessError as error:
            raise _usage_error(error) from None
        self.layouts: tuple[str, ...] = ()
        if config.getoption("conv_layouts"):
            from harness.cases.layouts import parse_layouts

            try:
                self.layouts = parse_layouts(config.getoption("conv_layouts"))
            except ValueError as error:
                raise pytest.UsageError(f"conv-harness: --conv-layouts: {error}") from None
        self._rows: dict[str, dict] = {}
        self.runner = None  # harness.running.isolation.CaseRunner, started by the first case run

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()
            self.runner = None

    @property
    def names(self) -> list[str]:
        from harness.computations.registry import DEFAULT_IMPLEMENTATIONS

        return list(dict.fromkeys(self.implementation_names or DEFAULT_IMPLEMENTATIONS))

    def _resolve(self):
        """The Implementation of each available name (resolved once, here), and {name: why} for
        the peers that are not available here (their tests are skipped with the reason)."""
        from harness.computations.peers import ImplementationUnavailable
        from harness.computations.registry import resolve

        implementations, unavailable = [], {}
        for name in self.names:
            try:
                implementations.append(resolve(name, isolated=True))
            except ImplementationUnavailable as error:
                unavailable[name] = error.problems[0]
        return implementations, unavailable

    def rows_for(self, case):
        if case.id not in self._rows:
            from harness.running.runner import RunOptions

            options = RunOptions(
                strict_rejections=self.config.getoption("conv_strict_rejections"),
                backward=self.config.getoption("conv_backward"),
                layouts=self.layouts,
            )
            if self.runner is None:  # a worker process: a native crash is that case's error
                from harness.running.isolation import CaseRunner

                self.runner = CaseRunner([i.name for i in self.implementations])
            records = self.runner.run_case(case, options)
            self._rows[case.id] = {(r.implementation, row_label(r)): r for r in records}
        return self._rows[case.id]

    def gradient_layouts(self, case, implementation) -> list[str]:
        """The layouts of the implementation's backward rows on the case
        (harness.running.layout_rows)."""
        if implementation is None or (not self.layouts and not case.layouts):
            return []
        from harness.running.layout_rows import planned_operation_layouts

        op = f"{case.op}_backward"
        return planned_operation_layouts(case, implementation, self.layouts, op)

    def matrix(self):
        """(case, implementation, variant) triples, in the report's order."""
        from harness.running.runner import planned_layouts
        from harness.running.variants import planned_variants

        names = self.names
        resolved = {i.name: i for i in self.implementations}
        backward = self.config.getoption("conv_backward")
        for case in self.cases:
            for name in names:
                yield case, name, "as_is"
                if name in resolved:
                    for layout in planned_layouts(case, resolved[name], self.layouts):
                        yield case, name, f"as_is@{layout}"
            if case.computes:
                for variant in planned_variants(case):
                    yield case, variant.implementation, variant.name
            if backward and case.computes:
                from harness.running.backward import BACKWARD_VARIANTS, GRADIENTS

                quantities = [q for q in GRADIENTS if q != "grad_bias" or case.bias is not None]
                for name in names:
                    for quantity in quantities:
                        yield case, name, quantity
                    for layout in self.gradient_layouts(case, resolved.get(name)):
                        for quantity in quantities:
                            yield case, name, f"{quantity}@{layout}"
                for variant_name, quantity in BACKWARD_VARIANTS:
                    if quantity in quantities and not case.transposed:
                        yield case, "reference", variant_name


def row_label(record) -> str:
    """The matrix's third id part: the variant, or the gradient of a backward as_is row; `@` and
    the layout on a layout row."""
    if record.quantity != "output" and record.variant == "as_is":
        if record.layout != "contiguous":
            return f"{record.quantity}@{record.layout}"
        return record.quantity
    if record.layout != "contiguous":
        return f"{record.variant}@{record.layout}"
    return record.variant


_STATE = pytest.StashKey[MatrixState]()


def activate(config) -> MatrixState:
    """The session's matrix, loading the cases and resolving the implementations on the first
    call (a pytest.UsageError for bad ones) and registering the cases' tags as markers."""
    state = config.stash.get(_STATE, None)
    if state is None:
        state = config.stash[_STATE] = MatrixState(config)
        for tag in sorted({tag for case in state.cases for tag in case.tags}):
            config.addinivalue_line("markers", f"{tag}: case tag from the registry")
    return state


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "matrix: a (case, implementation, variant) row of the registry"
    )
    if requested(config):
        activate(config)  # before any test: bad usage is one error, not a failure per test


def pytest_unconfigure(config):
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()  # the worker process ends with the session


def pytest_report_header(config):
    state = config.stash.get(_STATE, None)
    if state is None:
        return None
    import numpy
    import scipy

    try:
        import torch

        torch_version = str(torch.__version__)
    except ImportError:  # pragma: no cover - torch is a dependency
        torch_version = "not installed"
    return [
        f"conv-harness: torch {torch_version}, numpy {numpy.__version__}, "
        f"scipy {scipy.__version__}",
        f"conv-harness: {len(state.cases)} cases, implementations: {', '.join(state.names)}",
    ]


def _test_id(case, implementation: str, variant: str) -> str:
    return f"{case.id}-{implementation}-{variant}"


def _marks(case) -> list:
    marks = [pytest.mark.matrix, *(getattr(pytest.mark, tag) for tag in case.tags)]
    if case.skip_reason:
        marks.append(pytest.mark.skip(reason=f"{case.id}: {case.skip_reason}"))
    return marks


def pytest_generate_tests(metafunc):
    if MATRIX_FIXTURE not in metafunc.fixturenames:
        return
    state = activate(metafunc.config)
    params = [pytest.param(row, marks=_marks(row[0]), id=_test_id(*row)) for row in state.matrix()]
    metafunc.parametrize(MATRIX_FIXTURE, params)


class MatrixItem(pytest.Item):
    """One (case, implementation, variant) row as a test, named like tests/test_matrix.py's."""

    def __init__(self, *, row, **keywords):
        super().__init__(**keywords)
        self.row = row
        for mark in _marks(row[0]):
            self.add_marker(mark)

    def runtest(self):
        check_row(activate(self.config), *self.row)

    def reportinfo(self):
        # where a skip or failure is reported from: the case's file (line unknown: the first)
        return self.row[0].file, 0, self.name


class MatrixCollector(pytest.Collector):
    """The matrix for a project whose tests do not ask for it: one MatrixItem per row."""

    def collect(self):
        for row in activate(self.config).matrix():
            yield MatrixItem.from_parent(self, name=f"test_matrix[{_test_id(*row)}]", row=row)


@pytest.hookimpl(tryfirst=True)  # before -k, -m and --deselect filter the items
def pytest_collection_modifyitems(session, config, items):
    if config.stash.get(_STATE, None) is None or not requested(config):
        return
    if any(MATRIX_FIXTURE in getattr(item, "fixturenames", ()) for item in items):
        return
    collector = MatrixCollector.from_parent(session, name=MATRIX_NODE, nodeid=MATRIX_NODE)
    items.extend(session.genitems(collector))


@pytest.fixture
def matrix_state(request) -> MatrixState:
    return activate(request.config)


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
            f"{_test_id(case, implementation, variant)}: {record.message}"
        )
    return record


_HIDDEN = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    hidden = config.stash.get(_HIDDEN, [])
    if hidden and "a" in (config.option.reportchars or "").lower():
        terminalreporter.section("hidden divergences (the case's data cannot show the semantics)")
        for line in hidden:
            terminalreporter.line(f"HIDDEN {line}")
