"""History page: past runs with their share links, searchable and paged."""

from app.history_page import render_history_page

render_history_page()
