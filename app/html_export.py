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
in milliseconds; a 5,000-event run is well under 2 MB (tests/test_sharing.py measures one).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from importlib import metadata
from typing import Any

import pandas as pd

from app.charts import quality_steps, spend_frame
from app.panes import RunView, note_data_text, stop_text
from app.svg_charts import CHART_CSS, SvgChart, color
from reasoning.budget import CAP_NAMES, Budget
from reasoning.config import current_settings
from reasoning.entries import entry_budget, entry_labels
from reasoning.strategies.base import StrategyConfigError, strategy_class
from storage.queries import RunInfo, StoredEvent, curve_points, get_run, replay
from storage.store import Store

KIND_CODES = {"text": 0, "thinking": 1, "spend": 2, "partial": 3, "note": 4, "final": 5}
SPEEDS = (1, 2, 5, 10, 50)


def app_version() -> str:
    try:
        return metadata.version("budget-arena")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def run_html(run_id: str, *, store: Store | None = None) -> str | None:
    """The run's HTML file as text (None for an unknown id)."""
    info = get_run(run_id, store=store)
    if info is None:
        return None
    return render_run_html(info, replay(run_id, store=store), curve_points(run_id, store=store),
                           share_url=current_settings().run_link(run_id))


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
        '<section><h2>Summary</h2>', _summary_table(info, labels), "</section>",
        '<section><h2>Charts</h2>', _charts(view, curve, labels, has_reference=bool(info.reference)), "</section>",
        _replay_controls(),
        '<section><h2>Entries</h2><noscript><p class="muted">The entries\' panes and the replay are drawn by '
        "this file's script: allow JavaScript to see them (the summary and charts above need none).</p>"
        '</noscript><div id="panes"></div></section>',
    ])
    return _page(title, body, data)


# ---- data for the script ----------------------------------------------------------------------


def _run_data(info: RunInfo, events: Sequence[StoredEvent], curve: pd.DataFrame, labels: Sequence[str]
              ) -> dict[str, Any]:
    streams: dict[str, int] = {}  # stream label -> index in the "labels" list
    compact: list[list[Any]] = []
    position: dict[int, int] = {}  # seq -> place in `compact` (1-based): the script counts, not reads, seqs
    for event in events:
        row = None
        if event.strategy_index is not None and 0 <= event.strategy_index < len(info.strategies):
            row = _compact(event, streams)
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
    }


def _compact(event: StoredEvent, labels: dict[str, int]) -> list[Any] | None:
    """[elapsed ms, entry, kind, ...]: text/thinking: label index, text; spend: spend; partial:
    answer, confidence, spend; note: label, text, data text; final: answer, stop, error, spend."""
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
        return [*head, p.get("answer"), p.get("confidence"), spent]
    if event.kind == "note":
        return [*head, p.get("label", event.label or ""), p.get("text", ""), note_data_text(p.get("data"))]
    return [*head, p.get("answer"), p.get("stop"), p.get("error"), spent]


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


def _t(value: object) -> str:
    return escape("" if value is None else str(value), quote=False)


def _a(value: object) -> str:
    return escape(str(value), quote=True)


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


