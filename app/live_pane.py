"""A running entry's pane, drawn by two small components of our own (app/components/): its top (title
and status, knobs, spend bar, call state, best answer, error) and its streamed text.

While 8 strategies stream, a repaint of the run page sent each pane as ~10 Streamlit elements (a
websocket message and, for most, a markdown render in the browser each) and every stream again as
markdown, which the browser parsed whole: most of a repaint's cost in the page and a good part of
the app's. The components keep their DOM between repaints; the top changes only the text that
changed, the streams append only the new words, and a stream's box opens and closes in the browser
alone. Model output stays text, never markup: the scripts write it through text nodes only. An
entry that has ended is drawn with Streamlit's own elements again (app.run_panes), whose stream text
a stored fold reads only when its expander is opened. Static files shipped with the app: no network,
no build step.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import streamlit as st

from app.live_feed import PATH
from app.panes import PaneView, StreamView
from app.stored_view import stream_size

ASSETS = Path(__file__).resolve().parent / "components"


def _asset(name: str) -> str:
    """A shipped script or style sheet without its comment lines: Streamlit sends a component's code
    with every repaint of every instance (16 on a page of 8 panes)."""
    text = (ASSETS / name).read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not re.match(r"\s*//", line))


@functools.cache
def _component(name: str) -> Any:  # noqa: ANN401 - Streamlit's mount callable
    """Registered on first use, inside a script run (at import, outside one, Streamlit warns)."""
    return st.components.v2.component(
        f"budget_arena.{name}",
        js=_asset(f"{name}.js"),
        css=_asset("live_pane.css"),
        isolate_styles=False,  # in the page's own DOM: its fonts, and text a reader's find (Ctrl-F) reaches
    )


def render_live_head(pane: PaneView, data: dict[str, Any]) -> None:
    """The pane's top, from app.run_panes.live_head_data."""
    _component("live_pane_head")(key=f"live-head-{pane.index}", data=data)


def live_streams_data(pane: PaneView, shown: int, *, seq: int, feed: str | None = None) -> dict[str, Any]:
    """What the streams component draws, as of event `seq`: the newest `shown` streams one box each
    (the newest open when it first appears), the older ones in one box, each stream's text and
    thinking as plain strings. `feed`: the run's live text feed (app.live_feed), relative to the run
    page's URL, while the run is live; None when nothing more will come (or in a replay)."""
    streams = sorted(pane.streams.values(), key=lambda s: s.first_seq)
    older, recent = streams[:-shown], streams[-shown:]

    def one(stream: StreamView) -> dict[str, Any]:
        return {"key": stream.label, "label": stream.label or "output", "text": stream.text,
                "thinking": stream.thinking, "chars": stream_size(stream)}

    return {"pane": pane.index, "seq": seq, "feed": feed, "live": feed is not None,
            "older": [one(s) for s in older],
            "streams": [{**one(s), "open": s.label == pane.newest_label} for s in recent]}


def feed_path(run_id: str) -> str:
    """The run's live text feed, relative to the run page (`/run` under the app's base URL path)."""
    return PATH.format(run_id=run_id)


def render_live_streams(pane: PaneView, shown: int, *, seq: int, feed: str | None = None) -> None:
    _component("live_pane_streams")(key=f"live-streams-{pane.index}",
                                    data=live_streams_data(pane, shown, seq=seq, feed=feed))
