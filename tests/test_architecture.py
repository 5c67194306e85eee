"""The dependency rule of DESIGN.md, checked by scanning imports:
pages -> app -> {reasoning, storage}; storage -> reasoning; reasoning imports nothing of ours."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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
