"""One run as a single self-contained HTML file: opens in any browser with no server and no network.

What it holds: the problem and reference, a summary table, static SVG charts (quality against
spend, spend over time; app/svg_charts.py), and one pane per entry with its streamed text, notes
and answer, built by a small inline script from the run's events. The same script replays the
events at their original pace or faster, folding them as app/panes.RunView does for the run page.

Safety: model output (and every other stored text) never becomes markup. Python writes text only
through html.escape; the script builds the panes with textContent and createElement, never
innerHTML; the events travel as JSON in a <script type="application/json"> block with `<`, `>`,
`&`, U+2028 and U+2029 escaped, so no text can close the block or start a tag. A Content Security
Policy allows no network requests at all and runs only this file's own script (by its hash).

Size: events are stored as arrays (no field names), stream labels as indices into one list, times
in milliseconds; a 5,000-event run is well under 2 MB (tests/app/test_sharing.py measures one).

This module fills the page: the static style and script are app/html_run_script.py, the document
and its policy app/html_page.py; the summary is the run page's (app/run_summary.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from app.charts import quality_axis_title, quality_steps, spend_frame
from app.html_page import app_version, page
from app.html_page import attr_html as _a
from app.html_page import text_html as _t
from app.html_run_script import RUN_CSS, RUN_SCRIPT
from app.pane_text import NO_CONFIDENCE, STOP_TEXT, STOP_TEXT_UNANSWERED, confidence_text, note_data_text
from app.panes import STOP_STATUS, RunView
from app.run_summary import entry_row, summary_headline, summary_records
from app.svg_charts import SvgChart, color
from reasoning.budget import CAP_NAMES, Budget
from reasoning.config import get_settings
from reasoning.entries import entry_budget, entry_labels
from reasoning.strategies.base import StrategyConfigError, strategy_class
from storage.queries import RunInfo, StoredEvent, curve_points, get_run, replay
from storage.store import Store

KIND_CODES = {"text": 0, "thinking": 1, "spend": 2, "partial": 3, "note": 4, "final": 5}
SPEEDS = (1, 2, 5, 10, 50)


def run_html(run_id: str, *, store: Store | None = None) -> str | None:
    """The run's HTML file as text (None for an unknown id)."""
    info = get_run(run_id, store=store)
    if info is None:
        return None
    return render_run_html(info, replay(run_id, store=store), curve_points(run_id, store=store),
                           share_url=get_settings().run_link(run_id))


def render_run_html(info: RunInfo, events: Sequence[StoredEvent], curve: pd.DataFrame, *,
                    share_url: str | None = None, generated: datetime | None = None) -> str:
    generated = generated or datetime.now(UTC)
    labels = entry_labels([(s.strategy, s.budget) for s in info.strategies], info.budget)
    view = RunView.for_strategies([(s.strategy, s.knobs or {}) for s in info.strategies], labels)
    view.apply(events)
    data = _run_data(info, events, curve, labels)
    title = f"Budget Arena run {info.id}"
    body = "".join([
        f"<header><h1>{_t(title)}</h1>{_meta(info, labels, share_url, generated)}</header>",
        _problem(info),
        '<section><h2>Summary</h2>', _summary(info, view, labels), "</section>",
        '<section><h2>Charts</h2>', _charts(view, curve, labels), "</section>",
        _replay_controls(),
        '<section><h2>Entries</h2><noscript><p class="muted">The entries\' panes and the replay are drawn by '
        "this file's script: allow JavaScript to see them (the summary and charts above need none).</p>"
        '</noscript><div id="panes"></div></section>',
    ])
    return page(title, body, script=RUN_SCRIPT, data=data, css=RUN_CSS)


# ---- data for the script ----------------------------------------------------------------------


def _run_data(info: RunInfo, events: Sequence[StoredEvent], curve: pd.DataFrame, labels: Sequence[str]
              ) -> dict[str, Any]:
    streams: dict[str, int] = {}  # stream label -> index in the "labels" list
    compact: list[list[Any]] = []
    position: dict[int, int] = {}  # seq -> place in `compact` (1-based): the script counts, not reads, seqs
    for event in events:
        row = None
        if event.strategy_index is not None and 0 <= event.strategy_index < len(info.strategies):
            row = _compact(event, streams, info.strategies[event.strategy_index].strategy)
        # A run-level event or an unknown kind has no pane, but keeps its place (and its time).
        compact.append(row if row is not None else [round(float(event.elapsed) * 1000), -1, -1])
        position[event.seq] = len(compact)
    verdicts = []
    if not curve.empty:
        for seq, correct in zip(curve["seq"], curve["correct"], strict=True):
            if correct is not None and not (isinstance(correct, float) and math.isnan(correct)) \
                    and int(seq) in position:
                verdicts.append([position[int(seq)], bool(correct)])
    return {
        "id": info.id,
        "entries": [{
            "title": _title(s.strategy, label),
            "knobs": ", ".join(f"{k}={v}" for k, v in (s.knobs or {}).items()),
            "status": s.status,
            "correct": s.correct,
            "error": s.error,
            "budget": _caps(entry_budget(s.budget, info.budget)),  # each entry's bar against its own caps
        } for s, label in zip(info.strategies, labels, strict=True)],
        "labels": list(streams),
        "events": compact,
        "verdicts": verdicts,
        "stop_status": STOP_STATUS,  # a pane's badge, by FinalAnswer.stop: the recorder's mapping
        # "Stopped: ..." by FinalAnswer.stop: [with an answer, without one] (app.pane_text.stop_text)
        "stop_text": {stop: [text, STOP_TEXT_UNANSWERED[stop]] for stop, text in STOP_TEXT.items()},
        "no_confidence": NO_CONFIDENCE,  # a final answer that is not the last partial one has none
    }


