"""bench/live_view.py's instruments inside the page: a MutationObserver and WebSocket wrappers
that timestamp each pane's newest word as it arrives and as it shows, the two clicks it times, and
the renderer's busy time from the DevTools Performance domain."""

from __future__ import annotations

# Runs in the page before Streamlit's own scripts: on every DOM change, the newest word number in
# each pane's streams container, with the time it first appeared (epoch ms, like time.time()).
OBSERVER_JS = """
(() => {
  window.__seen = [];
  const best = {};
  const scan = () => {
    const now = performance.timeOrigin + performance.now();
    for (const el of document.querySelectorAll('[class*="st-key-streams-"]')) {
      const m = /st-key-streams-(\\d+)/.exec(el.className);
      if (!m) continue;
      const text = el.textContent;
      const words = [...text.slice(-80).matchAll(/p(\\d+)w(\\d+)/g)];
      if (!words.length) continue;
      const [, pane, word] = words[words.length - 1].map(Number);
      if (!(pane in best) || word > best[pane]) { best[pane] = word; window.__seen.push([pane, word, now]); }
    }
  };
  new MutationObserver(scan).observe(document, {childList: true, subtree: true, characterData: true});
  // When each pane's newest word arrives from the server: in a repaint (Streamlit's websocket,
  // binary messages: __arrived) or in the run's live text feed (its own WebSocket, JSON text: __pushed).
  window.__arrived = [];
  window.__pushed = [];
  window.__messages = [];
  const latest = {arrived: {}, pushed: {}};
  const latin1 = new TextDecoder('latin1');
  const record = (name, text, now) => {
    const newest = {};
    for (const [, pane, word] of text.matchAll(/p(\\d+)w(\\d+)/g)) {
      if (!(pane in newest) || +word > newest[pane]) newest[pane] = +word;
    }
    for (const [pane, word] of Object.entries(newest)) {
      if (!(pane in latest[name]) || word > latest[name][pane]) {
        latest[name][pane] = word;
        window[`__${name}`].push([+pane, word, now]);
      }
    }
  };
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener('message', (event) => {
      const now = performance.timeOrigin + performance.now();
      if (typeof event.data === 'string') { record('pushed', event.data, now); return; }
      if (!(event.data instanceof ArrayBuffer)) return;
      window.__messages.push([now, event.data.byteLength]);
      record('arrived', latin1.decode(event.data), now);
    });
    return ws;
  };
  for (const name of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) window.WebSocket[name] = Native[name];
  window.WebSocket.prototype = Native.prototype;
})();
"""

# Collapse pane 0's open stream expander by a click; resolve with [ms until shown collapsed, still
# collapsed 1 s later].
EXPANDER_JS = """
async () => {
  const details = document.querySelector('.st-key-streams-0 details[open]');
  if (!details) return null;
  const summary = details.querySelector('summary');
  const t0 = performance.now();
  summary.click();
  const closed = () => { const d = document.querySelector('.st-key-streams-0 details'); return d && !d.open; };
  while (!closed()) {
    if (performance.now() - t0 > 5000) return [null, false];
    await new Promise(r => requestAnimationFrame(r));
  }
  const ms = performance.now() - t0;
  await new Promise(r => setTimeout(r, 1000));
  return [ms, closed()];
}
"""

# Click "Cancel run" and wait for the page's answer (a warning or a toast).
CANCEL_JS = """
async (answer) => {
  const button = [...document.querySelectorAll('button')].find(b => b.textContent.includes('Cancel run'));
  if (!button) return null;
  const t0 = performance.now();
  button.click();
  while (!document.body.textContent.includes(answer)) {
    if (performance.now() - t0 > 10000) return null;
    await new Promise(r => setTimeout(r, 5));
  }
  return performance.now() - t0;
}
"""


def browser_metrics(cdp) -> dict[str, float]:  # noqa: ANN001 - a Playwright CDPSession
    """The renderer's cumulative busy seconds (Chrome DevTools Performance domain)."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {"task": metrics.get("TaskDuration", 0.0), "script": metrics.get("ScriptDuration", 0.0),
            "layout": metrics.get("LayoutDuration", 0.0) + metrics.get("RecalcStyleDuration", 0.0)}
