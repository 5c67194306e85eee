"""A running run's streamed text, pushed to the run page as it is stored.

The run page repaints by rerunning a Streamlit fragment, so a stored word waited for the next
repaint, the page script and the browser's redraw of the fragment: on 2 cores shared with the
browser, seconds at the 95th percentile. Here the server tails the store instead (a query for the
events after the last one sent: well under a millisecond when nothing is new) and sends each batch
of new text over a WebSocket (<page base>/_arena/live/<run id>?after=<seq>) to the page's stream
component (app/components/live_pane_streams.js), which appends it to the stream's text nodes. The
repaints still draw everything else (spend, call states, answers, decisions) and the full text too,
so a page whose feed is unavailable stays correct. A WebSocket, not server-sent events: those hold
one of the browser's six HTTP connections to the server per open page.

Each message is JSON: {"seq": <the last event sent>, "rows": [[seq, strategy index, label, "text"
or "thinking", text], ...]} (model output as JSON strings: the page writes it as text, never
markup). Once the run has ended and every event was sent the server closes with code 1000; the page
reconnects after any other close with the last seq it saw as `after`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import anyio
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from storage.queries import events_since, get_run

PATH = "_arena/live/{run_id}"  # under the app's base URL path; the page asks for it relative to /run
POLL_SECONDS = 0.05  # while events keep coming: a word waits at most this long on the server
IDLE_POLL_SECONDS = 0.5  # after IDLE_AFTER seconds with nothing new (a model loading, a slow call)
IDLE_AFTER = 2.0
STATUS_EVERY = 1.0  # seconds between checks that the run is still going
MAX_SECONDS = 600.0  # a connection ends after this (code 1001); the page reconnects from its last seq
BATCH = 2000  # events read per query at most
NO_SUCH_RUN = 4404  # close code for an unknown or malformed run id (the page does not retry)

_mounted = False


def routes(base_url_path: str = "") -> list[WebSocketRoute]:
    """The feed's route, for the server that serves the app (app/asgi.py)."""
    global _mounted
    _mounted = True
    base = base_url_path.strip("/")
    return [WebSocketRoute(f"/{base}/{PATH}" if base else f"/{PATH}", live_text)]


def mounted() -> bool:
    """Whether this process serves the feed (started from app/asgi.py, as `budget-arena serve` does;
    not under `streamlit run app/main.py` or AppTest): the run page asks for it only then."""
    return _mounted


def text_rows(events: list[Any]) -> list[list[Any]]:
    """The text and thinking deltas among stored events, as [seq, strategy index, label, kind, text]
    (the label as the run page's fold keys a stream: app.panes)."""
    return [[e.seq, e.strategy_index, e.label or "", e.kind, e.event.text] for e in events
            if e.kind in ("text", "thinking") and e.strategy_index is not None]


def after_seq(raw: str | None) -> int:
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0


async def live_text(websocket: WebSocket) -> None:
    run_id = websocket.path_params["run_id"]
    await websocket.accept()
    if await anyio.to_thread.run_sync(get_run, run_id) is None:
        await websocket.close(NO_SUCH_RUN)
        return
    async with anyio.create_task_group() as group:

        async def until_closed() -> None:  # the page went away: stop tailing
            try:
                while True:
                    await websocket.receive_text()
            except (WebSocketDisconnect, RuntimeError, OSError):
                group.cancel_scope.cancel()

        group.start_soon(until_closed)
        try:
            code = 1001  # going away: MAX_SECONDS passed, the page reconnects
            async for message in messages(run_id, after_seq(websocket.query_params.get("after"))):
                if message == RUN_ENDED:
                    code = 1000
                    break
                await websocket.send_text(message)
            await websocket.close(code)
        except (WebSocketDisconnect, RuntimeError, OSError):  # the page is gone
            pass
        group.cancel_scope.cancel()


RUN_ENDED = ""  # the last item of `messages` when the run has ended and every event was sent


async def messages(run_id: str, seq: int) -> AsyncIterator[str]:
    """The run's new text after `seq`, a message per batch, until the run ends (then RUN_ENDED) or
    MAX_SECONDS pass."""
    started = last_event = checked = time.monotonic()
    active = True
    while time.monotonic() - started < MAX_SECONDS:
        events = await anyio.to_thread.run_sync(partial(events_since, run_id, seq, limit=BATCH))
        now = time.monotonic()
        if events:
            seq, last_event = events[-1].seq, now
            rows = text_rows(events)
            if rows:
                yield json.dumps({"seq": seq, "rows": rows}, ensure_ascii=False)
            if len(events) == BATCH:
                continue  # more waiting: no pause
        elif not active:  # ended, and every event is out
            yield RUN_ENDED
            return
        if now - checked >= STATUS_EVERY:
            checked = now
            info = await anyio.to_thread.run_sync(get_run, run_id)
            active = info is not None and info.is_active  # read before the next events_since: none is missed
            if not active:
                continue
        await anyio.sleep(POLL_SECONDS if now - last_event < IDLE_AFTER else IDLE_POLL_SECONDS)
