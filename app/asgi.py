"""The web app's server: Streamlit's own (Starlette on uvicorn) serving app/main.py, plus the run
page's live text feed (app.live_feed). `budget-arena serve` starts it with `streamlit run app/asgi.py`,
which finds `app` below and serves it with the options given on its command line."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.live_feed import routes

app = st.App(Path(__file__).resolve().with_name("main.py"), routes=routes(st.get_option("server.baseUrlPath")))
