"""value_tree: budget-aware value tree search: V(n) backed up, the budget shared by value.

- Each expansion proposes `branching` next steps from a state and rates each new state with a
  self-evaluation prompt: R(n) in [0, 1].
- V(n) = R(n) + gamma * max_{c in children(n)} V(c), backed up after every expansion.
- The budget left at a node is shared among its children in proportion to their values:
  B(n_i) = B_remaining * V(n_i) / sum_j V(n_j)  (values floored at 1e-8, shares truncated to tokens).
  At the root B_remaining is what the run has left (less a reserve for the final answer), in tokens
  at the measured mix of an expansion; below it, a child's allocation less what its own expansion cost.
- A child whose allocation cannot buy an expansion (the dearest one measured so far) is not expanded;
  nor is a state that already states an answer, nor one at the depth limit. Uncapped: every state
  is expanded down to the depth limit. Subtrees grow one at a time, the most valuable first.
- Knob `reallocate` (off by default: the formula's single pass): an unfundable child's share goes
  back to its siblings, the formula taken over the children that can be funded.
- The answer comes from the best path: argmax V from the root down to a leaf.

Every expansion emits a Note with the children (R, V, allocations); the last Note carries the whole
tree as {"nodes": [...]} so the UI can draw it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reasoning.budget import Cost
from reasoning.context import Context
from reasoning.strategies.base import StrategyBase, knob, register
from reasoning.strategies.support.prompts import finish_from_steps, propose_step, rate_state
from reasoning.strategies.support.search import (
    Node,
    SearchCalls,
    SearchPrompts,
    allocate,
    allocate_funded,
    backup,
    best_path,
    expand,
    finish,
    finish_reserve,
    tree_data,
    walk,
)
from reasoning.strategies.support.sizing import token_equivalent

PROMPTS = SearchPrompts(propose=propose_step, evaluate=rate_state, finish=finish_from_steps)
SCORE_TOKENS = 8


@register
@dataclass
class ValueTree(StrategyBase):
    name = "value_tree"
    title = "Budget-aware value tree"
    summary = ("Value tree search: V(n) = R(n) + γ·max V(children); the budget left is shared among "
               "children in proportion to V; the answer follows argmax V.")

    depth: int = knob(3, "depth limit: most steps from the problem", min=1, max=6)
    gamma: float = knob(0.9, "discount γ on the best child's value (depth against breadth)", min=0.0, max=1.0)
    branching: int = knob(3, "children proposed per expansion", min=1, max=6)
    step_tokens: int = knob(160, "longest step in tokens", min=16, max=2048)
    finish_tokens: int = knob(128, "longest final completion from the best leaf", min=16, max=4096)
    temperature: float = knob(0.8, "sampling temperature of proposals (they differ only by sampling)",
                              min=0.0, max=2.0)
    reallocate: bool = knob(False, "share an unfundable child's allocation among its siblings (the formula "
                            "over the children that can be funded); off: one pass of the formula")

    async def solve(self, problem: str, ctx: Context) -> str | None:
        search = _Search(self, ctx, problem)
        await search.grow(search.root, None)
        backup(search.root, self.gamma)
        path = best_path(search.root)
        leaf = path[-1]
        answer = await finish(ctx, problem, leaf, PROMPTS, self.finish_tokens)
        ctx.note(
            "tree",
            f"best path {' > '.join(n.id for n in path[1:]) or 'root'} (V = "
            f"{path[1].value if len(path) > 1 else 0:.3f}) answers {answer!r}",
            nodes=tree_data(search.root), best_path=[n.id or "root" for n in path], gamma=self.gamma,
        )
        ctx.partial(answer, leaf.reward)
        return answer


@dataclass
class _Search:
    """The state of one run (a strategy object may serve several runs at once)."""

    knobs: ValueTree
    ctx: Context
    problem: str
    root: Node = field(default_factory=lambda: Node("", 0))
    unit: Cost = field(default_factory=Cost)  # the dearest expansion so far, cap by cap
    reported: str | None = None

    async def grow(self, node: Node, allocation: int | None) -> None:
        k, ctx = self.knobs, self.ctx
        cost = await expand(ctx, self.problem, node, k.branching, PROMPTS,
                            SearchCalls(k.step_tokens, SCORE_TOKENS, k.temperature))
        self.unit = self.unit.max(cost)
        backup(self.root, k.gamma)
        self._report()
        if node is self.root:
            best = max(node.children, key=lambda c: c.value, default=node)
            # The final call may come from a leaf up to depth - 1 steps further, of the measured length.
            reserve = finish_reserve(ctx, self.problem, best, PROMPTS, k.finish_tokens, steps_to_come=k.depth - 1,
                                     step_tokens=int(cost.output_tokens / max(1, len(node.children))))
            budget = token_equivalent(ctx.remaining(), self.unit, reserve)
        else:
            budget = None if allocation is None else max(0, allocation - int(cost.total_tokens))
        children = node.children
        values = [c.value for c in children]
        shares: list[int | None]
        if budget is None:
            shares = [None] * len(children)
        elif k.reallocate:
            shares = list[int | None](allocate_funded(budget, values, self.unit.total_tokens))
        else:
            shares = list[int | None](allocate(budget, values))
        to_grow = []
        for child, share in zip(children, shares, strict=True):
            child.allocated = share
            if child.depth < k.depth and not child.terminal and (share is None or share >= self.unit.total_tokens):
                to_grow.append((child, share))
        ctx.note(
            f"expand {node.id or 'root'}",
            f"{node.id or 'root'}: " + "; ".join(
                f"{c.id} R={c.reward:.2f} gets {'all' if s is None else s}" for c, s in zip(children, shares, strict=True)
            ) + f"; expanding {', '.join(c.id for c, _ in to_grow) or 'none'}",
            node=node.id or "root", depth=node.depth, remaining=budget,
            expansion_tokens=int(self.unit.total_tokens), cost_tokens=int(cost.total_tokens),
            children=[c.as_data() for c in children], expanding=[c.id for c, _ in to_grow],
            # For the run page's tree, growing live: every V after this backup, the path argmax V
            # follows now, and the depth limit (a child at it is not expanded, whatever its share).
            values={n.id or "root": round(n.value, 6) for n in walk(self.root)},
            best_path=[n.id or "root" for n in best_path(self.root)], depth_limit=k.depth,
        )
        # One subtree at a time, the most valuable first: subtrees in parallel would each reserve
        # their calls' worst case at once and starve one another long before their shares are spent.
        for child, share in sorted(to_grow, key=lambda item: item[0].value, reverse=True):
            await self.grow(child, share)

    def _report(self) -> None:
        """Partial answer: the best path's, else the highest-valued state that states one."""
        leaf = best_path(self.root)[-1]
        if not leaf.terminal:
            leaf = max((n for n in walk(self.root) if n.terminal), key=lambda n: n.value, default=leaf)
        if leaf.answer is not None and leaf.answer != self.reported:
            self.reported = leaf.answer
            self.ctx.partial(leaf.answer, leaf.reward)

