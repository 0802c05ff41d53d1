"""The package's modules import one another without a circle.

The graph is read from the source with ``ast``: every ``import`` and ``from
... import`` of a neurust module, at module level or inside a function (a
deferred import still ties the two modules together), except those under
``if TYPE_CHECKING:``, which never run. ``from package import name`` counts as
an import of the submodule when ``name`` is one (``from neurust import _core``),
else of the package. A package's ``__init__`` that a submodule's import runs
on the way is not counted: it is not what the module asked for.
"""

from __future__ import annotations

import ast
from pathlib import Path

import neurust

PACKAGE = Path(neurust.__file__).parent


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (source file, whether it is a package's ``__init__``)."""
    modules: dict[str, tuple[Path, bool]] = {}
    for path in sorted([*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.pyi")]):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(name: str, is_package: bool, tree: ast.AST, known: set[str]) -> set[str]:
    """The neurust modules that module ``name`` imports, anywhere but under TYPE_CHECKING."""
    found: set[str] = set()
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                pending.extend(child.orelse)
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names if alias.name in known)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - child.level + 1]
                    source = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    source = child.module or ""
                for alias in child.names:
                    if f"{source}.{alias.name}" in known:
                        found.add(f"{source}.{alias.name}")
                    elif source in known:
                        found.add(source)
            else:
                pending.append(child)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the neurust modules it imports."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[name] = _imported(name, is_package, tree, known)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle through each module that lies on one (depth-first search)."""
    found: list[list[str]] = []
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_the_graph_sees_the_package_and_its_imports() -> None:
    graph = import_graph()
    assert "neurust.model" in graph and "neurust.distributed.fit" in graph
    assert "neurust._core" in graph["neurust.model"]
    assert "neurust.backends._mlp" in graph["neurust.distributed.fit"]
    # a deferred import inside a function counts
    assert "neurust.compare" in graph["neurust.cli"]


def test_a_circle_is_found_where_there_is_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]


def test_no_module_of_the_package_imports_itself_through_others() -> None:
    found = cycles(import_graph())
    assert not found, "import circles: " + "; ".join(" -> ".join(c) for c in found)