def _compact(event: StoredEvent, labels: dict[str, int], strategy: str) -> list[Any] | None:
    """[elapsed ms, entry, kind, ...]: text/thinking: label index, text; spend: spend; partial:
    answer, confidence as the run page words it for `strategy` ("vote share 67%", "Q(b) 0.62":
    app.pane_text.confidence_text), spend; note: label, text, data text; final: answer, stop, error,
    spend, the binding cap ("stopped: 300-token cap") on a budget stop."""
    kind = KIND_CODES.get(event.kind)
    if kind is None:
        return None
    p = event.payload or {}
    head = [round(float(event.elapsed) * 1000), event.strategy_index, kind]
    if event.kind in ("text", "thinking"):
        label = event.label or p.get("label") or ""
        index = labels.setdefault(label, len(labels))
        return [*head, index, p.get("text", "")]
    spent = _spend(p.get("spent"))
    if event.kind == "spend":
        return [*head, spent]
    if event.kind == "partial":
        confidence = p.get("confidence")  # a damaged row's non-number reads as none (a file still opens)
        number = isinstance(confidence, int | float) and not isinstance(confidence, bool)
        return [*head, p.get("answer"), confidence_text(confidence if number else None, strategy), spent]
    if event.kind == "note":
        return [*head, p.get("label", event.label or ""), p.get("text", ""), note_data_text(p.get("data"))]
    return [*head, p.get("answer"), p.get("stop"), p.get("error"), spent, p.get("stop_detail")]


def _spend(spent: Any) -> list[Any] | None:
    """[input, output, reasoning, cached input tokens, usd, seconds, calls, estimated 0/1]."""
    if not isinstance(spent, dict):
        return None
    return [int(spent.get("input_tokens", 0)), int(spent.get("output_tokens", 0)),
            int(spent.get("reasoning_tokens", 0)), int(spent.get("cached_input_tokens", 0)),
            float(f"{float(spent.get('usd', 0.0)):.6g}"), round(float(spent.get("seconds", 0.0)), 2),
            int(spent.get("calls", 0)), 1 if spent.get("estimated") else 0]


def _caps(budget: Any) -> dict[str, float]:
    if not isinstance(budget, dict):
        return {}
    return {cap: budget[cap] for cap in CAP_NAMES if isinstance(budget.get(cap), int | float) and budget[cap]}


def _title(strategy: str, label: str | None = None) -> str:
    """The strategy's title, with the entry's budget when its label carries one, as the run page
    names panes: "Direct answer @ 300 tokens"."""
    try:
        title = getattr(strategy_class(strategy), "title", "") or strategy
    except StrategyConfigError:  # an imported run may name a strategy this installation lacks
        title = strategy
    _, at, tag = (label or "").partition("@")
    if not at:
        return title
    return f"{title} @ {tag} tokens" if tag.replace(",", "").isdigit() else f"{title} @ {tag}"


# ---- static parts ------------------------------------------------------------------------------


def _budget_text(budget: dict[str, Any]) -> str:
    try:
        return Budget.from_dict(budget).describe()
    except (TypeError, ValueError):
        return json.dumps(budget)


