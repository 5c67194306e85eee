"""What a strategy decided, drawn from its notes: the search tree of Tree of Thoughts and the value
tree, debate's rounds x agents grid, anytime's Q(b) per checkpoint and self-consistency's votes.

The builders are pure functions of a pane's notes and streams (app.panes.PaneView), so a live run,
a shared link and a replay draw the same view from the same events, growing as the notes arrive.
`render_strategy_view` draws one pane's view with Streamlit.

The tree is a Graphviz DOT graph that the browser lays out (st.graphviz_chart: no Graphviz on the
server). Model text goes into it only as quoted DOT strings with every character that DOT or its
SVG output would read as syntax escaped, so a reply shows as itself and can never add a node, an
attribute or a link; the full text of a node is shown through app.panes.literal_markdown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import pandas as pd

from app.charts import FIT_WIDTH, series_encoding
from app.panes import NoteView, PaneView

TREE_STRATEGIES = ("tree_of_thoughts", "value_tree")
LABEL_CHARS = 28  # a node's step in its box; the whole step is in its tooltip and below the tree
TOOLTIP_CHARS = 600

# Node statuses, in the words the legend uses.
ROOT, EXPANDED, ANSWERED, PRUNED, DEPTH_LIMIT, DROPPED, WAITING, UNREACHED = (
    "problem", "expanded", "states an answer", "pruned: its budget share cannot pay for an expansion",
    "at the depth limit", "dropped from the beam", "not expanded yet", "not expanded: the search ended first")
_FILL = {ROOT: "#e5e7eb", EXPANDED: "#dbeafe", ANSWERED: "#dcfce7", PRUNED: "#f3f4f6", DEPTH_LIMIT: "#f3f4f6",
         DROPPED: "#f3f4f6", WAITING: "#ffffff", UNREACHED: "#f3f4f6"}
_DASHED = (PRUNED, DEPTH_LIMIT, DROPPED, UNREACHED)  # drawn dashed: the search did not go on from them
BEST_COLOR = "#b45309"  # the best path: thick amber borders and edges


# ---- the search tree -----------------------------------------------------------------------------


@dataclass
class TreeNode:
    id: str  # "root", "1", "1.2", ...: the path of child indices
    parent: str | None
    depth: int
    reward: float | None = None  # R(n), the self-evaluation in [0, 1]
    value: float | None = None  # V(n) = R(n) + γ max V(children) (value tree); R(n) for Tree of Thoughts
    allocated: int | None = None  # B(n_i): tokens allotted (value tree: its share; ToT: the level's step)
    answer: str | None = None
    expanded: bool = False
    status: str = WAITING
    text: str = ""  # the step this node adds


@dataclass
class SearchTree:
    strategy: str
    nodes: dict[str, TreeNode] = field(default_factory=dict)  # parents before children
    best_path: list[str] = field(default_factory=list)
    final: bool = False  # the strategy's closing "tree" note arrived
    expansion_tokens: int | None = None  # value tree: what one expansion costs (the pruning line)

    @property
    def best_ids(self) -> set[str]:
        return set(self.best_path)

    def edges(self) -> list[tuple[str, str]]:
        return [(n.parent, n.id) for n in self.nodes.values() if n.parent is not None and n.parent in self.nodes]


def _parent_of(node_id: str) -> str | None:
    if node_id == "root":
        return None
    return node_id.rpartition(".")[0] if "." in node_id else "root"


def _node(tree: SearchTree, node_id: str, depth: int | None = None) -> TreeNode:
    node = tree.nodes.get(node_id)
    if node is None:
        parent = _parent_of(node_id)
        if parent is not None and parent not in tree.nodes:
            _node(tree, parent)
        node = TreeNode(node_id, parent, depth if depth is not None else node_id.count(".") + (node_id != "root"),
                        status=ROOT if node_id == "root" else WAITING)
        tree.nodes[node_id] = node
    return node


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) \
        else None


def _whole(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def search_tree(pane: PaneView) -> SearchTree | None:
    """The search tree as far as the pane's notes tell it (None for other strategies, or before the
    first expansion)."""
    if pane.strategy not in TREE_STRATEGIES:
        return None
    tree = SearchTree(pane.strategy)
    _node(tree, "root", 0)
    fold = _value_tree_note if pane.strategy == "value_tree" else _tot_note
    for note in pane.notes:
        if isinstance(note.data, Mapping):
            fold(tree, note)
    if len(tree.nodes) == 1:
        return None
    for node in tree.nodes.values():  # the step's text, from the stream of its proposal when live
        if not node.text and node.id != "root":
            stream = pane.streams.get(f"node {node.id}")
            node.text = stream.text.strip() if stream is not None else ""
    return tree


def _apply_final(tree: SearchTree, data: Mapping[str, Any]) -> None:
    """The closing note's whole tree: the final R, V, allocations and expansions of every node."""
    for item in data.get("nodes") or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            continue
        node = _node(tree, item["id"], _whole(item.get("depth")))
        node.reward = _number(item.get("R")) if node.id != "root" else None
        node.value = _number(item.get("V")) if node.id != "root" else None
        node.allocated = _whole(item.get("allocated")) if item.get("allocated") is not None else node.allocated
        node.answer = item.get("answer") if isinstance(item.get("answer"), str) else node.answer
        node.expanded = bool(item.get("expanded"))
        if isinstance(item.get("step"), str) and item["step"]:
            node.text = item["step"]
    tree.final = True


