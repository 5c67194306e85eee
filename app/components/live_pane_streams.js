// The streamed text of a running entry's calls: the bottom of its pane (app/live_pane.py).
//
// Two sources feed it. Each repaint of the page hands it every stream in full as of event `seq`
// (data.streams: the newest few, one box each; data.older: the rest, in one "earlier outputs" box).
// While the run is live, the page's feed (app/live_feed.py: a WebSocket per page and run, shared by
// the panes) pushes each new delta as it is stored, with its seq; a delta the last repaint already held
// is skipped, and a repaint that is behind the feed keeps the longer text. Text is appended, never
// redrawn whole, in line blocks of bounded length, so the browser lays out only the newest line.
// A stream's box is a native <details>: a reader's open or closed choice is the browser's own.
//
// Model output is text, never markup: it reaches the page only through text nodes.

const CHUNK = 1500;  // characters in one line block before a long line continues in a new one
const feeds = new Map();  // feed URL -> {socket, seq, roots: Map(pane index -> root)}: one per page and run
const done = new Set();  // feeds that ended with their run, or that this server does not offer

function el(tag, className, parent, before = null) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  parent.insertBefore(node, before);
  return node;
}

// Text in line blocks: one per line of the text, a long line split after CHUNK characters.
function appendLines(box, text) {
  let last = box.lastElementChild;
  const parts = text.split("\n");
  parts.forEach((part, i) => {
    if (i > 0 || !last) { last = el("div", "", box); last.__size = 0; }
    while (part) {
      if (last.__size >= CHUNK) { last = el("div", "ba-cont", box); last.__size = 0; }  // the same line, continued
      const room = Math.max(1, CHUNK - last.__size);
      let piece = part.slice(0, room);
      if (piece.length < part.length) {  // break after a space when there is one
        const space = piece.lastIndexOf(" ");
        if (space > 0) piece = piece.slice(0, space + 1);
      }
      last.appendChild(document.createTextNode(piece));
      last.__size += piece.length;
      part = part.slice(piece.length);
      if (part) last.__size = CHUNK;
    }
  });
}

