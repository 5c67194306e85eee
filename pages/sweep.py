"""Sweep page: a dataset x strategies x budgets grid run in the background, followed live."""

from app.sweep_page import render_sweep_page

render_sweep_page()