def _value_tree_note(tree: SearchTree, note: NoteView) -> None:
    data = note.data or {}
    if note.label == "tree":
        _apply_final(tree, data)
        if isinstance(data.get("best_path"), list):
            tree.best_path = [str(i) for i in data["best_path"]]
        _final_statuses(tree)
        return
    if not note.label.startswith("expand ") or not isinstance(data.get("node"), str):
        return
    parent = _node(tree, data["node"], _whole(data.get("depth")))
    parent.expanded = True
    tree.expansion_tokens = _whole(data.get("expansion_tokens"))
    expanding = {str(i) for i in data.get("expanding") or []}
    limit = _whole(data.get("depth_limit"))
    for item in data.get("children") or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            continue
        child = _node(tree, item["id"], _whole(item.get("depth")))
        child.reward = _number(item.get("R"))
        child.value = _number(item.get("V"))
        child.allocated = _whole(item.get("allocated"))
        child.answer = item.get("answer") if isinstance(item.get("answer"), str) else None
        child.text = item.get("step") if isinstance(item.get("step"), str) else child.text
        if child.id in expanding:
            child.status = WAITING
        elif child.answer is not None:
            child.status = ANSWERED
        elif limit is not None and child.depth >= limit:
            child.status = DEPTH_LIMIT
        else:
            child.status = PRUNED
    for node_id, value in (data.get("values") or {}).items():
        if node_id in tree.nodes and node_id != "root":
            tree.nodes[node_id].value = _number(value)
    if isinstance(data.get("best_path"), list):
        tree.best_path = [str(i) for i in data["best_path"]]
    if parent.id != "root":
        parent.status = EXPANDED


def _final_statuses(tree: SearchTree) -> None:
    """Once the whole tree is known: expanded and answering nodes as such; a node still waiting for
    its expansion never got it (the budget or the depth ran out first)."""
    for node in tree.nodes.values():
        if node.id == "root":
            continue
        if node.expanded:
            node.status = EXPANDED
        elif node.answer is not None:
            node.status = ANSWERED
        elif node.status == WAITING:
            node.status = UNREACHED


def _tot_note(tree: SearchTree, note: NoteView) -> None:
    data = note.data or {}
    if note.label == "tree":
        _apply_final(tree, data)
        best = data.get("best")
        if isinstance(best, str):
            tree.best_path = _path_to(best)
        _final_statuses(tree)
        return
    if not note.label.startswith("depth ") or not isinstance(data.get("scores"), Mapping):
        return
    for node_id in data.get("expanded") or []:
        expanded = _node(tree, str(node_id))
        expanded.expanded = True
        if expanded.id != "root":
            expanded.status = EXPANDED
    kept = {str(i) for i in data.get("kept") or []}
    answers = data.get("answers") if isinstance(data.get("answers"), Mapping) else {}
    step = _whole(data.get("step_tokens"))
    for node_id, score in data["scores"].items():
        child = _node(tree, str(node_id))
        child.reward = child.value = _number(score)
        child.allocated = step
        answer = answers.get(child.id)
        child.answer = answer if isinstance(answer, str) else None
        child.status = ANSWERED if child.answer is not None else (WAITING if child.id in kept else DROPPED)
    if isinstance(data.get("best"), str):
        tree.best_path = _path_to(data["best"])


