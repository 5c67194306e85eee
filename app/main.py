"""The Streamlit entry point (`budget-arena serve`, `make run`): page set-up and navigation."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.state import NAVIGATION, keep_form_state, page_path

# The favicon ships with the app: a Material icon name here made every browser fetch it from
# fonts.gstatic.com (failing offline), an emoji depends on the system's emoji font.
FAVICON = Path(__file__).resolve().parent / "favicon.png"
st.set_page_config(page_title="Budget Arena", page_icon=str(FAVICON), layout="wide")
keep_form_state()
# Strategy chips wrap onto more lines: in one scrolling line, 11 chips were cut at the box's edges
# ("Direc", "token budget"). The chip list is the flex row that holds the [data-tag] chips.
# A help tooltip is as wide as a 420 px phone screen and floating-ui then sets it 8 px in, so it
# reached 8 px past the edge: its width is capped at the screen less that inset.
st.html("""<style>
[data-testid="stMultiSelect"] div:has(> span > [data-tag]) {
  flex-wrap: wrap; overflow: visible; height: auto; row-gap: 0.25rem; padding-block: 0.25rem; min-width: 0; flex: 1 1 0; }
[data-testid="stMultiSelect"] [data-tag] { max-width: 100%; }
[data-testid="stMultiSelect"] div:has(> div > span > [data-tag]) { height: auto; max-height: none; }
[role="tooltip"]:has(> [data-testid="stTooltipContent"]) { max-width: calc(100vw - 1rem); }
</style>""")

pages = [
    st.Page(page_path("compare"), title="Compare", icon=":material/compare_arrows:", default=True),
    *(st.Page(page_path(path), title=title, icon=icon, url_path=path) for path, title, icon in NAVIGATION),
]

st.navigation(pages).run()
