"""The layers, checked by scanning imports: pages -> app -> {reasoning, storage}; storage -> reasoning;
reasoning imports nothing of ours. And no import cycles among our modules, imports inside functions
counted (a cycle that only works because one side imports lazily is still a cycle to read)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import ROOT

OURS = {"reasoning", "storage", "app", "pages"}
ALLOWED = {
    "reasoning": {"reasoning"},
    "storage": {"reasoning", "storage"},
    "app": {"reasoning", "storage", "app"},
    "pages": {"reasoning", "storage", "app"},
}
# Only the UI layers may import streamlit; only storage may touch the database layer.
FORBIDDEN_THIRD_PARTY = {
    "reasoning": {"streamlit", "sqlalchemy", "alembic"},
    "storage": {"streamlit"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_layers_import_only_what_the_design_allows(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        roots = imported_roots(path)
        bad = (roots & OURS) - ALLOWED[package]
        bad |= roots & FORBIDDEN_THIRD_PARTY.get(package, set())
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each of our modules -> the modules of ours it imports anywhere in its body. `from a.b import c`
    counts as importing a.b.c when that is a module, else a.b; `import a.b.c` as the deepest module of
    ours it names. A package's __init__ is the module named after the package."""
    paths = {module_name(path): path for package in sorted(OURS) for path in (ROOT / package).rglob("*.py")}

    def ours(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(ours(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:  # relative: resolved against this module's package
                    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                    base = ".".join(package[:len(package) - node.level + 1] + [node.module])
                targets.update(ours(f"{base}.{alias.name}") for alias in node.names)
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            step = next(edges, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph[step]))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
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
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_counts_imports_inside_functions():
    # storage.store imports storage.migrate only inside open_store (Alembic is slow to import).
    assert "storage.migrate" in import_graph()["storage.store"]


def test_no_import_cycles_among_our_modules():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "\n".join(
        " <-> ".join(component) + ": " + "; ".join(f"{m} imports {sorted(graph[m] & set(component))}"
                                                    for m in component)
        for component in found)


def test_strategies_and_the_metered_path_import_no_provider():
    # They program against reasoning.model_protocol; the providers (reasoning.models) implement it.
    graph = import_graph()
    engine = [m for m in graph if m.startswith("reasoning.strategies") or m in ("reasoning.context", "reasoning.run")]
    assert "reasoning.context" in engine and "reasoning.strategies.base" in engine
    offenders = {m: sorted(t for t in graph[m] if t == "reasoning.models" or t.startswith("reasoning.models."))
                 for m in engine}
    assert not {m: t for m, t in offenders.items() if t}
