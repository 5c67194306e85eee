"""What a strategy decided, drawn from its notes: the search tree of Tree of Thoughts and the value
tree (built in app/search_tree.py), debate's rounds x agents grid, anytime's Q(b) per checkpoint
and self-consistency's votes.

The builders are pure functions of a pane's notes and streams (app.panes.PaneView), so a live run,
a shared link and a replay draw the same view from the same events, growing as the notes arrive.
`render_strategy_view` draws one pane's view with Streamlit; a tree node's full text is shown
through app.markdown_text.literal_markdown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

from app.charts import FIT_WIDTH, series_encoding
from app.panes import NoteView, PaneView
from app.search_tree import TREE_STRATEGIES, note_number, note_whole, search_tree, tree_dot, tree_frame

# ---- debate, anytime, self-consistency -----------------------------------------------------------


def debate_grid(notes: Sequence[NoteView]) -> pd.DataFrame:
    """Rounds x agents: each agent's answer in each round, with the round's tally and leader."""
    rows: list[dict[str, Any]] = []
    agents: list[str] = []
    for note in notes:
        data = note.data or {}
        if note.label != "round" or not isinstance(data.get("answers"), Mapping):
            continue
        row: dict[str, Any] = {"round": note_whole(data.get("round"))}
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
        if not note.label.startswith("checkpoint ") or note_number(data.get("budget")) is None:
            continue
        eps = note_number(data.get("epsilon"))
        eps = epsilon if eps is None else eps
        gain = note_number(data.get("improvement"))
        stop = data.get("stop")
        if stop is None and gain is not None and eps is not None:
            stop = gain < eps
        rows.append({"b (tokens)": note_whole(data["budget"]), "answer": "–" if data.get("answer") is None
                     else str(data["answer"]), "rating": note_number(data.get("score")),
                     "agrees": bool(data.get("agrees")), "Q(b)": note_number(data.get("quality")),
                     "gain": gain, "ε": eps, "stop": "stop (gain < ε)" if stop else ("–" if gain is None else "go on"),
                     "spent tokens": note_whole(data.get("spent_tokens"))})
    return pd.DataFrame(rows, columns=["b (tokens)", "answer", "rating", "agrees", "Q(b)", "gain", "ε", "stop",
                                       "spent tokens"])


def vote_tally(notes: Sequence[NoteView]) -> pd.DataFrame:
    """Votes per answer after each sample (self-consistency's `votes` notes, grouped by answer key)."""
    rows = []
    seen: list[str] = []
    for note in notes:
        data = note.data or {}
        if note.label != "votes" or note_whole(data.get("sample")) is None:
            continue
        groups = data.get("groups")
        tally = ({str(g.get("answer")): note_whole(g.get("votes")) or 0 for g in groups if isinstance(g, Mapping)}
                 if isinstance(groups, list) else
                 {str(a): note_whole(v) or 0 for a, v in (data.get("votes") or {}).items()})
        for answer in tally:
            if answer not in seen:
                seen.append(answer)
        for answer in seen:  # an answer keeps its line once it has appeared
            rows.append({"sample": note_whole(data["sample"]), "answer": answer, "votes": tally.get(answer, 0),
                         "statistic": note_number(data.get("statistic")), "target": note_number(data.get("target")),
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
    return note_number(pane.knobs.get(name))


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

    from app.markdown_text import literal_markdown

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

