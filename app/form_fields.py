"""The compare form's session-state keys and whole-number fields, shared by its model picker
(app.model_picker) and its other controls (app.controls). Script thread only."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

# ---- whole numbers -----------------------------------------------------------------------------

# Whole-number fields are float fields shown without decimals. Streamlit's int fields read what was
# typed with JavaScript's parseInt, so "1e12" becomes 1 and "3.5" becomes 3, silently; a float field
# reads 1e12 and 3.5 as typed, and the checks after it refuse them with a message.
WHOLE_FORMAT = "%.0f"


def whole_number(value: float | int | None) -> float | int | None:
    """A float field's value as an int when it is whole; anything else as it came (None, 3.5,
    inf), for the checks after it to refuse."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


# ---- widgets (script thread only) --------------------------------------------------------------

K = "cmp."  # prefix of the compare form's session-state keys (kept across page switches)


def set_default(key: str, value: Any) -> None:
    """A widget's starting value, unless the session already holds one (its last value)."""
    if key not in st.session_state:
        st.session_state[key] = value
