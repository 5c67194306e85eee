"""Run page (`?run=<id>`): the live view of a run and its share link; the same page once it ended."""

import streamlit as st

from app.run_page import render_run_page

render_run_page(st.query_params.get("run"))
