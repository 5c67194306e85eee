"""debate: multi-agent debate (Du et al., 2023) sized by the budget.

n agents answer independently; in each later round every agent sees its own last solution and the
others' and revises. It stops when all agents agree, after `rounds` rounds, or when the next round
is not expected to fit the remaining budget (estimated from the next round's actual prompts and
the last round's output). The final answer is the majority of the agents' latest answers, ties
going to the answer with more votes over all rounds.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from reasoning.answers import answer_key, extract_answer
from reasoning.budget import Cost
from reasoning.context import Context, Reply
from reasoning.model_protocol import Message
from reasoning.strategies.base import StrategyBase, knob, register
from reasoning.strategies.support.prompts import debate_round, step_by_step
from reasoning.strategies.support.sizing import even_share, is_capped, next_round
from reasoning.strategies.support.voting import Tally


@dataclass
class _Agent:
    name: str
    response: str | None = None  # latest full solution
    answer: str | None = None  # latest extracted answer


@register
@dataclass
class Debate(StrategyBase):
    name = "debate"
    title = "Multi-agent debate"
    summary = (
        "Several agents solve the problem, then read each other's solutions and revise over rounds; "
        "the majority of the final answers wins. Rounds are limited by the budget."
    )

    agents: int = knob(3, "number of debating agents", min=2, max=8)
    rounds: int = knob(3, "most rounds, the independent first answers included", min=1, max=8)
    max_tokens: int = knob(1024, "longest answer per agent and round in tokens", min=16, max=65536)
    temperature: float = knob(0.7, "sampling temperature", min=0.0, max=2.0)

    async def solve(self, problem: str, ctx: Context) -> str | None:
        agents = [_Agent(string.ascii_uppercase[i]) for i in range(self.agents)]
        overall = Tally()  # every answer of every round, for breaking final ties
        last_round: tuple[Cost, int] | None = None  # what the last round cost, and its calls
        longest: int | None = None  # the longest untruncated answer of the last round
        for round_no in range(1, self.rounds + 1):
            prompts = self._prompts(problem, agents, round_no)
            if round_no > 1 and last_round is not None:
                verdict = self._fits(ctx, prompts, *last_round)
                if verdict:
                    ctx.note("stop", f"budget: round {round_no} needs {verdict}; stopping after round "
                             f"{round_no - 1}", reason="budget", rounds=round_no - 1)
                    break
            per_call = self._per_call_tokens(ctx, prompts, longest)
            before = ctx.spent
            replies = await ctx.gather(*(
                ctx.generate(messages, label=f"agent {agent.name} / round {round_no}",
                             max_tokens=per_call, temperature=self.temperature)
                for agent, messages in prompts
            ))
            last_round = ctx.spent.cost - before.cost, sum(r is not None for r in replies)
            longest = max((r.usage.output_tokens for r in replies if r is not None and not r.truncated),
                          default=None)
            self._revise(agents, prompts, replies, overall)
            leader = self._verdict(agents, overall)
            current = Tally()
            for agent in agents:
                if agent.answer is not None:
                    current.add(agent.answer)
            ctx.partial(leader, current.share)
            ctx.note("round", f"round {round_no}: " + ", ".join(f"{a.name}={a.answer}" for a in agents)
                     + f" · votes: {current.describe()}", round=round_no,
                     answers={a.name: a.answer for a in agents}, groups=current.groups(), votes=current.table(),
                     leader=leader)
            keys = {answer_key(a.answer) for a in agents if a.response is not None}
            if len(keys) == 1 and None not in keys:
                ctx.note("stop", f"consensus after round {round_no}", reason="consensus", rounds=round_no)
                break
            if any(r is None for r in replies):
                ctx.note("stop", f"budget: only part of round {round_no} fit", reason="budget", rounds=round_no)
                break
        else:
            ctx.note("stop", f"{self.rounds} rounds done", reason="rounds", rounds=self.rounds)
        return self._verdict(agents, overall)

    def _prompts(self, problem: str, agents: list[_Agent], round_no: int) -> list[tuple[_Agent, list[Message]]]:
        if round_no == 1:
            return [(agent, step_by_step(problem)) for agent in agents]
        speaking = [a for a in agents if a.response is not None]
        return [
            (agent, debate_round(problem, agent.response or "",
                                 [(o.name, o.response or "") for o in speaking if o is not agent]))
            for agent in speaking
        ]

    @staticmethod
    def _revise(agents: list[_Agent], prompts: list[tuple[_Agent, list[Message]]],
                replies: list[Reply | None], overall: Tally) -> None:
        for (agent, _), reply in zip(prompts, replies, strict=True):
            if reply is None:  # refused for budget: the agent keeps its last word
                continue
            agent.response = str(reply)
            agent.answer = extract_answer(reply)
            overall.add(agent.answer)

    @staticmethod
    def _verdict(agents: list[_Agent], overall: Tally) -> str | None:
        latest = Tally()
        for agent in agents:
            latest.add(agent.answer)
        ranked = latest.ranked()
        if not ranked:
            return None
        top = ranked[0][1]
        tied = {answer_key(a) for a, votes in ranked if votes == top}
        for answer, _ in overall.ranked():  # more votes over all rounds breaks a tie
            if answer_key(answer) in tied:
                return next(a for a, _ in ranked if answer_key(a) == answer_key(answer))
        return ranked[0][0]

    def _per_call_tokens(self, ctx: Context, prompts: list[tuple[_Agent, list[Message]]],
                         longest: int | None) -> int:
        """Under a cap, an even share of what is left, so every agent of the round gets its turn
        (Context reserves each parallel call's worst case); never more than twice the longest
        answer so far."""
        per_call = self.max_tokens
        if not is_capped(ctx):
            return per_call
        if longest is not None:
            per_call = min(per_call, max(64, 2 * longest))
        share = even_share(ctx, [ctx.model.count_tokens(m) for _, m in prompts])
        return per_call if share is None else min(per_call, share)

    def _fits(self, ctx: Context, prompts: list[tuple[_Agent, list[Message]]], last: Cost,
              last_calls: int) -> str | None:
        """None if the next round should fit the remaining budget, else what it would need."""
        if not prompts:
            return "agents with an answer"
        # The new prompts carry the others' solutions: counted, not assumed as long as the last.
        need = next_round(last, last_calls, [ctx.model.count_tokens(m) for _, m in prompts])
        left = ctx.remaining()
        cap = need.exceeds(left)
        if cap is None:
            return None
        have = getattr(left, cap)
        text = {"total_tokens": f"~{need.total_tokens:,} tokens", "output_tokens": f"~{need.output_tokens:,} output tokens",
                "usd": f"~${need.usd:.4f}", "seconds": f"~{need.seconds:.1f} s"}[cap]
        return f"{text}, {have:,.4g} left" if isinstance(have, float) else f"{text}, {have:,} left"
