// The top of a running entry's pane: title and status badge, knobs, spend bar, what its calls are
// doing, best answer so far (with right/wrong and its confidence), error, model load time.
//
// One element for what were up to ten Streamlit elements, each a websocket message and a markdown
// render at every repaint. The skeleton is built once; a repaint only changes the text that changed.
// Model output (the answer, an error) is text, never markup: everything here reaches the page
// through textContent.

const PARTS = ["title", "status", "knobs", "bar-text", "bar", "state", "over-cap", "answer",
               "confidence", "error", "load"];

function skeleton(parent) {
  const root = document.createElement("div");
  root.className = "ba-head";
  root.innerHTML = `
    <div class="ba-line"><strong class="ba-title"></strong> <span class="ba-badge ba-status"></span></div>
    <div class="ba-caption ba-knobs"></div>
    <div class="ba-progress"><div class="ba-bar-text"></div><div class="ba-track"><div class="ba-bar"></div></div></div>
    <div class="ba-caption ba-state"></div>
    <div class="ba-box ba-yellow ba-over-cap"></div>
    <div class="ba-line ba-answer"><strong class="ba-answer-label"></strong> <span class="ba-answer-text"></span>
      <span class="ba-badge ba-verdict"></span></div>
    <div class="ba-caption ba-confidence"></div>
    <div class="ba-box ba-red ba-error"></div>
    <div class="ba-caption ba-load"></div>`;  // a fixed template: no data in it
  parent.appendChild(root);
  root.__parts = {};
  for (const name of [...PARTS, "answer-label", "answer-text", "verdict"]) {
    root.__parts[name] = root.querySelector(`.ba-${name}`);
  }
  return root;
}

function text(node, value) {
  const shown = value ?? "";
  if (node.textContent !== shown) node.textContent = shown;
  node.hidden = shown === "";
}

function color(node, name) {
  const wanted = `ba-badge ${node.classList[1]} ba-${name}`;
  if (node.className !== wanted) node.className = wanted;
}

export default function ({ parentElement, data }) {
  const root = parentElement.querySelector(":scope > .ba-head") || skeleton(parentElement);
  const p = root.__parts;
  text(p.title, data.title);
  text(p.status, data.status);
  color(p.status, data.color);
  text(p.knobs, data.knobs);
  text(p["bar-text"], data.bar_text);
  const width = `${Math.round(Math.min(1, Math.max(0, data.fraction)) * 1000) / 10}%`;
  if (p.bar.style.width !== width) p.bar.style.width = width;
  text(p.state, data.state);
  text(p["over-cap"], data.over_cap);
  text(p["answer-label"], data.answer_label);
  text(p["answer-text"], data.answer);
  text(p.verdict, data.verdict === "right" ? "✓ right" : data.verdict === "wrong" ? "✗ wrong" : "");
  color(p.verdict, data.verdict === "right" ? "green" : "red");
  p.answer.hidden = !data.answer_label;
  text(p.confidence, data.confidence);
  text(p.error, data.error);
  text(p.load, data.load);
}
