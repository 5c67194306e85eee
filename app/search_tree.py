"""The search tree of Tree of Thoughts and the budget-aware value tree, as far as a pane's notes tell
it: nodes with R(n), V(n) and their token allocation B(n_i), expanded, pruned and waiting nodes,
and the best path; drawn as a Graphviz DOT graph (app.tree_view shows it) and as a table.

`search_tree` is a pure function of a pane's notes and streams (app.panes.PaneView), so a live
run, a shared link and a replay draw the same tree from the same events, growing as notes arrive.
Value tree (reasoning/strategies/value_tree.py): V(n) = R(n) + γ·max V(children) and
B(n_i) = B_left·V(n_i)/ΣV; Tree of Thoughts (Yao et al., 2023): R(n) is a state's rating and the
beam keeps the best.

Model text goes into the DOT source only as quoted strings with every character that DOT or its
SVG output would read as syntax escaped, so a reply shows as itself and can never add a node, an
attribute or a link (the browser lays the graph out: no Graphviz on the server).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

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


def note_number(value: Any) -> float | None:
    """A number from a note's data (JSON): finite int or float, else None (a bool is not a number)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) \
        else None


def note_whole(value: Any) -> int | None:
    number = note_number(value)
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
        node = _node(tree, item["id"], note_whole(item.get("depth")))
        node.reward = note_number(item.get("R")) if node.id != "root" else None
        node.value = note_number(item.get("V")) if node.id != "root" else None
        node.allocated = note_whole(item.get("allocated")) if item.get("allocated") is not None else node.allocated
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
    parent = _node(tree, data["node"], note_whole(data.get("depth")))
    parent.expanded = True
    tree.expansion_tokens = note_whole(data.get("expansion_tokens"))
    expanding = {str(i) for i in data.get("expanding") or []}
    limit = note_whole(data.get("depth_limit"))
    for item in data.get("children") or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            continue
        child = _node(tree, item["id"], note_whole(item.get("depth")))
        child.reward = note_number(item.get("R"))
        child.value = note_number(item.get("V"))
        child.allocated = note_whole(item.get("allocated"))
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
            tree.nodes[node_id].value = note_number(value)
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
    step = note_whole(data.get("step_tokens"))
    for node_id, score in data["scores"].items():
        child = _node(tree, str(node_id))
        child.reward = child.value = note_number(score)
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
