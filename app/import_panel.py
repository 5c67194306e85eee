"""The History page's "Import runs" expander: upload run JSON exports into the store.

The checks and the writing are storage.importer's (the same as `budget-arena import`): each file is
refused whole with its reason, or written in one transaction. What happened to each file is kept in
st.session_state, so it is still shown after the rerun that clears the uploader. Script thread only.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from app.markdown_text import literal_markdown
from storage.importer import MAX_FILE_BYTES, ImportRefused, import_export_data, read_export_stream
from storage.store import Store

_RESULTS = "_hist.import.results"
_UPLOADER_ROUND = "_hist.import.round"  # a new key empties the uploader after an import


def render_import_panel(store: Callable[[], Store]) -> None:
    """The expander; `store` is called only when files are imported (the page may be drawn while the
    store is unreachable: the History page says so below)."""
    results: list[tuple[str, str]] = st.session_state.get(_RESULTS, [])
    with st.expander("Import runs", icon=":material/upload_file:", expanded=bool(results)):
        st.caption(f"Run exports (a run page's Download JSON, or `budget-arena export RUN_ID`): one run per file, "
                   f"or a JSON list of runs; up to {MAX_FILE_BYTES // 1_000_000} MB a file. Each file is checked "
                   "whole and refused with the reason if anything in it is wrong. Imported runs show here and on the "
                   "leaderboard like runs made here.")
        round_ = st.session_state.get(_UPLOADER_ROUND, 0)
        files = st.file_uploader("Run JSON exports", type=["json"], accept_multiple_files=True,
                                 key=f"hist.import.files.{round_}")
        if st.button("Import", icon=":material/upload:", key="hist.import.go", disabled=not files):
            st.session_state[_RESULTS] = _import_all(files or [], store)
            st.session_state[_UPLOADER_ROUND] = round_ + 1
            st.rerun()
        for level, message in results:
            {"success": st.success, "warning": st.warning, "error": st.error}[level](literal_markdown(message))
        if results and st.button("Clear messages", key="hist.import.clear"):
            st.session_state.pop(_RESULTS, None)
            st.rerun()


def _import_all(uploads: list[object], store: Callable[[], Store]) -> list[tuple[str, str]]:
    try:
        target = store()
    except Exception as exc:  # an unreachable or broken store: say so, no stack trace
        return [("error", f"Could not open the run store: {type(exc).__name__}: {exc}")]
    return [result for upload in uploads for result in _import(upload, target)]


def _import(upload: object, store: Store) -> list[tuple[str, str]]:
    name = str(getattr(upload, "name", "upload"))
    try:
        outcomes = import_export_data(read_export_stream(upload, getattr(upload, "size", None)),  # type: ignore[arg-type]
                                      store=store)
    except ImportRefused as exc:
        return [("error", f"{name}: refused: {exc}")]
    except SQLAlchemyError as exc:
        return [("error", f"{name}: refused: the store could not write it ({type(exc).__name__}); nothing was "
                          "imported from it")]
    level = {"imported": "success", "renamed": "warning", "skipped": "warning"}
    return [(level[o.action], f"{name}: {o.message}") for o in outcomes]
