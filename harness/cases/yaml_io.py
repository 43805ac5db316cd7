"""Safe YAML reading and writing for case files.

Only PyYAML's safe loader is used: a Python object tag (`!!python/...`) is refused, never executed.
The composed node graph is measured before construction, so an alias bomb ("billion laughs") is
refused in time and memory linear in the file's size; duplicate mapping keys, which YAML silently
collapses, are reported. Every error is one line: `file:line:column: what is wrong`.
"""

from __future__ import annotations

import re

import yaml

from harness.cases.errors import CaseFileError

MAX_EXPANDED_NODES = 1_000_000


class CaseLoader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 floats such as 1e6 and 1.0e-3 as numbers.

    PyYAML follows YAML 1.1, where an exponent needs a sign and a dot (1.0e+6), so `1e6` would
    silently be a string; in a case file it is always meant as a number.
    """


CaseLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)
MAX_FILE_BYTES = 50 * 2**20


def _mark(path: str, mark) -> str:
    if mark is None:
        return path
    return f"{path}:{mark.line + 1}:{mark.column + 1}"


def _check_graph(path: str, root: yaml.Node) -> None:
    """Expanded size with aliases counted at every use; duplicate keys reported."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = (
            [item for pair in node.value for item in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
        )
        if children_done:
            total = 1 + sum(sizes[id(child)] for child in children)
            if total > MAX_EXPANDED_NODES:
                raise CaseFileError(
                    f"{_mark(path, node.start_mark)}: refused: anchors and aliases expand to more "
                    "than "
                    f"{MAX_EXPANDED_NODES:,} nodes (an alias bomb?)"
                )
            sizes[id(node)] = total
            continue
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        raise CaseFileError(
                            f"{_mark(path, key.start_mark)}: duplicate key '{key.value}' in one "
                            "mapping"
                        )
                    seen.add(key.value)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def read_yaml(path: str):
    """Parse one YAML file safely; raise CaseFileError with file:line:column on any problem."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise CaseFileError(f"{path}: cannot read: {error.strerror or error}") from None
    if len(data) > MAX_FILE_BYTES:
        raise CaseFileError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; split it")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CaseFileError(f"{path}: not UTF-8 text (byte {error.start})") from None
    loader = None
    try:
        loader = CaseLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(path, node)
        return loader.construct_document(node)
    except yaml.constructor.ConstructorError as error:
        where = _mark(path, error.problem_mark)
        tag = ""
        if error.problem and "tag" in error.problem:
            tag = error.problem.split("tag", 1)[1].strip(" '")
        if tag.startswith("tag:yaml.org,2002:python/") or "python" in tag:
            raise CaseFileError(
                f"{where}: refused: Python object tag '{tag}' (case files are data; nothing in "
                "them is executed)"
            ) from None
        raise CaseFileError(f"{where}: YAML error: {error.problem}") from None
    except yaml.MarkedYAMLError as error:
        problem = error.problem or error.context or "invalid YAML"
        raise CaseFileError(
            f"{_mark(path, error.problem_mark)}: YAML syntax error: {problem}"
        ) from None
    except yaml.reader.ReaderError as error:
        raise CaseFileError(
            f"{path}: character {error.character!r} at position {error.position} is not allowed "
            "in YAML"
        ) from None
    except yaml.YAMLError as error:
        raise CaseFileError(f"{path}: YAML error: {' '.join(str(error).split())}") from None
    except RecursionError:
        raise CaseFileError(f"{path}: refused: nesting too deep") from None
    finally:
        if loader is not None:
            loader.dispose()


def dump_yaml(data) -> str:
    """Block-style YAML with short numeric lists inline, as the case files are written."""

    class _Dumper(yaml.SafeDumper):
        pass

    def represent_list(dumper, value):
        flat = all(not isinstance(v, (dict,)) for v in value)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)

    _Dumper.add_representer(list, represent_list)
    _Dumper.add_representer(tuple, represent_list)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100)