def _path_to(node_id: str) -> list[str]:
    """root, 1, 1.2, 1.2.3 for "1.2.3": a Tree of Thoughts state's ancestors are its id's prefixes."""
    if node_id in ("", "root"):
        return ["root"]
    parts = node_id.split(".")
    return ["root"] + [".".join(parts[: i + 1]) for i in range(len(parts))]


# ---- DOT --------------------------------------------------------------------------------------------


def dot_string(text: str) -> str:
    """`text` as a quoted DOT string that Graphviz shows as itself: backslashes (its label escapes
    such as \\N or \\l), quotes and ampersands (its entities) escaped, control characters blanked,
    line breaks as \\n."""
    cleaned = "".join(ch if ch == "\n" or (ch.isprintable() and ch not in "\u2028\u2029") else " " for ch in text)
    escaped = cleaned.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;").replace("\n", "\\n")
    return f'"{escaped}"'


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def node_label(node: TreeNode, strategy: str) -> str:
    if node.id == "root":
        return "problem"
    lines = [node.id]
    if strategy == "value_tree":
        lines.append(f"R {_fmt(node.reward)} · V {_fmt(node.value)}")
        if node.allocated is not None:
            lines.append(f"B {node.allocated:,} tokens")
    else:
        lines.append(f"R {_fmt(node.reward)}")
        if node.allocated is not None:
            lines.append(f"step ≤ {node.allocated:,} tokens")
    if node.answer is not None:
        lines.append("answer: " + _short(node.answer, 16))
    elif node.text:
        lines.append(_short(node.text, LABEL_CHARS))
    return "\n".join(lines)


def node_tooltip(node: TreeNode) -> str:
    if node.id == "root":
        return "the problem"
    head = f"{node.id} · {node.status}"
    return head + ("\n" + _short(node.text, TOOLTIP_CHARS) if node.text else "")


def tree_dot(tree: SearchTree) -> str:
    """The tree as DOT, left to right (depth across, siblings down: it fits a narrow pane)."""
    best = tree.best_ids
    lines = ["digraph search {", "  rankdir=LR; bgcolor=transparent; nodesep=0.12; ranksep=0.3;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=9, margin="0.06,0.03"];',
             '  edge [color="#9ca3af", arrowsize=0.5];']
    for node in tree.nodes.values():
        on_path = node.id in best
        dashed = node.status in _DASHED
        style = "rounded,filled" + (",dashed" if dashed else "") + (",bold" if on_path else "")
        attrs = {
            "label": dot_string(node_label(node, tree.strategy)),
            "tooltip": dot_string(node_tooltip(node)),
            "fillcolor": dot_string(_FILL.get(node.status, "#ffffff")),
            "style": dot_string(style),
            "color": dot_string(BEST_COLOR if on_path else "#6b7280"),
            "penwidth": "2.5" if on_path else "1",
            "fontcolor": dot_string("#6b7280" if dashed else "#111827"),
            "id": dot_string(f"node-{node.id}"),
            "class": dot_string("best" if on_path else node.status.split(":")[0].replace(" ", "-")),
        }
        lines.append(f"  {dot_string(node.id)} [" + ", ".join(f"{k}={v}" for k, v in attrs.items()) + "];")
    for parent, child in tree.edges():
        on_path = parent in best and child in best
        attrs = f' [color="{BEST_COLOR}", penwidth=2.5]' if on_path else ""
        lines.append(f"  {dot_string(parent)} -> {dot_string(child)}{attrs};")
    lines.append("}")
    return "\n".join(lines)


def tree_frame(tree: SearchTree) -> pd.DataFrame:
    """One row per node (the table under the tree): what the picture shows, as text."""
    rows = []
    best = tree.best_ids
    for node in tree.nodes.values():
        if node.id == "root":
            continue
        rows.append({"node": node.id, "R(n)": node.reward, "V(n)": node.value, "B(n) tokens": node.allocated,
                     "status": node.status, "best path": "★" if node.id in best else "",
                     "answer": node.answer or "", "step": _short(node.text, 200)})
    return pd.DataFrame(rows, columns=["node", "R(n)", "V(n)", "B(n) tokens", "status", "best path", "answer",
                                       "step"])


# ---- debate, anytime, self-consistency -----------------------------------------------------------


