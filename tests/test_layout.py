"""The package's layout: packages by concern in the order of the data flow, imports that only
point down it (no package imports one above it, no circle among modules, counting imports inside
functions too), no module over 460 lines, a docstring on top of each module; and implementations
resolved once: only the resolver looks at a name to learn what an implementation is."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

PACKAGE = ROOT / "harness"
MAX_LINES = 460

# the packages, lowest first: each may import those before it (and itself), never one after it;
# the modules directly in harness/ are the interfaces (CLI, pytest plugin, fuzz, strategies, the
# Python API) on top, which no package imports
ORDER = ("cases", "computations", "verdicts", "explaining", "running", "probing", "reporting")

# the resolver: the only modules that turn a name into what an implementation is
RESOLVER = {"harness.computations.registry", "harness.computations.devices"}
# the helpers that read an implementation's name (its form, its device)
NAME_PARSING = {
    "harness.cases.naming": {
        "is_device_name",
        "is_plugin_name",
        "is_module_name",
        "DEVICE_ALIASES",
    },
    "harness.computations.devices": {"canonical", "parse", "is_device_implementation"},
    "harness.computations.registry": {"operations_of", "get_implementation", "is_plugin"},
}
# the edges that resolve names: the interfaces, and the entry points of worker processes (a
# worker process resolves the names it is sent, once)
RESOLVING_EDGES = {
    "harness.running.executor",
    "harness.running.isolation",
    "harness.probing.diagnose_isolated",
}


def module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path) -> list[tuple[str, set[str]]]:
    """(module imported, names taken from it) for each harness import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
            found.append((node.module, {alias.name for alias in node.names}))
        elif isinstance(node, ast.Import):
            found += [(a.name, set()) for a in node.names if a.name.startswith("harness")]
    return found


def modules() -> dict[str, object]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph = {}
    for module, path in known.items():
        deps = set()
        for imported, names in imports_of(path):
            deps.add(imported)
            # `from harness.pkg import module` imports that module
            deps.update(f"{imported}.{n}" for n in names if f"{imported}.{n}" in known)
        graph[module] = {d for d in deps if d in known} - {module}
    return graph


def package_of(module: str) -> str | None:
    """The package (of ORDER) a module belongs to; None for the interfaces on top."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ORDER) else None


def level(module: str) -> int:
    package = package_of(module)
    return len(ORDER) if package is None else ORDER.index(package)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return [
        (module, dep)
        for module, deps in graph.items()
        for dep in deps
        if module != "harness" and level(dep) > level(module)
    ]


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_direction_check_finds_a_planted_upward_import():
    graph = {
        "harness.cases.case": {"harness.running.runner"},  # a package importing one above it
        "harness.running.runner": {"harness.cases.case"},
        "harness.cli": {"harness.running.runner"},
        "harness.verdicts.records": {"harness.cli"},  # a package importing an interface
    }
    assert sorted(upward_imports(graph)) == [
        ("harness.cases.case", "harness.running.runner"),
        ("harness.verdicts.records", "harness.cli"),
    ]


def test_every_module_lives_in_a_package_of_the_data_flow_or_on_top():
    for module in modules():
        parts = module.split(".")
        assert len(parts) <= 3, module
        if len(parts) == 3:
            assert parts[1] in ORDER, module


def test_no_package_imports_one_above_it():
    assert upward_imports(import_graph()) == []


def test_no_import_circle_among_harness_modules():
    assert find_cycle(import_graph()) is None


def test_modules_are_small_and_say_what_they_own():
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        assert len(text.splitlines()) <= MAX_LINES, path
        assert ast.get_docstring(ast.parse(text)), path


def test_only_the_resolver_reads_an_implementations_name():
    """Below the resolver no module parses an implementation name or looks one up again: the
    name-reading helpers are imported by the resolver alone, and the resolver is called by the
    edges (the interfaces and the worker processes' entry points) alone."""
    offenders = []
    for module, path in modules().items():
        for imported, names in imports_of(path):
            parsing = names & NAME_PARSING.get(imported, set())
            if parsing and module not in RESOLVER and module not in RESOLVING_EDGES:
                if package_of(module) is not None:  # the interfaces on top are edges
                    offenders.append((module, imported, sorted(parsing)))
            resolving = imported == "harness.computations.registry" and any(
                name.startswith("resolve") for name in names
            )
            edge = package_of(module) is None or module in RESOLVING_EDGES or module in RESOLVER
            if resolving and not edge:
                offenders.append((module, imported, sorted(names)))
    assert offenders == []