def _summary_table(info: RunInfo, labels: Sequence[str]) -> str:
    head = ("#", "entry", "status", "answer", "verdict", "stopped", "tokens in / out", "total tokens", "$",
            "seconds", "calls")
    rows = []
    for s, label in zip(info.strategies, labels, strict=True):
        verdict = {True: "right", False: "wrong", None: "–"}[s.correct]
        answer = s.answer if s.answer is not None else "—"
        cells = [str(s.strategy_index + 1), _title(s.strategy, label), s.status, answer, verdict, stop_text(s.stop_reason),
                 f"{s.input_tokens:,} / {s.output_tokens:,}", f"{s.total_tokens:,}",
                 f"${s.usd:.4f}" + (" (est.)" if s.estimated else ""), f"{s.seconds:.1f}", str(s.calls)]
        rows.append("<tr>" + "".join(f"<td>{_t(c)}</td>" for c in cells) + "</tr>")
        if s.error:
            rows.append(f'<tr><td></td><td colspan="{len(head) - 1}" class="error">{_t(s.error)}</td></tr>')
    return ('<table id="summary"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _charts(view: RunView, curve: pd.DataFrame, labels: Sequence[str], *, has_reference: bool) -> str:
    out = []
    steps = quality_steps(curve, pd.DataFrame(view.end_spends()), dict(enumerate(labels)))
    quality_title = "right (1) or wrong (0)" if has_reference else "confidence (self-reported)"
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


# ---- the page --------------------------------------------------------------------------------


def embed_json(data: Any) -> str:
    """JSON safe inside <script type="application/json">: no `<` (so no `</script>` or `<!--`), no
    `>` or `&`, and no U+2028/U+2029 (line terminators to older JavaScript parsers)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: let JSON's \\u escapes carry it
        text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


NONE = "'none'"


def csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode() + "'"


def page(title: str, body: str, *, script: str = "", data: Any = None, css: str = "") -> str:
    """A whole self-contained HTML document. The Content Security Policy forbids every request (no
    default source, images only as data: URLs) and runs only `script`, allowed by its hash."""
    style = BASE_CSS + CHART_CSS + css
    policy = (f"default-src 'none'; style-src {csp_hash(style)}; img-src data:; "
              f"script-src {csp_hash(script) if script else NONE}; "
              "base-uri 'none'; form-action 'none'")
    data_block = (f'<script type="application/json" id="run-data">{embed_json(data)}</script>'
                  if data is not None else "")
    script_block = f"<script>{script}</script>" if script else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{_a(policy)}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="referrer" content="no-referrer">'
            f"<title>{_t(title)}</title><style>{style}</style></head>"
            f"<body>{body}{data_block}{script_block}</body></html>\n")


def _page(title: str, body: str, data: dict[str, Any]) -> str:
    return page(title, body, script=RUN_SCRIPT, data=data, css=RUN_CSS)


BASE_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1400px;
       padding: 16px 24px; color: #222; }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 17px; margin: 22px 0 8px; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; margin: 0; color: #444; }
dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; }
table { border-collapse: collapse; font-size: 13px; } th, td { border: 1px solid #ddd; padding: 4px 8px;
  text-align: left; vertical-align: top; } th { background: #f5f5f5; }
td { white-space: pre-wrap; overflow-wrap: anywhere; max-width: 420px; }
pre.text { white-space: pre-wrap; overflow-wrap: anywhere; font: 13px/1.45 ui-monospace, monospace;
  background: #f7f7f7; padding: 8px; border-radius: 4px; margin: 4px 0; max-height: 420px; overflow: auto; }
.muted { color: #777; } .error { color: #b00020; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
"""

RUN_CSS = """
#panes { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 12px; }
.pane { border: 1px solid #ddd; border-radius: 6px; padding: 10px 12px; min-width: 0; }
.pane h3 { font-size: 15px; margin: 0; display: flex; justify-content: space-between; gap: 8px; }
.badge { font-size: 12px; padding: 1px 8px; border-radius: 10px; background: #eee; font-weight: 500; }
.badge.done { background: #dff3e4; } .badge.error { background: #fde2e1; } .badge.running { background: #e1ecfd; }
.badge.cancelled, .badge.interrupted { background: #fdf0d9; }
.knobs { color: #666; font-size: 12px; }
.bar { background: #eee; height: 6px; border-radius: 3px; margin: 6px 0 2px; }
.bar > div { background: #4c78a8; height: 6px; border-radius: 3px; }
.answer { margin: 8px 0 2px; } .verdict-right { color: #1a7f37; font-weight: 600; }
.verdict-wrong { color: #b00020; font-weight: 600; }
.small { font-size: 12px; color: #666; } details { margin: 4px 0; } summary { cursor: pointer; }
.thinking { color: #666; font-style: italic; }
#replay .controls { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
#progress { width: 240px; }
"""

# Mirrors app/panes.py (the fold and what a pane shows). Text reaches the page only through
# textContent / createTextNode: nothing here parses HTML.
RUN_SCRIPT = r"""
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("run-data").textContent);
  const EVENTS = DATA.events, LABELS = DATA.labels;
  const VERDICTS = new Map(DATA.verdicts.map(v => [v[0], v[1]]));
  const STOP_STATUS = {done: "done", budget: "done", error: "error", cancelled: "cancelled"};
  const STOP_TEXT = {done: "finished", budget: "budget reached", error: "failed", cancelled: "cancelled"};
  const LENGTH = EVENTS.length ? EVENTS[EVENTS.length - 1][0] : 0;
  const openState = new Map();  // "pane/label" -> open, as the reader left it
  let panes = [], applied = 0, timer = null, clockStart = 0, pausedAt = 0, speed = 1, playing = false;

  function fresh() {
    return DATA.entries.map(() => ({streams: new Map(), notes: [], spent: null, best: null, conf: null,
                                   bestSeq: null, stop: null, error: null, dirty: true}));
  }
  function apply(upto) {  // fold EVENTS[applied, upto)
    for (; applied < upto; applied++) {
      const e = EVENTS[applied], p = panes[e[1]], kind = e[2], seq = applied + 1;
      if (!p) continue;  // a run-level event: no pane
      p.dirty = true;
      if (kind === 0 || kind === 1) {
        const label = LABELS[e[3]];
        let s = p.streams.get(label);
        if (!s) { s = {label: label, text: "", thinking: "", first: seq, last: seq}; p.streams.set(label, s); }
        if (kind === 0) s.text += e[4]; else s.thinking += e[4];
        s.last = seq;
      } else if (kind === 2) { if (e[3]) p.spent = e[3]; }
      else if (kind === 3) { p.best = e[3]; p.conf = e[4]; p.bestSeq = seq; if (e[5]) p.spent = e[5]; }
      else if (kind === 4) { p.notes.push({label: e[3], text: e[4], data: e[5]}); }
      else if (kind === 5) {
        p.stop = e[4] || "done"; p.error = e[5]; if (e[6]) p.spent = e[6];
        if (e[3] && e[3] !== p.best) { p.best = e[3]; p.conf = null; p.bestSeq = null; }
      }
    }
  }
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function num(v) { return Number(v).toLocaleString("en-US"); }
  function amount(cap, v) {
    if (cap === "usd") return "$" + Number(v).toFixed(4);
    if (cap === "seconds") return Number(v).toFixed(1) + " s";
    return num(Math.round(v)) + (cap === "total_tokens" ? " tokens" : " output tokens");
  }
  function spendBar(spent, budget) {
    const s = spent || [0, 0, 0, 0, 0, 0, 0, 0];
    const used = {total_tokens: s[0] + s[1], output_tokens: s[1], usd: s[4], seconds: s[5]};
    let fraction = 0; const parts = [];
    for (const cap of ["total_tokens", "output_tokens", "usd", "seconds"]) {
      if (!budget[cap]) continue;
      fraction = Math.max(fraction, used[cap] / budget[cap]);
      parts.push(amount(cap, used[cap]) + " / " + amount(cap, budget[cap]));
    }
    const text = parts.length ? parts.join(" · ") : num(used.total_tokens) + " tokens, $" + used.usd.toFixed(4) + " (no cap)";
    return {fraction: Math.min(1, Math.max(0, fraction)), text: text + (s[7] ? " (estimated)" : "")};
  }
  function verdict(p, entry) {
    if (p.bestSeq !== null && VERDICTS.has(p.bestSeq)) return VERDICTS.get(p.bestSeq);
    if (p.stop !== null && entry.correct !== null && entry.correct !== undefined) return entry.correct;
    return null;
  }
  function renderPane(i, box, ended) {
    const p = panes[i], entry = DATA.entries[i];
    const status = p.stop !== null ? (STOP_STATUS[p.stop] || p.stop) : (ended ? entry.status : "running");
    const head = el("h3");
    head.append(el("span", null, (i + 1) + ". " + entry.title), el("span", "badge " + status, status));
    const parts = [head];
    if (entry.knobs) parts.push(el("div", "knobs", entry.knobs));
    const bar = spendBar(p.spent, entry.budget), track = el("div", "bar"), fill = el("div");
    fill.style.width = (bar.fraction * 100).toFixed(1) + "%";
    track.append(fill);
    parts.push(track, el("div", "small", bar.text));
    const answer = el("div", "answer");
    answer.dataset.entry = String(i);
    if (p.best) {
      answer.append(el("b", null, (p.stop !== null ? "Final answer" : "Best answer so far") + ": "),
                    el("span", "answer-text", p.best));
      const v = verdict(p, entry);
      if (v !== null) answer.append(" ", el("span", v ? "verdict-right" : "verdict-wrong", v ? "✓ right" : "✗ wrong"));
      parts.push(answer, el("div", "small", p.conf === null || p.conf === undefined ? "no confidence reported"
                                               : "confidence " + Math.round(p.conf * 100) + "%"));
    } else {
      answer.append(el("b", null, p.stop !== null ? "Final answer: none" : "No answer yet."));
      parts.push(answer);
    }
    const error = p.error || (ended && p.stop === null ? entry.error : null);
    if (error) parts.push(el("div", "error", error));
    if (p.stop !== null && p.spent) {
      const s = p.spent;
      parts.push(el("div", "small", "Stopped: " + (STOP_TEXT[p.stop] || p.stop) + " · " + num(s[0] + s[1]) +
        " tokens in " + s[6] + " call(s) · $" + Number(s[4]).toFixed(4) + " · " + Number(s[5]).toFixed(1) + " s"));
    }
    if (p.notes.length) {
      const last = p.notes[p.notes.length - 1];
      const latest = el("div", "note");
      latest.append(el("span", "small", "Latest decision · "), el("b", null, last.label + ": "), el("span", null, last.text));
      parts.push(latest);
      const all = el("details");
      all.append(el("summary", null, "All decisions (" + p.notes.length + ")"));
      for (const n of p.notes) {
        const row = el("div", "note");
        row.append(el("b", null, n.label + ": "), el("span", null, n.text));
        if (n.data) row.append(el("div", "small", n.data));
        all.append(row);
      }
      keepOpen(all, i + "/#notes", false);
      parts.push(all);
    }
    const streams = Array.from(p.streams.values()).sort((a, b) => a.first - b.first);
    let newest = null;
    for (const s of streams) if (!newest || s.last > newest.last) newest = s;
    for (const s of streams) {
      const d = el("details", "stream");
      d.append(el("summary", null, (s.label || "output") + " · " + num(s.text.length + s.thinking.length) + " chars"));
      if (s.thinking) d.append(el("div", "small", "Thinking"), el("pre", "text thinking", s.thinking));
      if (s.text) d.append(el("pre", "text", s.text));
      keepOpen(d, i + "/" + s.label, s === newest);
      parts.push(d);
    }
    box.replaceChildren(...parts);
    p.dirty = false;
  }
  function keepOpen(details, key, byDefault) {
    details.open = openState.has(key) ? openState.get(key) : byDefault;
    details.addEventListener("toggle", () => openState.set(key, details.open));
  }
  const container = document.getElementById("panes");
  const boxes = DATA.entries.map((_, i) => {
    const box = el("div", "pane"); box.id = "pane-" + i; container.append(box); return box;
  });
  function render(ended) { panes.forEach((p, i) => { if (p.dirty) renderPane(i, boxes[i], ended); }); }

  const play = document.getElementById("play"), end = document.getElementById("end");
  const speedBox = document.getElementById("speed"), progress = document.getElementById("progress");
  const clockText = document.getElementById("clock");
  function seconds(ms) { return (ms / 1000).toFixed(1) + " s"; }
  function showEnd() {
    if (timer) clearInterval(timer);
    timer = null; playing = false;
    panes = fresh(); applied = 0; apply(EVENTS.length); render(true);
    progress.value = 1; clockText.textContent = "the end: " + seconds(LENGTH) + " of " + seconds(LENGTH);
    play.textContent = "Replay"; document.body.dataset.replay = "ended";
  }
  function clock() { return (performance.now() - clockStart) * speed; }
  function tick() {
    const now = clock();
    let upto = applied;
    while (upto < EVENTS.length && EVENTS[upto][0] <= now) upto++;
    apply(upto); render(false);
    progress.value = LENGTH ? Math.min(1, now / LENGTH) : 1;
    clockText.textContent = "replaying at " + speed + "×: " + seconds(Math.min(now, LENGTH)) + " of " + seconds(LENGTH);
    if (applied >= EVENTS.length) showEnd();
  }
  play.addEventListener("click", () => {
    if (playing) {  // pause: the replay clock stops where it is
      pausedAt = clock();
      clearInterval(timer); timer = null; playing = false;
      play.textContent = "Resume"; document.body.dataset.replay = "paused";
      return;
    }
    const resume = document.body.dataset.replay === "paused";
    speed = Number(speedBox.value);
    if (!resume) { panes = fresh(); applied = 0; render(false); }
    clockStart = performance.now() - (resume ? pausedAt : 0) / speed;
    playing = true; play.textContent = "Pause"; document.body.dataset.replay = "playing";
    timer = setInterval(tick, 100);
    tick();
  });
  speedBox.addEventListener("change", () => {
    if (!playing) return;
    const now = clock();
    speed = Number(speedBox.value);
    clockStart = performance.now() - now / speed;  // the replay clock carries on from where it was
  });
  end.addEventListener("click", showEnd);
  showEnd();
})();
"""
