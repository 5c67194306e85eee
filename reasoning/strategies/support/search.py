"""The search algorithms tree strategies share: search is a function, prompts are arguments.

Pure parts (tested with plain numbers):
- `Node`, a reasoning state: the steps from the root, its reward R(n) and value V(n);
- value tree search: `backup`, V(n) = R(n) + gamma * max_{c in children(n)} V(c) (a leaf's V is
  its R); `allocate`, B(n_i) = B_remaining * V(n_i) / sum_j V(n_j), values floored at 1e-8 and the
  shares truncated to whole tokens (a token cannot be split); `best_path`, argmax V from the root down;
- beam search: `beam_plan`, how many states to expand and how many proposals each, from how many
  nodes are affordable.

How much is affordable is sizing's answer (reasoning.strategies.support.sizing), not this module's.

Replies are read by reasoning.answers (`parse_score`, `stated_answer`).

One async part, `expand`: propose children of a state in parallel and score each with the
evaluation prompt. Which prompts are used is up to the caller (`SearchPrompts`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

# Ratings and stated answers are read in reasoning.answers with every other reply form.
from reasoning.answers import extract_answer, parse_score, stated_answer
from reasoning.budget import Cost
from reasoning.context import Context, Reply
from reasoning.model_protocol import Message
from reasoning.strategies.support.sizing import call_cost, replies_cost

VALUE_FLOOR = 1e-8  # V(n_i) floored in B(n_i)'s formula: a zero value still gets a (tiny) share


# ---- the tree --------------------------------------------------------------------------------


@dataclass
class Node:
    """A partial solution: the steps taken from the root (the problem itself has no steps)."""

    id: str  # "" for the root, then "1", "1.2", "1.2.1": the path of child indices
    depth: int
    steps: tuple[str, ...] = ()
    reward: float = 0.0  # R(n): the self-evaluation of this state, in [0, 1]
    value: float = 0.0  # V(n), kept current by `backup`
    answer: str | None = None  # set when the last step states a final answer: the state is terminal
    allocated: int | None = None  # tokens allocated to this subtree (None: uncapped)
    expanded: bool = False
    children: list[Node] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.answer is not None

    def child_id(self, index: int) -> str:
        return f"{self.id}.{index}" if self.id else str(index)

    def as_data(self) -> dict[str, Any]:
        parent = self.id.rpartition(".")[0] if "." in self.id else ("root" if self.id else None)
        return {
            "id": self.id or "root",
            "parent": parent,
            "depth": self.depth,
            "step": self.steps[-1] if self.steps else "",
            "R": round(self.reward, 6),
            "V": round(self.value, 6),
            "allocated": self.allocated,
            "answer": self.answer,
            "expanded": self.expanded,
        }


def walk(root: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children."""
    yield root
    for child in root.children:
        yield from walk(child)


def backup(node: Node, gamma: float) -> float:
    """Recompute V over the subtree: V(n) = R(n) + gamma * max V(children); a leaf's V is R(n)."""
    best_child = max((backup(c, gamma) for c in node.children), default=0.0)
    node.value = node.reward + gamma * best_child
    return node.value


def allocate(remaining: float, values: Sequence[float]) -> list[int]:
    """B(n_i) = B_remaining * V(n_i) / sum_j V(n_j), values floored at 1e-8, truncated to tokens."""
    floored = [max(v, VALUE_FLOOR) for v in values]
    total = sum(floored)
    return [max(0, int(remaining * v / total)) for v in floored]


def allocate_funded(remaining: float, values: Sequence[float], expansion: float) -> list[int]:
    """The allocation rule over the children that can be funded: while some share cannot buy an
    expansion, the lowest-valued such child gets 0 and the rest share again by the same formula.
    (allocate() alone leaves an unfundable share unspent.)"""
    funded = list(range(len(values)))
    while funded:
        shares = allocate(remaining, [values[i] for i in funded])
        short = [i for i, s in zip(funded, shares, strict=True) if s < expansion]
        if not short:
            break
        funded.remove(min(short, key=lambda i: (values[i], -i)))
    out = [0] * len(values)
    if funded:
        for i, share in zip(funded, allocate(remaining, [values[i] for i in funded]), strict=True):
            out[i] = share
    return out


def best_path(root: Node) -> list[Node]:
    """From the root, follow the child with the highest V until a leaf (ties: the first child)."""
    path = [root]
    while path[-1].children:
        path.append(max(path[-1].children, key=lambda c: c.value))
    return path


