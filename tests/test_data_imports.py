"""The modules of ``alpha_env.data`` form no import circle, counting function-local imports too."""

from __future__ import annotations

import ast
from pathlib import Path

import alpha_env.data

_PACKAGE = Path(alpha_env.data.__file__).parent


def _edges() -> dict[str, set[str]]:
    """Module stem -> stems of the ``alpha_env.data`` modules it imports anywhere (not ``__init__``)."""
    mods = {p.stem for p in _PACKAGE.glob("*.py") if p.stem != "__init__"}
    out: dict[str, set[str]] = {}
    for stem in mods:
        tree = ast.parse((_PACKAGE / f"{stem}.py").read_text())
        deps: set[str] = set()
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[:2] == ["alpha_env", "data"] and len(parts) > 2 and parts[2] in mods:
                    deps.add(parts[2])
        out[stem] = deps - {stem}
    return out


def test_no_import_cycle_among_data_modules():
    edges = _edges()
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(edges[m]):
            if state.get(d) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(path[path.index(d):] + [d])}")
            if d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])


def test_read_table_and_adv_have_their_own_homes():
    edges = _edges()
    assert "loaders" not in edges["documents"] and "documents" not in edges["io"]
    assert "panel" not in edges["universe"] and edges["fields"] == set()
