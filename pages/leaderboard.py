"""Leaderboard page: strategies ranked by budget efficiency over the stored results."""

from app.leaderboard_page import render_leaderboard_page

render_leaderboard_page()