def debate_grid(notes: Sequence[NoteView]) -> pd.DataFrame:
    """Rounds x agents: each agent's answer in each round, with the round's tally and leader."""
    rows: list[dict[str, Any]] = []
    agents: list[str] = []
    for note in notes:
        data = note.data or {}
        if note.label != "round" or not isinstance(data.get("answers"), Mapping):
            continue
        row: dict[str, Any] = {"round": _whole(data.get("round"))}
        for agent, answer in data["answers"].items():
            name = f"agent {agent}"
            if name not in agents:
                agents.append(name)
            row[name] = "–" if answer is None else str(answer)
        votes = data.get("votes") if isinstance(data.get("votes"), Mapping) else {}
        row["votes"] = ", ".join(f"{answer} ×{count}" for answer, count in votes.items()) or "–"
        row["leader"] = "–" if data.get("leader") is None else str(data.get("leader"))
        rows.append(row)
    return pd.DataFrame(rows, columns=["round", *agents, "votes", "leader"])


def anytime_frame(notes: Sequence[NoteView], epsilon: float | None = None) -> pd.DataFrame:
    """Q(b) per checkpoint with the stop rule's numbers: gain = (Q(b) - Q(b_prev)) / Q(b_prev) against ε."""
    rows = []
    for note in notes:
        data = note.data or {}
        if not note.label.startswith("checkpoint ") or _number(data.get("budget")) is None:
            continue
        eps = _number(data.get("epsilon"))
        eps = epsilon if eps is None else eps
        gain = _number(data.get("improvement"))
        stop = data.get("stop")
        if stop is None and gain is not None and eps is not None:
            stop = gain < eps
        rows.append({"b (tokens)": _whole(data["budget"]), "answer": "–" if data.get("answer") is None
                     else str(data["answer"]), "rating": _number(data.get("score")),
                     "agrees": bool(data.get("agrees")), "Q(b)": _number(data.get("quality")),
                     "gain": gain, "ε": eps, "stop": "stop (gain < ε)" if stop else ("–" if gain is None else "go on"),
                     "spent tokens": _whole(data.get("spent_tokens"))})
    return pd.DataFrame(rows, columns=["b (tokens)", "answer", "rating", "agrees", "Q(b)", "gain", "ε", "stop",
                                       "spent tokens"])


def vote_tally(notes: Sequence[NoteView]) -> pd.DataFrame:
    """Votes per answer after each sample (self-consistency's `votes` notes, grouped by answer key)."""
    rows = []
    seen: list[str] = []
    for note in notes:
        data = note.data or {}
        if note.label != "votes" or _whole(data.get("sample")) is None:
            continue
        groups = data.get("groups")
        tally = ({str(g.get("answer")): _whole(g.get("votes")) or 0 for g in groups if isinstance(g, Mapping)}
                 if isinstance(groups, list) else
                 {str(a): _whole(v) or 0 for a, v in (data.get("votes") or {}).items()})
        for answer in tally:
            if answer not in seen:
                seen.append(answer)
        for answer in seen:  # an answer keeps its line once it has appeared
            rows.append({"sample": _whole(data["sample"]), "answer": answer, "votes": tally.get(answer, 0),
                         "statistic": _number(data.get("statistic")), "target": _number(data.get("target")),
                         "rule": data.get("rule")})
    return pd.DataFrame(rows, columns=["sample", "answer", "votes", "statistic", "target", "rule"])


def tally_chart(tally: pd.DataFrame) -> alt.Chart:
    answers = list(dict.fromkeys(tally["answer"]))
    color, shape, _ = series_encoding(answers, title="answer", field="answer")
    return alt.Chart(tally).mark_line(interpolate="step-after", point=True).encode(
        x=alt.X("sample:Q", title="samples drawn", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("votes:Q", title="votes", axis=alt.Axis(tickMinStep=1, format="d")),
        color=color, shape=shape,
        tooltip=[alt.Tooltip("answer:N"), alt.Tooltip("sample:Q"), alt.Tooltip("votes:Q")],
    ).properties(height=160, autosize=FIT_WIDTH)


def anytime_chart(frame: pd.DataFrame) -> alt.Chart:
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("b (tokens):Q", title="checkpoint b (reasoning tokens)", axis=alt.Axis(format="~s", tickMinStep=1)),
        y=alt.Y("Q(b):Q", title="Q(b)", scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip("b (tokens):Q"), alt.Tooltip("answer:N"), alt.Tooltip("Q(b):Q", format=".3f"),
                 alt.Tooltip("gain:Q", format="+.1%"), alt.Tooltip("stop:N")],
    ).properties(height=150, autosize=FIT_WIDTH)