def tree_data(root: Node) -> list[dict[str, Any]]:
    return [n.as_data() for n in walk(root)]


# ---- beam search -------------------------------------------------------------------------------


def beam_plan(affordable_nodes: float | None, levels_left: int, frontier: int, max_breadth: int,
              max_beam: int) -> tuple[int, int]:
    """(states to expand, proposals per state) for one level of a beam search.

    The affordable nodes are spread over the levels still to go; within a level, each expanded
    state gets at least two proposals when the level can pay for two (a choice of one is no
    search). Uncapped (None): the knob maxima. (0, 0) when not even one node is affordable."""
    if frontier <= 0 or levels_left <= 0:
        return 0, 0
    if affordable_nodes is None:
        return min(frontier, max_beam), max_breadth
    whole = math.floor(affordable_nodes)
    if whole < 1:
        return 0, 0
    per_level = max(whole // levels_left, min(whole, 2))
    states = min(frontier, max_beam, max(1, per_level // 2))
    return states, min(max_breadth, max(1, per_level // states))


# ---- one expansion ----------------------------------------------------------------------------


Steps = tuple[str, ...]


@dataclass(frozen=True)
class SearchPrompts:
    """The prompts a tree search asks with: search is a function, prompts are arguments."""

    propose: Callable[[str, Steps], list[Message]]  # (problem, steps so far) -> ask for the next step
    evaluate: Callable[[str, Steps], list[Message]]  # -> ask for a 1-10 rating of the state
    finish: Callable[[str, Steps], list[Message]]  # -> ask for the final answer from the state


@dataclass(frozen=True)
class SearchCalls:
    """How the calls of an expansion are made."""

    step_tokens: int = 160
    score_tokens: int = 8
    temperature: float = 0.8  # proposals differ only by sampling, so it must be above 0


async def expand(ctx: Context, problem: str, node: Node, branching: int, prompts: SearchPrompts,
                 calls: SearchCalls) -> Cost:
    """Give `node` up to `branching` scored children (proposals run in parallel, then the scores).

    A proposal refused for budget is dropped, an unscored child gets R = 0. Returns what the
    expansion cost; raises BudgetExhausted (through ctx.gather) only if every proposal was refused."""
    started = time.monotonic()
    ids = [node.child_id(i + 1) for i in range(branching)]
    proposals = await ctx.gather(*(
        ctx.generate(prompts.propose(problem, node.steps), label=f"node {cid}",
                     max_tokens=calls.step_tokens, temperature=calls.temperature)
        for cid in ids
    ))
    children = [
        Node(cid, node.depth + 1, node.steps + (str(p).strip(),), answer=stated_answer(p))
        for cid, p in zip(ids, proposals, strict=True) if p is not None and str(p).strip()
    ]
    scores: list[Reply | None] = []
    if children:
        scores = await ctx.gather(*(
            ctx.generate(prompts.evaluate(problem, c.steps), label=f"score {c.id}",
                         max_tokens=calls.score_tokens, temperature=0.0)
            for c in children
        ))
        for child, score in zip(children, scores, strict=True):
            child.reward = (parse_score(score) if score is not None else None) or 0.0
            child.value = child.reward
    node.children = children
    node.expanded = True
    return replies_cost(ctx, [*proposals, *scores], seconds=time.monotonic() - started)


async def finish(ctx: Context, problem: str, node: Node, prompts: SearchPrompts, max_tokens: int) -> str | None:
    """The final answer of a state: its own when it states one, else asked for with the finish prompt."""
    if node.answer is not None:
        return node.answer
    reply = await ctx.generate(prompts.finish(problem, node.steps), label="final answer",
                               max_tokens=max_tokens, temperature=0.0)
    return extract_answer(reply)


def finish_reserve(ctx: Context, problem: str, node: Node, prompts: SearchPrompts, max_tokens: int,
                   steps_to_come: int = 0, step_tokens: int = 0) -> Cost:
    """The worst case of the final call, set aside while searching: from `node`, or from a state
    `steps_to_come` steps (of at most `step_tokens` each) deeper when the search may go on."""
    if node.answer is not None and steps_to_come == 0:
        return Cost()
    prompt = ctx.model.count_tokens(prompts.finish(problem, node.steps)) + steps_to_come * step_tokens
    return call_cost(ctx, prompt, max_tokens)
