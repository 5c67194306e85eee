"""Compare page (the landing page): pick a problem, strategies, model and budget; Run opens the run."""

from app.compare_page import render_compare_page

render_compare_page()