def _meta(info: RunInfo, labels: Sequence[str], share_url: str | None, generated: datetime) -> str:
    created = info.created.strftime("%Y-%m-%d %H:%M:%S UTC") if info.created else "?"
    budgets = [entry_budget(s.budget, info.budget) for s in info.strategies]
    if not budgets or all(budget == budgets[0] for budget in budgets):
        budget = _budget_text(budgets[0] if budgets else info.budget)
    else:
        budget = "; ".join(f"{label}: {_budget_text(b)}" for label, b in zip(labels, budgets, strict=True))
    rows = [("run id", f"<code>{_t(info.id)}</code>"), ("status", _t(info.status)), ("model", _t(info.model)),
            ("budget per entry", _t(budget)), ("created", _t(created))]
    if info.dataset:
        rows.append(("dataset item", _t(f"{info.dataset} / {info.item_id or '?'}")))
    if info.price_date:
        rows.append(("prices as of", _t(info.price_date)))
    if share_url:
        rows.append(("original", f'<a href="{_a(share_url)}" rel="noopener noreferrer">{_t(share_url)}</a>'))
    rows.append(("file written", _t(f"{generated:%Y-%m-%d %H:%M UTC} by budget-arena {app_version()}")))
    return "<dl class=meta>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _problem(info: RunInfo) -> str:
    parts = ["<section><h2>Problem</h2>", f'<pre class="text" id="problem">{_t(info.problem)}</pre>']
    if info.reference:
        parts.append(f'<p><b>Reference answer:</b> <span id="reference">{_t(info.reference)}</span></p>')
    if info.error:
        parts.append(f'<p class="error">{_t(info.error)}</p>')
    parts.append("</section>")
    return "".join(parts)


def _summary(info: RunInfo, view: RunView, labels: Sequence[str]) -> str:
    """The run page's summary (app.run_summary): how each entry ended, its answer and verdict, its
    spend against its caps; errors in full under their row."""
    rows = []
    for pane, s, label in zip(view.panes, info.strategies, labels, strict=True):
        status = pane.status(s.status, info.is_active)
        rows.append(entry_row(pane, _title(s.strategy, label), status, entry_budget(s.budget, info.budget),
                              s.correct if pane.ended else None))
    has_reference = bool(info.reference)
    records = summary_records(rows, has_reference=has_reference)
    head = list(records[0]) if records else []
    body = []
    for record, s in zip(records, info.strategies, strict=True):
        body.append("<tr>" + "".join(f"<td>{_t(record[c])}</td>" for c in head) + "</tr>")
        if s.error:
            body.append(f'<tr class="error-row"><td></td><td colspan="{len(head) - 1}" class="error">{_t(s.error)}</td>'
                        "</tr>")
    headline = summary_headline(rows, has_reference=has_reference)
    return (f'<p id="summary-headline">{_t(headline)}' + (" · spend columns read used / cap" if any(
                r.budget for r in rows) else "") + "</p>"
            '<table id="summary"><thead><tr>' + "".join(f"<th>{_t(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table>")


def _charts(view: RunView, curve: pd.DataFrame, labels: Sequence[str]) -> str:
    out = []
    steps = quality_steps(curve, pd.DataFrame(view.end_spends()), dict(enumerate(labels)))
    quality_title = quality_axis_title(steps)
    if steps.empty or steps["quality"].isna().all():
        out.append('<p class="muted">No answer with a quality to plot (no reference answer and no confidence).</p>')
    else:
        axes = [("tokens", "tokens spent (input + output)", "")]
        if (pd.to_numeric(steps["usd"]) > 0).any():
            axes.append(("usd", "dollars spent", "$"))
        for x, x_title, unit in axes:
            chart = SvgChart(f"Quality against {'dollars' if unit else 'tokens'}", x_title, quality_title,
                             x_unit=unit, y_unit="", y_domain=(0.0, 1.0), width=560, height=280)
            for index, group in steps.groupby("strategy_index"):  # one colour per entry, as on the run page
                name, hue = str(group["series"].iloc[0]), color(int(index))
                chart.line(list(group[x]), list(group["quality"]), hue, step=True)
                answers = group[group["point"] == "answer"]
                chart.points(list(answers[x]), list(answers["quality"]), hue,
                             tips=[f"{name}: {a}" for a in answers["answer"]])
                chart.legend.append((name, hue))
            out.append(chart.render())
    spend = spend_frame(view.spend_samples)
    if spend.empty:
        out.append('<p class="muted">Nothing was spent.</p>')
    else:
        chart = SvgChart("Spend over time", "seconds since start", "tokens spent", x_unit="s", width=560, height=280)
        for index, group in spend.groupby("strategy_index"):
            chart.line(list(group["seconds"]), list(group["tokens"]), color(int(index)), step=True)
            chart.legend.append((str(group["series"].iloc[0]), color(int(index))))
        out.append(chart.render())
    return '<div class="charts">' + "".join(out) + "</div>"


def _replay_controls() -> str:
    speeds = "".join(f'<option value="{s}">{s}×</option>' for s in SPEEDS)
    return ('<section id="replay"><h2>Replay</h2><div class="controls">'
            '<button type="button" id="play">Replay</button>'
            f'<label>speed <select id="speed">{speeds}</select></label>'
            '<button type="button" id="end">Show the end</button>'
            '<progress id="progress" max="1" value="1"></progress> <span id="clock"></span></div>'
            '<p class="muted">Plays the events at their original pace (or faster): each pane\'s text grows and its '
            "answer changes as it did in the run. The summary and charts above show the end.</p></section>")