# ---- drawing a pane's view -------------------------------------------------------------------------


def has_view(pane: PaneView) -> bool:
    labels = {n.label for n in pane.notes}
    if pane.strategy in TREE_STRATEGIES:
        return any(label.startswith(("expand ", "depth ")) or label == "tree" for label in labels)
    return {"debate": "round" in labels, "anytime": any(label.startswith("checkpoint ") for label in labels),
            "self_consistency": "votes" in labels}.get(pane.strategy, False)


VIEW_TITLES = {"tree_of_thoughts": "Search tree", "value_tree": "Search tree", "debate": "Rounds × agents",
               "anytime": "Q(b) per checkpoint", "self_consistency": "Vote tally"}


def render_strategy_view(pane: PaneView) -> None:
    """The pane's strategy view in a keyed expander (a reader's open/closed choice survives repaints)."""
    import streamlit as st

    if not has_view(pane):
        return
    with st.expander(VIEW_TITLES[pane.strategy], expanded=True, key=f"view-{pane.index}"), \
            st.container(key=f"strategy-view-{pane.index}"):
        if pane.strategy in TREE_STRATEGIES:
            _render_tree(pane)
        elif pane.strategy == "debate":
            st.dataframe(debate_grid(pane.notes), hide_index=True, width="stretch", placeholder="–")
        elif pane.strategy == "anytime":
            frame = anytime_frame(pane.notes, _knob(pane, "epsilon"))
            st.altair_chart(anytime_chart(frame), width="stretch", key=f"chart.anytime.{pane.index}")
            st.dataframe(frame, hide_index=True, width="stretch", placeholder="–",
                         column_config={"gain": st.column_config.NumberColumn(format="percent"),
                                        "Q(b)": st.column_config.NumberColumn(format="%.3f")})
            st.caption("Q(b) = ½·agrees + ½·rating; stop when the gain (Q(b) − Q(b_prev)) / Q(b_prev) is "
                       "below ε once Q > 0.")
        elif pane.strategy == "self_consistency":
            tally = vote_tally(pane.notes)
            st.altair_chart(tally_chart(tally), width="stretch", key=f"chart.tally.{pane.index}")
            st.caption(_rule_text(tally))


def _knob(pane: PaneView, name: str) -> float | None:
    return _number(pane.knobs.get(name))


def _rule_text(tally: pd.DataFrame) -> str:
    if tally.empty:
        return ""
    last = tally.iloc[-1]
    statistic, target, rule = last["statistic"], last["target"], last["rule"]
    if rule == "beta" and pd.notna(statistic) and pd.notna(target):
        return f"Beta rule: P(leader wins) = {statistic:.3f}, stops at {target:g}."
    if rule == "esc" and pd.notna(statistic) and pd.notna(target):
        return f"ESC rule: the last {int(statistic)} answers agree, stops at {int(target)}."
    return f"{rule} rule" if isinstance(rule, str) else ""


def _render_tree(pane: PaneView) -> None:
    import streamlit as st

    from app.panes import literal_markdown

    tree = search_tree(pane)
    if tree is None:
        return
    st.graphviz_chart(tree_dot(tree), width="stretch")
    value = "V(n) = R(n) + γ·max V(children); B(n_i) = B_left·V(n_i)/ΣV" if tree.strategy == "value_tree" \
        else "R(n) = the state's 1-10 rating on [0, 1]; the beam keeps the best"
    st.caption(f"{len(tree.nodes) - 1} nodes · best path (amber): {' > '.join(tree.best_path[1:]) or 'none yet'} · "
               f"{value}; dashed: pruned or not expanded. Hover a node for its text.")
    nodes = [n for n in tree.nodes.values() if n.id != "root"]
    choice = st.selectbox("Read a node's step", [n.id for n in nodes], index=None, key=f"tree.read.{pane.index}",
                          placeholder="Pick a node", format_func=lambda i: f"{i} ({tree.nodes[i].status})")
    if choice is not None and choice in tree.nodes:
        node = tree.nodes[choice]
        st.markdown(literal_markdown(node.text) or "(no text)")
        if node.answer is not None:
            st.caption("Answer: " + literal_markdown(node.answer))
    with st.popover("All nodes as a table", width="stretch"):
        st.dataframe(tree_frame(tree), hide_index=True, width="stretch", placeholder="–")

