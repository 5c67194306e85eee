"""Form state across pages (app.state): only declared form keys are written back on every run.

A button's or a file uploader's value cannot be written (Streamlit raises
StreamlitValueAssignmentNotAllowedError, which crashed the dataset picker), so every such widget in
the app must be keyed outside the form prefixes; this test reads the source to hold the next one to
that too.
"""

from __future__ import annotations

import ast

import pytest

from app.state import ACTION_PREFIX, FORM_PREFIXES, action_key, is_form_key
from tests.support import ROOT

# Widgets whose value is an action or a file: Streamlit refuses values written to them.
ACTION_WIDGETS = {"button", "download_button", "file_uploader", "form_submit_button", "camera_input",
                  "chat_input", "audio_input"}
KNOWN_PREFIXES = {"K": "cmp.", "S": "sw."}  # the modules' names for their prefixes


def _key_prefix(node: ast.expr, constants: dict[str, str]) -> str | None:
    """The literal start of a key expression: a string, an f-string's leading text or named
    prefix, or action_key(...); None when it cannot be read from the source."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant):
            return str(first.value)
        if isinstance(first, ast.FormattedValue) and isinstance(first.value, ast.Name):
            return constants.get(first.value.id)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "action_key":
        return ACTION_PREFIX
    return None


def _action_widget_keys() -> list[tuple[str, int, str | None]]:
    found = []
    for path in sorted([*(ROOT / "app").glob("*.py"), *(ROOT / "pages").glob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = dict(KNOWN_PREFIXES)
        for node in tree.body:  # module-level NAME = "text"
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                constants[node.targets[0].id] = node.value.value
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ACTION_WIDGETS):
                key = next((k.value for k in node.keywords if k.arg == "key"), None)
                if key is not None:
                    found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.lineno,
                                  _key_prefix(key, constants)))
    return found


def test_no_button_or_uploader_is_keyed_as_form_state() -> None:
    widgets = _action_widget_keys()
    assert any(prefix == ACTION_PREFIX for _, _, prefix in widgets)  # the scan sees the picker's button
    offending = [(where, prefix) for where, _, prefix in widgets
                 if prefix is None or prefix.startswith(FORM_PREFIXES)]
    assert not offending, f"key these widgets with app.state.action_key(...): {offending}"


@pytest.mark.parametrize(("key", "kept"), [
    ("cmp.problem", True), ("sw.budgets", True), ("cmp.knob.direct.max_tokens", True),
    (action_key("cmp.use_item"), False), (action_key("sw.upload"), False), ("run_button", False),
    ("_rate_limit_session", False), (3, False),
])
def test_which_keys_are_form_state(key: object, kept: bool) -> None:
    assert is_form_key(key) is kept
