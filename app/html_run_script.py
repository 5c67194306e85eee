"""The run file's static parts: the style and the script that draws one pane per entry from the
run's events and replays them (app/html_export.py fills the page and its data).

The script folds the events as app/panes.RunView does; the words it shows come with the data, so
they have one source: how an entry stopped (app.panes.STOP_STATUS, the recorder's mapping, and
stop_text's words with and without an answer) and each partial answer's confidence as the run page
words it for its strategy (app.pane_text.confidence_text: "vote share 67%", "Q(b) 0.62"). Text reaches
the page only through textContent / createTextNode: nothing here parses HTML, and the page's policy
runs no other script.
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

# Mirrors app/panes.py (the fold) and app/run_panes.py (what a pane shows).
RUN_SCRIPT = r"""
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("run-data").textContent);
  const EVENTS = DATA.events, LABELS = DATA.labels;
  const VERDICTS = new Map(DATA.verdicts.map(v => [v[0], v[1]]));
  const STOP_STATUS = DATA.stop_status, STOP_TEXT = DATA.stop_text;  // app.pane_text's words, passed in
  function stopText(p) {  // [with an answer, without one]
    const words = STOP_TEXT[p.stop];
    return words ? words[p.best ? 0 : 1] : p.stop;
  }
  const LENGTH = EVENTS.length ? EVENTS[EVENTS.length - 1][0] : 0;
  const openState = new Map();  // "pane/label" -> open, as the reader left it
  let panes = [], applied = 0, timer = null, clockStart = 0, pausedAt = 0, speed = 1, playing = false;

  function fresh() {
    return DATA.entries.map(() => ({streams: new Map(), notes: [], spent: null, best: null, conf: null,
                                   bestSeq: null, stop: null, detail: null, error: null, dirty: true}));
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
        p.stop = e[4] || "done"; p.error = e[5]; if (e[6]) p.spent = e[6]; p.detail = e[7] || null;
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
  function plural(n, word) { return num(n) + " " + (Number(n) === 1 ? word : word + "s"); }  // reasoning.wording
  function amount(cap, v) {
    if (cap === "usd") return "$" + Number(v).toFixed(4);
    if (cap === "seconds") return Number(v).toFixed(1) + " s";
    return plural(Math.round(v), cap === "total_tokens" ? "token" : "output token");
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
    const text = parts.length ? parts.join(" · ") : plural(used.total_tokens, "token") + ", $" + used.usd.toFixed(4) + " (no cap)";
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
      parts.push(answer, el("div", "small", p.conf === null || p.conf === undefined ? DATA.no_confidence : p.conf));
    } else {
      answer.append(el("b", null, p.stop !== null ? "Final answer: none" : "No answer yet."));
      parts.push(answer);
    }
    const error = p.error || (ended && p.stop === null ? entry.error : null);
    if (error) parts.push(el("div", "error", error));
    if (p.stop !== null && p.spent) {  // as the run page words it (app/run_panes.py)
      const s = p.spent, detail = (p.detail || "").replace(/^stopped: /, "");
      parts.push(el("div", "small", "Stopped: " + stopText(p) + (detail ? " (" + detail + ")" : "") +
        " · " + plural(s[0] + s[1], "token") + " in " + plural(s[6], "call") + " · $" + Number(s[4]).toFixed(4) +
        " · " + Number(s[5]).toFixed(1) + " s"));
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
