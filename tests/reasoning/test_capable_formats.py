"""A capable model's ways of writing, through every strategy's parsers.

Strong models rarely write the bare `Answer: 42` the prompts ask for: they write `**Answer:** 42`,
`$\\boxed{42}$`, "The answer is $42.", units, trailing periods, `\\frac{3}{4}`, "(B)", a markdown
heading over the answer, or the working itself ("6 × 7 = 42 trees"); they rate as "Score: 8/10",
"8" or "0.8", and state budgets as "<budget>300</budget>" or "about 300 tokens". The scripted model
below answers every prompt a strategy sends in one such style and is always right on its right
path. Every strategy, at a budget that lets it finish, must end with an answer that
reasoning.answers judges correct.

The tree searches also see a wrong first proposal, rated low in the same style: a rating misread
(e.g. "0.8" clamped to the bottom of a 1-10 scale, or "Step 1 is wrong. Score: 2/10" read as 1)
ties or inverts the right and wrong states and the search ends on the wrong answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from reasoning.answers import is_equivalent
from reasoning.budget import Budget
from reasoning.events import Event, FinalAnswer, Note
from reasoning.model_protocol import Capabilities, Message
from reasoning.models.fake import FakeModel
from reasoning.run import run
from reasoning.strategies import make_strategy, strategy_names
from reasoning.strategies.budget_forcing import WAIT
from reasoning.strategies.support.prompts import FINAL_ANSWER_CUE, FORCE_ANSWER_CUE, THINK_END, THINK_START

# ---- what the model is asked about ----------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    text: str
    reference: str
    right: str  # the right value as the model writes it
    wrong: str  # the value a wrong path reaches
    right_step: str  # the step that solves it
    wrong_step: str  # a plausible wrong step
    right_work: str  # the arithmetic of the right step, for answers written as working
    wrong_work: str


TREES = Problem("A farmer plants 6 rows of 7 trees. How many trees does he plant?", "42", "42", "13",
                "Each of the 6 rows has 7 trees, so multiply: 6 × 7 = 42.",
                "Add the rows and the trees: 6 + 7 = 13.", "6 × 7", "6 + 7")
MONEY = Problem("Each of 6 boxes costs $7. How many dollars do the boxes cost together?", "42", "42", "13",
                "6 boxes at $7 each cost 6 × $7 = $42.", "Add the prices: $6 + $7 = $13.", "6 × $7", "$6 + $7")
PIZZA = Problem("A pizza is cut into 4 equal slices and 3 slices are eaten. What fraction of the pizza is eaten?",
                "3/4", "\\frac{3}{4}", "\\frac{1}{4}", "3 of the 4 equal slices are eaten, so 3 / 4 of it.",
                "1 of the 4 slices is left, so 1 / 4 of it.", "3 / 4", "1 / 4")
CHOICE = Problem("What is 6 × 7?\n(A) 13\n(B) 42\n(C) 48", "B", "B", "A", "6 × 7 = 42, which is option (B).",
                 "6 + 7 = 13, which is option (A).", "6 × 7", "6 + 7")


@dataclass(frozen=True)
class Format:
    """How the model writes an answer: `final` ends a solution, `forced` follows an answer cue.
    `{v}` is the value, `{w}` the working that reaches it."""

    name: str
    problem: Problem
    final: str
    forced: str


FORMATS = [
    Format("bold_label", TREES, "**Answer:** {v}", " **{v}**"),
    Format("boxed", TREES, "So the farmer plants $\\boxed{{v}}$ trees.", " $\\boxed{{v}}$"),
    Format("answer_is_dollars", MONEY, "The answer is ${v}.", " ${v}."),
    Format("units", TREES, "**Answer:** {v} trees", " {v} trees."),
    Format("trailing_period", TREES, "Answer: {v}.", " {v}."),
    Format("latex_fraction", PIZZA, "**Answer:** ${v}$", " ${v}$"),
    Format("choice_letter", CHOICE, "The answer is ({v}).", " ({v})"),
    Format("heading_over_answer", TREES, "Checking: the rows and trees give {v} in all.\n\n### Final answer\n{v} trees",
           "\n\n{v}"),
    Format("minerva", TREES, "Final Answer: The final answer is ${v}$. I hope it is correct.",
           " The final answer is ${v}$."),
    Format("working", TREES, "Answer: {w} = {v} trees", " {w} = {v} trees."),
    Format("gsm8k", TREES, "#### {v}", " {v}"),
]

# Ratings: (right state, wrong state). The reasoned form leads with another number.
RATINGS = {
    "score_of_10": ("Score: 9/10", "Score: 2/10"),
    "bare": ("9", "2"),
    "unit_interval": ("0.9", "0.2"),
    "reasoned": ("Step 1 is right. Score: 9/10", "Step 1 is wrong. Score: 2/10"),
}
BUDGETS = {
    "tagged": "<budget>300</budget>",
    "about": "about 300 tokens",
    "sentence": "I estimate this needs about 300 tokens, step 1 included.",
}
READS_RATINGS = {"tree_of_thoughts", "value_tree", "anytime"}
READS_BUDGETS = {"token_budget", "self_budgeter"}
# Filler before the step: numbers from the problem, so the last-number fallback is tempted.
# Long enough (over 64 tokens) that anytime's first checkpoint cuts the reasoning and forces an answer.
PREAMBLE = ("Let me restate the problem carefully before solving it. The question gives some numbers, "
            "for example 6 and 7 or 3 and 4, and asks for one result. I will reason one step at a time, "
            "check each step against the question, make sure that no number is used twice or left out, "
            "and only then state the result, in the form that was asked for, at the very end of the "
            "solution. First, the quantities and what is asked. ")


def fill(template: str, value: str, work: str) -> str:
    return template.replace("{v}", value).replace("{w}", work)


@dataclass
class CapableScript:
    """Replies to every prompt the strategies send, in one format, rating and budget style."""

    fmt: Format
    rating: str = "score_of_10"
    budget: str = "tagged"

    @property
    def p(self) -> Problem:
        return self.fmt.problem

    def final(self, right: bool = True) -> str:
        p = self.p
        return fill(self.fmt.final, p.right if right else p.wrong, p.right_work if right else p.wrong_work)

    def forced(self) -> str:
        return fill(self.fmt.forced, self.p.right, self.p.right_work)

    def solution(self) -> str:
        return f"{PREAMBLE}\n{self.p.right_step}\n\n{self.final()}"

    def thinking(self) -> str:
        return f"{PREAMBLE}{self.p.right_step}\n"

    def __call__(self, messages: Sequence[Message], index: int) -> str:
        last = messages[-1]
        text = last["content"]
        low = text.lower()
        if last["role"] == "assistant":
            return self._continue(text)
        if "reply with only <budget>" in low or "estimate the number of tokens" in low:
            return BUDGETS[self.budget]
        if "scale of 1 to 10" in low:
            return self._rate(text)
        if "write only the next step" in low:
            return self._propose(text, index)
        if "complete the solution briefly" in low:
            return f"{self.p.right_step}\n\n{self.final(right=self.p.wrong_step not in text)}"
        if "give only the final answer" in low or "reply with only a line" in low:
            return self.final()
        return self.solution()

    def _continue(self, given: str) -> str:
        if given.rstrip().endswith((FINAL_ANSWER_CUE, FORCE_ANSWER_CUE.strip())):
            return self.forced()
        if given.startswith(THINK_START):  # budget forcing: thinking continued inside <think>
            thought = given[len(THINK_START):].lstrip("\n")
            if thought.rstrip().endswith(WAIT):
                return f", let me double-check. {self.p.right_step}\n{THINK_END}\n\n{self.final()}"
            whole = f"{self.thinking()}{THINK_END}\n\n{self.final()}"
        else:  # anytime: the reasoning continued where it was cut
            thought, whole = given, self.solution()
        return whole[len(thought):] if whole.startswith(thought) else f"\n{self.final()}"

    def _rate(self, prompt: str) -> str:
        right, wrong = RATINGS[self.rating]
        proposed = re.search(r"Proposed answer: (.*)", prompt)
        if proposed:  # anytime rates an answer
            return right if is_equivalent(proposed.group(1), self.p.reference) else wrong
        return wrong if self.p.wrong_step in prompt else right

    def _propose(self, prompt: str, index: int) -> str:
        if "(no steps yet)" in prompt:
            return self.p.wrong_step if index % 2 == 0 else self.p.right_step  # the wrong one first
        return self.final(right=self.p.wrong_step not in prompt)


# ---- the cases --------------------------------------------------------------------------------------


def capable_model(script: CapableScript, *, continues: bool = True) -> FakeModel:
    """Declares thinking-budget support, so native_thinking runs too; `continues=False` is a chat
    model (anytime then asks for the answer in a new message; budget_forcing declines it)."""
    caps = Capabilities(continues_assistant=continues, thinking_budget=continues, shows_thinking=continues)
    return FakeModel(replies=script, capabilities=caps)


def cases() -> list:
    out = []
    for strategy in strategy_names():
        for fmt in FORMATS:
            ratings = list(RATINGS) if strategy in READS_RATINGS else ["score_of_10"]
            budgets = list(BUDGETS) if strategy in READS_BUDGETS else ["tagged"]
            for rating in ratings:
                for budget in budgets:
                    styles = [s for s, used in ((rating, strategy in READS_RATINGS),
                                                (budget, strategy in READS_BUDGETS)) if used]
                    out.append(pytest.param(strategy, fmt, rating, budget,
                                            id="-".join([strategy, fmt.name, *styles])))
    return out


ROOMY = Budget(total_tokens=200_000)  # lets every strategy finish with its default knobs


async def solve(strategy: str, model: FakeModel, problem: str, budget: Budget = ROOMY,
                **knobs: object) -> list[Event]:
    return [e async for e in run(make_strategy(strategy, **knobs), problem, model, budget)]


def final_of(events: list[Event]) -> FinalAnswer:
    finals = [e for e in events if isinstance(e, FinalAnswer)]
    assert len(finals) == 1 and events[-1] is finals[0]
    return finals[0]


@pytest.mark.parametrize(("strategy", "fmt", "rating", "budget"), cases())
async def test_every_strategy_reads_a_capable_model_right(strategy: str, fmt: Format, rating: str,
                                                          budget: str) -> None:
    script = CapableScript(fmt, rating, budget)
    model = capable_model(script)
    events = await solve(strategy, model, fmt.problem.text)
    final = final_of(events)
    assert final.stop == "done" and final.error is None, final
    assert is_equivalent(final.answer, fmt.problem.reference), (
        f"{strategy} read {final.answer!r} from a model that answered {fmt.problem.reference!r} as "
        f"{script.final()!r}"
    )
    check_side_replies_read(strategy, events, fmt.problem)


RIGHT_SCORE, WRONG_SCORE = 8 / 9, 1 / 9  # 9 and 2 on the 1-10 scale, however they were written


def check_side_replies_read(strategy: str, events: list[Event], problem: Problem) -> None:
    """The ratings and budgets were read as the model meant them, not merely survived."""
    notes = [e for e in events if isinstance(e, Note)]
    if strategy in READS_BUDGETS:
        stated = next(n for n in notes if n.label == "budget")
        assert stated.data["predicted"] == 300, stated
    if strategy == "anytime":
        scores = [n.data["score"] for n in notes if n.label.startswith("checkpoint ")]
        assert scores and all(s == pytest.approx(RIGHT_SCORE) for s in scores), scores
    if strategy in ("tree_of_thoughts", "value_tree"):
        nodes = next(n for n in notes if n.label == "tree").data["nodes"]
        rated = {node["step"]: node["R"] for node in nodes if node["step"] in (problem.right_step, problem.wrong_step)}
        assert rated == {problem.right_step: pytest.approx(RIGHT_SCORE, abs=1e-6),
                         problem.wrong_step: pytest.approx(WRONG_SCORE, abs=1e-6)}, rated


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
async def test_anytime_on_a_chat_model_reads_the_answer_it_asks_for(fmt: Format) -> None:
    """Without continuation anytime regenerates the reasoning and asks for the answer in a new
    message (answer_from_reasoning): the first checkpoint cuts the reasoning, so it is asked."""
    model = capable_model(CapableScript(fmt, "unit_interval"), continues=False)
    events = await solve("anytime", model, fmt.problem.text)
    assert any("what is the final answer" in c["messages"][-1]["content"].lower() for c in model.calls)
    assert is_equivalent(final_of(events).answer, fmt.problem.reference)


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
async def test_forced_answers_are_read_as_the_value(fmt: Format) -> None:
    """Anytime's first checkpoint and budget forcing's capped thinking end on an answer cue; the
    continuation (" **42**", " 6 × 7 = 42 trees.") is read as the value."""
    for strategy, knobs in (("anytime", {}), ("budget_forcing", {"max_thinking_tokens": 40})):
        model = capable_model(CapableScript(fmt))
        events = await solve(strategy, model, fmt.problem.text, **knobs)
        cued = [c for c in model.calls if c["messages"][-1]["role"] == "assistant"
                and c["messages"][-1]["content"].rstrip().endswith((FINAL_ANSWER_CUE, FORCE_ANSWER_CUE.strip()))]
        assert cued, f"{strategy} never forced an answer"
        answers = [n.data.get("answer") for n in events if isinstance(n, Note) and "answer" in n.data]
        assert all(a is None or is_equivalent(a, fmt.problem.reference) for a in answers), answers
        assert is_equivalent(final_of(events).answer, fmt.problem.reference), (strategy, final_of(events))