function codePoints(text) {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

const COUNT = new Intl.NumberFormat("en-US");  // "1,234", as the server writes counts

function summaryText(entry) {
  return entry.own ? `${entry.label} · ${COUNT.format(entry.chars)} chars` : entry.label;
}

// Draw an entry's text and thinking into its body (again, when it moved between boxes).
function fill(entry) {
  const body = entry.body;
  body.textContent = "";
  entry.thinkingNode = null;
  if (entry.thinking) showThinking(entry);
  entry.textNode = el("div", "ba-lines ba-text", body);
  appendLines(entry.textNode, entry.text);
  emptyMark(entry);
}

function showThinking(entry) {
  const first = entry.body.firstChild;
  el("div", "ba-caption", entry.body, first).textContent = "Thinking";
  entry.thinkingNode = el("div", "ba-lines ba-caption ba-thinking", entry.body, first);
}

// "(nothing yet)" while a stream has neither text nor thinking; the placeholder is the text block's
// only content then.
function emptyMark(entry) {
  const empty = !entry.text && !entry.thinking;
  const node = entry.textNode;
  if (empty && !node.__placeholder) { node.textContent = "(nothing yet)"; node.__placeholder = true; }
  if (!empty && node.__placeholder) { node.textContent = ""; node.__placeholder = false; }
  node.classList.toggle("ba-caption", empty);
}

function append(entry, kind, delta) {
  if (!delta) return;
  if (kind === "thinking") {
    if (!entry.thinkingNode) showThinking(entry);
    entry.thinking += delta;
    appendLines(entry.thinkingNode, delta);
  } else {
    if (entry.textNode.__placeholder) { entry.textNode.textContent = ""; entry.textNode.__placeholder = false; }
    entry.text += delta;
    appendLines(entry.textNode, delta);
  }
  entry.chars += codePoints(delta);
  emptyMark(entry);
  if (entry.summary) entry.summary.textContent = summaryText(entry);
}

// The repaint's full value of one kind, as of its seq: append what is new, keep a longer text the
// feed already showed ("kept"), or take the value whole when they disagree ("redraw").
function settle(entry, kind, value) {
  const shown = entry[kind];
  if (value === shown) return "same";
  if (shown.startsWith(value)) return "kept";
  if (value.startsWith(shown)) { append(entry, kind, value.slice(shown.length)); return "appended"; }
  entry[kind] = value;
  return "redraw";
}

function newEntry(root, key, label) {
  const entry = {label, text: "", thinking: "", chars: 0, seq: 0, own: true, box: null, body: null, summary: null};
  root.__entries.set(key, entry);
  return entry;
}

// Give an entry a box of its own (a <details> after `after`) or a part of the older box.
function place(root, entry, own, after, open) {
  const wanted = own ? "own" : "older";
  if (entry.box && entry.place === wanted && entry.box.isConnected) {
    if (own && entry.box.previousElementSibling !== after) root.insertBefore(entry.box, after ? after.nextSibling : root.firstChild);
    return;
  }
  if (entry.box && entry.place === "own") entry.box.remove();
  if (entry.box && entry.place === "older") entry.box.remove();
  entry.own = own;
  entry.place = wanted;
  if (own) {
    entry.box = document.createElement("details");
    entry.box.className = "ba-stream";
    entry.box.open = open;  // only when it first appears: afterwards the reader's click decides
    entry.summary = el("summary", "", entry.box);
    entry.body = el("div", "ba-body", entry.box);
    root.insertBefore(entry.box, after ? after.nextSibling : root.firstChild);
  } else {
    entry.box = el("div", "ba-older", olderBox(root).lastElementChild);
    entry.summary = null;
    el("div", "ba-label", entry.box).textContent = entry.label;
    entry.body = el("div", "ba-body", entry.box);
  }
  if (entry.summary) entry.summary.textContent = summaryText(entry);
  fill(entry);
}

function olderBox(root) {
  if (!root.__older) {
    root.__older = el("details", "ba-stream", root, root.firstChild);
    root.__older.__summary = el("summary", "", root.__older);
    el("div", "ba-body", root.__older);
  }
  return root.__older;
}

function render(root, data) {
  const seen = new Set();
  const older = data.older || [];
  if (older.length) {
    const box = olderBox(root);
    const label = `${older.length} earlier output(s)`;
    if (box.__summary.textContent !== label) box.__summary.textContent = label;
  } else if (root.__older) {
    root.__older.remove();
    root.__older = null;
  }
  const visit = (stream, own, after) => {
    const entry = root.__entries.get(stream.key) || newEntry(root, stream.key, stream.label);
    seen.add(stream.key);
    let redraw = false;
    if (entry.seq <= data.seq) {  // the repaint is as new as what is shown, or newer
      if (!entry.box) {  // drawn below, when placed
        Object.assign(entry, {text: stream.text, thinking: stream.thinking, chars: stream.chars});
      } else {
        const text = settle(entry, "text", stream.text);
        const thinking = settle(entry, "thinking", stream.thinking);
        redraw = text === "redraw" || thinking === "redraw";
        if (text !== "kept" && thinking !== "kept") entry.chars = stream.chars;
      }
      entry.seq = data.seq;
    }
    place(root, entry, own, after, !!stream.open);
    if (redraw) fill(entry);
    if (entry.summary && entry.summary.textContent !== summaryText(entry)) entry.summary.textContent = summaryText(entry);
    return entry.box;
  };
  older.forEach((stream) => visit(stream, false, null));
  let after = root.__older;
  for (const stream of data.streams || []) after = visit(stream, true, after);
  for (const [key, entry] of root.__entries) {
    if (!seen.has(key) && entry.seq <= data.seq) { entry.box?.remove(); root.__entries.delete(key); }
  }
}

// A delta pushed by the feed: [seq, pane index, label, "text" | "thinking", text].
function pushed(root, [seq, , key, kind, delta]) {
  const entry = root.__entries.get(key) || newEntry(root, key, key || "output");
  if (seq <= entry.seq) return;  // the last repaint held it
  entry.seq = seq;
  if (!entry.box) {  // a call that began after the last repaint: a box of its own, open, at the end
    const last = [...root.__entries.values()].filter((e) => e.box && e.place === "own").pop();
    place(root, entry, true, last ? last.box : root.__older, true);
  }
  append(entry, kind, delta);
}

function follow(url, after, index, root) {
  if (done.has(url)) return;
  let feed = feeds.get(url);
  if (!feed) {
    feed = {roots: new Map(), seq: after, socket: null, opened: false};
    feeds.set(url, feed);
    connect(url, feed);
  }
  feed.roots.set(index, root);
}

function connect(url, feed) {
  const address = new URL(url, window.location.href);
  address.protocol = address.protocol === "https:" ? "wss:" : "ws:";
  address.search = `?after=${feed.seq}`;
  const socket = new WebSocket(address);
  feed.socket = socket;
  socket.onopen = () => { feed.opened = true; };
  socket.onmessage = (event) => {
    if (![...feed.roots.values()].some((r) => r.isConnected)) { socket.close(); return; }  // the page moved on
    const message = JSON.parse(event.data);
    for (const row of message.rows) {
      const target = feed.roots.get(row[1]);
      if (target && target.isConnected) pushed(target, row);
    }
    feed.seq = Math.max(feed.seq, message.seq);
  };
  socket.onclose = (event) => {
    if (feeds.get(url) !== feed) return;
    feeds.delete(url);
    // The run ended and everything was sent, or there is no feed here: the repaints carry on alone.
    if (event.code === 1000 || event.code === 4404 || !feed.opened) { done.add(url); return; }
    if ([...feed.roots.values()].some((r) => r.isConnected)) {  // dropped: again from the last seq seen
      setTimeout(() => { if (!feeds.has(url)) { feeds.set(url, feed); feed.opened = false; connect(url, feed); } }, 1000);
    }
  };
}

export default function ({ parentElement, data }) {
  let root = parentElement.querySelector(":scope > .ba-streams");
  if (!root) {
    root = el("div", "ba-streams", parentElement);
    root.__entries = new Map();
    root.__older = null;
  }
  render(root, data);
  if (data.feed && data.live) follow(data.feed, data.seq, data.pane, root);
}
