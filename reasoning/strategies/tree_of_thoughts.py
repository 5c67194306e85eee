"""tree_of_thoughts: breadth-first beam search over reasoning steps (Yao et al., 2023).

At each depth every kept state gets k proposed next steps ("node 1.2"), each new state is rated
1-10 by a value prompt (mapped onto [0, 1]), and the best `beam` states are kept. How many states
are expanded and how many proposals each gets is sized, level by level, from what the remaining
budget can still buy at the cost per node measured so far (before the first level: as many
full-length proposals as fit, or two shortened ones), always keeping the final call's worst case
aside; uncapped, the knob maxima. The answer is the highest-rated state's own (or the one it gives
when asked to finish).
"""

from __future__ import annotations

from dataclasses import dataclass

from reasoning.budget import Cost
from reasoning.context import MIN_USEFUL_TOKENS, Context
from reasoning.strategies.base import StrategyBase, knob, register
from reasoning.strategies.support.prompts import finish_from_steps, propose_step, rate_state
from reasoning.strategies.support.search import (
    Node,
    SearchCalls,
    SearchPrompts,
    beam_plan,
    expand,
    finish,
    finish_reserve,
    tree_data,
)
from reasoning.strategies.support.sizing import call_cost, how_many, largest_affordable

PROMPTS = SearchPrompts(propose=propose_step, evaluate=rate_state, finish=finish_from_steps)
SCORE_TOKENS = 8


def best_state(states: list[Node]) -> Node | None:
    """The highest-rated state; among equals the deeper one (it is further along)."""
    return max(states, key=lambda n: (n.reward, n.depth), default=None)


@register
@dataclass
class TreeOfThoughts(StrategyBase):
    name = "tree_of_thoughts"
    title = "Tree of Thoughts"
    summary = ("Beam search over reasoning steps: propose next steps, rate each state 1-10, keep the "
               "best; width and depth sized from the budget.")

    breadth: int = knob(3, "most next steps proposed per kept state", min=1, max=8)
    beam: int = knob(2, "most states kept (and expanded) per depth", min=1, max=8)
    max_depth: int = knob(4, "most steps from the problem", min=1, max=10)
    step_tokens: int = knob(160, "longest step in tokens", min=16, max=2048)
    finish_tokens: int = knob(128, "longest final completion from the best state", min=16, max=4096)
    temperature: float = knob(0.8, "sampling temperature of proposals (they differ only by sampling)",
                              min=0.0, max=2.0)

    async def solve(self, problem: str, ctx: Context) -> str | None:
        root = Node("", 0)
        frontier = [root]
        scored: list[Node] = []
        unit: Cost | None = None  # a node's measured cost, once there is one
        reported: str | None = None
        for depth in range(1, self.max_depth + 1):
            open_states = [s for s in frontier if not s.terminal]
            best = best_state(scored) or root
            reserve = finish_reserve(ctx, problem, best, PROMPTS, self.finish_tokens)
            if unit is None:
                affordable = None
                states, breadth, step = 1, *self._first_level(ctx, problem, reserve)
            else:
                affordable = how_many(ctx.remaining(), unit, reserve)
                states, breadth = beam_plan(affordable, self.max_depth - depth + 1, len(open_states),
                                            self.breadth, self.beam)
                step = self.step_tokens
            if states == 0 or breadth == 0:
                if open_states:
                    ctx.note("stop", f"depth {depth}: the budget left cannot pay for another node")
                break
            chosen = open_states[:states]
            level_calls = SearchCalls(step, SCORE_TOKENS, self.temperature)
            costs = await ctx.gather(*(expand(ctx, problem, s, breadth, PROMPTS, level_calls) for s in chosen))
            children = [c for s in chosen for c in s.children]
            if children:
                spent = sum((c for c in costs if c is not None), Cost())
                unit = spent * (1 / len(children))
            scored += children
            frontier = sorted(children, key=lambda n: n.reward, reverse=True)[: self.beam]
            reported = self._report(ctx, scored, reported)
            ctx.note(
                f"depth {depth}",
                f"expanded {len(chosen)} state(s) x {breadth} proposal(s); kept "
                + ", ".join(f"{n.id} ({n.reward:.2f})" for n in frontier),
                depth=depth, expanded=[s.id or "root" for s in chosen], breadth=breadth,
                affordable_nodes=None if affordable is None else round(affordable, 2),
                scores={n.id: round(n.reward, 4) for n in children}, kept=[n.id for n in frontier],
                # For the run page's tree: each proposal's token allotment at this level, the states
                # that state an answer, and the best-rated state so far (what finish() would use).
                step_tokens=step, answers={n.id: n.answer for n in children if n.answer is not None},
                best=(best_state(scored) or root).id or "root",
            )
            if not any(not s.terminal for s in frontier):
                break
        best = best_state(scored) or root
        answer = await finish(ctx, problem, best, PROMPTS, self.finish_tokens)
        ctx.note("tree", f"best state {best.id or 'root'} (rated {best.reward:.2f}) answers {answer!r}",
                 nodes=tree_data(root), best=best.id or "root")
        ctx.partial(answer, best.reward)
        return answer

    def _first_level(self, ctx: Context, problem: str, reserve: Cost) -> tuple[int, int]:
        """(proposals, step tokens) for the problem itself, before any node is measured: as many
        full-length proposals as fit beside the final call's reserve; when not even two do, two
        (else one) with their steps shortened to fit. (0, 0) when not one useful step fits."""
        propose = ctx.model.count_tokens(PROMPTS.propose(problem, ()))
        rate = ctx.model.count_tokens(PROMPTS.evaluate(problem, ()))
        remaining = ctx.remaining()

        def nodes(n: int, step: int) -> Cost:
            return (call_cost(ctx, propose, step) + call_cost(ctx, rate + step, SCORE_TOKENS)) * n

        full = how_many(remaining, nodes(1, self.step_tokens), reserve)
        if full is None or full >= min(2, self.breadth):
            return (self.breadth if full is None else min(self.breadth, int(full))), self.step_tokens
        for n in range(min(2, self.breadth), 0, -1):
            step = largest_affordable(remaining, self.step_tokens, lambda s, n=n: nodes(n, s), reserve)
            if step >= MIN_USEFUL_TOKENS:
                return n, step
        return 0, 0

    @staticmethod
    def _report(ctx: Context, scored: list[Node], reported: str | None) -> str | None:
        """Partial answer: the best-rated state that states an answer."""
        answered = best_state([n for n in scored if n.terminal])
        if answered is not None and answered.answer != reported:
            ctx.partial(answered.answer, answered.reward)
            return answered.answer
        return reported
