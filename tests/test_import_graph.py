"""The house drawing: no import circles between the modules of ``alpha_env``.

Every module is parsed (``ast``, nothing is imported) and every ``import``/``from ... import`` counts,
at module level and inside functions alike (a function-local import hides a circle from Python's import
machinery, not from the design). Imports under ``if TYPE_CHECKING:`` never run and are not counted.

Resolution rules:

* ``from alpha_env.x import y`` where ``alpha_env/x/y.py`` exists is an edge to ``alpha_env.x.y``;
* ``from alpha_env.x import y`` where ``alpha_env.x`` is a package whose ``__init__`` re-exports ``y``
  from one of its submodules is an edge to that submodule (a package ``__init__`` that only re-exports
  is not a room of its own);
* otherwise the edge goes to the module (or package ``__init__``) named.

A circle is a strongly connected component of more than one module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "alpha_env"


def _module_files() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of a tree, at any depth, except those under ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """``{module: {alpha_env modules it imports}}`` for every module of the package."""
    files = _module_files()
    trees = {name: ast.parse(path.read_text(), str(path)) for name, path in files.items()}
    packages = {name for name, path in files.items() if path.name == "__init__.py"}

    # names a package __init__ re-exports from its own submodules
    reexports: dict[str, dict[str, str]] = {}
    for pkg in packages:
        table: dict[str, str] = {}
        for node in _imports(trees[pkg]):
            if isinstance(node, ast.ImportFrom):
                source = _absolute(pkg, True, node)
                if source.startswith(pkg + ".") and source in files:
                    for alias in node.names:
                        table[alias.asname or alias.name] = source
        reexports[pkg] = table

    def resolve(source: str, name: str | None) -> str | None:
        if name is not None and f"{source}.{name}" in files:
            return f"{source}.{name}"
        if name is not None and source in reexports and name in reexports[source]:
            return reexports[source][name]
        while source and source not in files:
            source = source.rpartition(".")[0]
        return source or None

    graph: dict[str, set[str]] = {name: set() for name in files}
    for module, tree in trees.items():
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [resolve(alias.name, None) for alias in node.names
                           if alias.name.split(".")[0] == PACKAGE]
            else:
                source = _absolute(module, module in packages, node)
                if source.split(".")[0] != PACKAGE:
                    continue
                targets = [resolve(source, alias.name) for alias in node.names]
            graph[module].update(t for t in targets if t is not None and t != module)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted, sorted by first name."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0

    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return sorted(out)


def _in_data(component: list[str]) -> bool:
    return all(m == f"{PACKAGE}.data" or m.startswith(f"{PACKAGE}.data.") for m in component)


def _describe(found: list[list[str]]) -> str:
    return "; ".join(" <-> ".join(c) for c in found)


def test_the_graph_sees_every_module_and_function_local_imports():
    graph = import_graph()
    assert f"{PACKAGE}.grammar.codebook" in graph and f"{PACKAGE}.backtest.kernels" in graph
    assert f"{PACKAGE}.ops.threads" in graph[f"{PACKAGE}.backtest.kernels"]
    # the finder itself: a hidden (function-local) import closes a circle
    toy = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(toy) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles_outside_data():
    found = [c for c in circles(import_graph()) if not _in_data(c)]
    assert not found, f"import circles: {_describe(found)}"


def test_no_import_circles_inside_data():
    found = [c for c in circles(import_graph()) if _in_data(c)]
    assert not found, f"import circles: {_describe(found)}"
