"""anytime (index, quality, the ε early stop), budget forcing (s1) and native thinking."""

from __future__ import annotations

import math

import pytest

from reasoning.budget import Budget
from reasoning.context import Reply
from reasoning.events import FinalAnswer, Note, PartialAnswer, ThinkingDelta
from reasoning.model_protocol import Capabilities, Usage
from reasoning.models.fake import FakeModel
from reasoning.run import run
from reasoning.strategies import make_strategy
from reasoning.strategies.anytime import anytime_index, checkpoint_quality, improvement, should_stop
from reasoning.strategies.budget_forcing import split_thinking
from reasoning.strategies.native_thinking import thinking_budget_for
from reasoning.strategies.support.prompts import FINAL_ANSWER_CUE, FORCE_ANSWER_CUE, THINK_END

PROBLEM = "What is 3 + 4?"


UNCAPPED = Budget()


async def collect(name: str, model: FakeModel, budget: Budget = UNCAPPED, **knobs):
    events = [e async for e in run(make_strategy(name, **knobs), PROBLEM, model, budget)]
    final = events[-1]
    assert isinstance(final, FinalAnswer)
    return events, final


def notes(events, prefix: str) -> list[Note]:
    return [e for e in events if isinstance(e, Note) and e.label.startswith(prefix)]


def q(score: int, agree: bool) -> float:
    return 0.5 * agree + 0.5 * (score - 1) / 9


# ---- the anytime index and the stop rule --------------------------------------------------------


def test_anytime_index_is_the_mean_marginal_gain_per_token():
    points = [(0, 0.0), (64, 0.3), (128, 0.8), (256, 0.8)]
    # increments: 0.3/64, 0.5/64, 0/128 -> mean over |B| = 3
    expected = (0.3 / 64 + 0.5 / 64 + 0.0 / 128) / 3
    assert anytime_index(points) == pytest.approx(expected)
    assert anytime_index(list(reversed(points))) == pytest.approx(expected)  # order does not matter
    assert anytime_index([(100, 0.2), (300, 0.6)]) == pytest.approx(0.4 / 200)
    assert anytime_index([(100, 0.9), (200, 0.5)]) == pytest.approx(-0.4 / 100)  # a loss counts
    assert math.isnan(anytime_index([(64, 0.5)])) and math.isnan(anytime_index([]))  # no increment: undefined
    assert anytime_index([(64, 0.1), (128, 0.5), (64, 0.3)]) == pytest.approx(0.2 / 64)  # the last Q at 64


def test_early_stop_rule_guards_a_zero_quality_like_the_seed():
    assert improvement(0.0, 0.3) == pytest.approx(0.3 / 1e-8)
    assert not should_stop(0.0, 0.3, 0.01)  # no quality yet: never stop
    assert not should_stop(0.0, 0.0, 0.01)
    assert not should_stop(0.3, 0.8, 0.01)
    assert should_stop(0.8, 0.8, 0.01)
    assert should_stop(0.8, 0.805, 0.01)  # +0.625% < 1%
    assert not should_stop(0.8, 0.81, 0.01)  # +1.25%
    assert should_stop(0.8, 0.4, 0.01)  # a drop stops too


def test_checkpoint_quality_combines_agreement_and_self_rating():
    assert checkpoint_quality(None, "7", 1.0) == 0.0
    assert checkpoint_quality("7", None, 0.5) == 0.25
    assert checkpoint_quality("7", "7.0", 0.5) == 0.75  # agreement by answers.is_equivalent
    assert checkpoint_quality("7", "8", 1.0) == 0.5
    assert checkpoint_quality("7", "7", None) == 0.5  # an unparsable rating counts as 0


class ScriptedAnytime:
    """Reasoning that never ends by itself; the forced answer and the rating at checkpoint i come from
    the scripts."""

    def __init__(self, answers: list[str], scores: list[int]):
        self.answers, self.scores = answers, scores
        self.answered = self.rated = 0

    def __call__(self, messages, index: int) -> str:
        last = messages[-1]["content"]
        if last.endswith(FORCE_ANSWER_CUE) or "what is the final answer?" in last:
            self.answered += 1
            return f" {self.answers[self.answered - 1]}."
        if "how likely is the proposed answer" in last:
            self.rated += 1
            return str(self.scores[self.rated - 1])
        return "think " * 5000


def reasoning_calls(model: FakeModel) -> list[dict]:
    """The calls that grow the reasoning (not the forced answers, not the ratings)."""
    def grows(content: str) -> bool:
        return not content.endswith(FORCE_ANSWER_CUE) and not any(
            marker in content for marker in ("Reasoning so far", "Here is some reasoning"))
    return [c for c in model.calls if grows(c["messages"][-1]["content"])]


async def test_anytime_stops_by_the_epsilon_rule_at_the_first_flat_checkpoint():
    model = FakeModel(replies=ScriptedAnytime(["7", "7", "7", "9", "9"], [6, 6, 6, 9, 9]))
    events, final = await collect("anytime", model, first_checkpoint=64, max_checkpoint=4096, epsilon=0.01)
    checkpoints = notes(events, "checkpoint ")
    assert [n.data["budget"] for n in checkpoints] == [64, 128, 256]
    assert [n.data["quality"] for n in checkpoints] == pytest.approx([q(6, False), q(6, True), q(6, True)])
    assert final.stop == "done" and final.answer == "7"
    (summary,) = notes(events, "anytime index")
    assert "ε" in summary.data["stop"]
    assert summary.data["anytime_index"] == pytest.approx(anytime_index(
        [(0, 0.0), (64, q(6, False)), (128, q(6, True)), (256, q(6, True))]))
    partials = [e for e in events if isinstance(e, PartialAnswer)]
    assert len(partials) >= 3 and {p.answer for p in partials} == {"7"}


async def test_anytime_keeps_going_while_quality_rises_by_more_than_epsilon():
    model = FakeModel(replies=ScriptedAnytime(["7"] * 5, [6, 7, 8, 9, 10]))
    events, final = await collect("anytime", model, first_checkpoint=64, max_checkpoint=1024, epsilon=0.01)
    assert [n.data["budget"] for n in notes(events, "checkpoint ")] == [64, 128, 256, 512, 1024]
    assert "last checkpoint" in notes(events, "anytime index")[0].data["stop"]
    assert final.answer == "7"


async def test_anytime_keeps_the_answer_before_a_quality_drop_as_the_seed_does():
    model = FakeModel(replies=ScriptedAnytime(["3", "5"], [10, 6]))
    events, final = await collect("anytime", model, first_checkpoint=64)
    assert [n.data["budget"] for n in notes(events, "checkpoint ")] == [64, 128]
    assert final.answer == "3"


async def test_anytime_continues_its_reasoning_or_regenerates_it():
    cont = FakeModel(replies=ScriptedAnytime(["7"] * 3, [6, 7, 8]))
    await collect("anytime", cont, first_checkpoint=64, max_checkpoint=256, epsilon=0.01)
    calls = reasoning_calls(cont)
    assert [c["max_tokens"] for c in calls] == [64, 64, 128]  # only the new tokens
    assert calls[1]["messages"][-1]["role"] == "assistant"  # the reasoning so far, to be continued
    regen = FakeModel(replies=ScriptedAnytime(["7"] * 3, [6, 7, 8]), capabilities=Capabilities())
    await collect("anytime", regen, first_checkpoint=64, max_checkpoint=256, epsilon=0.01)
    calls = reasoning_calls(regen)
    assert [c["max_tokens"] for c in calls] == [64, 128, 256]
    assert all(c["messages"][-1]["role"] == "user" for c in calls)


async def test_anytime_fits_its_last_checkpoint_into_the_budget():
    model = FakeModel(replies=ScriptedAnytime(["7"] * 9, [2, 3, 4, 5, 6, 7, 8, 9, 10]))
    events, final = await collect("anytime", model, Budget(total_tokens=1500), first_checkpoint=64)
    budgets = [n.data["budget"] for n in notes(events, "checkpoint ")]
    assert final.stop == "done" and final.spent.total_tokens <= 1500 and final.answer == "7"
    assert budgets[:2] == [64, 128] and 128 < budgets[-1] < 256  # the third, shrunk to fit
    assert "cannot pay" in notes(events, "anytime index")[0].data["stop"]


async def test_anytime_answers_the_value_not_the_working():
    """Seen on the local model: the forced answer " 12 * 3 = 36 dollars." became the answer."""
    model = FakeModel(replies=ScriptedAnytime(["12 * 3 = 36 dollars"] * 2, [9, 9]))
    events, final = await collect("anytime", model, first_checkpoint=64, max_checkpoint=128)
    assert [n.data["answer"] for n in notes(events, "checkpoint ")] == ["36", "36"]
    assert final.answer == "36"


async def test_anytime_reads_ratings_written_as_capable_models_write_them():
    model = FakeModel(replies=ScriptedAnytime(["7"] * 2, ["Score: 8/10", "0.8"]))  # type: ignore[list-item]
    events, _ = await collect("anytime", model, first_checkpoint=64, max_checkpoint=128, epsilon=0.0)
    assert [n.data["score"] for n in notes(events, "checkpoint ")] == pytest.approx([7 / 9, 7 / 9])


# ---- budget forcing ---------------------------------------------------------------------------


def _reply(text: str, *, thinking: str = "", truncated: bool = False) -> Reply:
    return Reply(text, thinking=thinking, usage=Usage(10, 5), truncated=truncated)


def test_end_of_thinking_is_found_in_text_in_a_thinking_stream_or_by_stopping():
    assert split_thinking(_reply(f"so 7 {THINK_END} Final Answer: 7")) == ("so 7 ", True, " Final Answer: 7")
    assert split_thinking(_reply("so 7", thinking="hmm ")) == ("hmm ", True, "so 7")
    assert split_thinking(_reply("", thinking="hmm ", truncated=True)) == ("hmm ", False, "")
    assert split_thinking(_reply("still thinking", truncated=True)) == ("still thinking", False, "")
    assert split_thinking(_reply("done thinking")) == ("done thinking", True, "")


def thinker(thought: str):
    def reply(messages, index: int) -> str:
        last = messages[-1]
        if last["role"] == "assistant" and last["content"].endswith(FINAL_ANSWER_CUE):
            return " 42\n"
        return thought

    return reply


async def test_budget_forcing_appends_wait_when_thinking_ends_before_the_minimum():
    model = FakeModel(replies=thinker(f"Seven, surely. {THINK_END} Final Answer: 7"))
    events, final = await collect("budget_forcing", model, min_thinking_tokens=50, max_waits=2)
    thinking_prompts = [c["messages"][-1]["content"] for c in model.calls]
    assert len(thinking_prompts) == 3  # the first thinking, then two continuations after "Wait"
    assert thinking_prompts[0].count("Wait") == 0
    assert thinking_prompts[1].rstrip().endswith("Wait") and thinking_prompts[1].count("Wait") == 1
    assert thinking_prompts[2].rstrip().endswith("Wait") and thinking_prompts[2].count("Wait") == 2
    assert final.answer == "7"  # the model's own answer after its (third) end of thinking
    assert [n.data["waits"] for n in notes(events, "wait")] == [1, 2]
    assert notes(events, "thinking")[0].data["forced_end"] is False


async def test_budget_forcing_accepts_an_end_after_the_minimum():
    model = FakeModel(replies=thinker(f"{'hmm ' * 60}{THINK_END} Final Answer: 7"))
    _, final = await collect("budget_forcing", model, min_thinking_tokens=50)
    assert len(model.calls) == 1 and final.answer == "7"


async def test_budget_forcing_forces_the_end_of_thinking_at_the_cap():
    model = FakeModel(replies=thinker("step " * 1000))
    events, final = await collect("budget_forcing", model, max_thinking_tokens=100)
    think, answer = model.calls
    assert think["max_tokens"] == 100
    forced = answer["messages"][-1]["content"]
    assert forced.endswith(f"{THINK_END}\n\n{FINAL_ANSWER_CUE}") and forced.count("step") == 100
    assert final.answer == "42"
    summary = notes(events, "thinking")[0].data
    assert summary["forced_end"] is True and summary["thinking_tokens"] == 100


async def test_budget_forcing_reads_the_forced_answer_as_the_value():
    def reply(messages, index: int) -> str:
        content = messages[-1]["content"]
        return " 6 × 7 = 42 trees.\n\nEach row has 7." if content.endswith(FINAL_ANSWER_CUE) else "think " * 500

    events, final = await collect("budget_forcing", FakeModel(replies=reply), max_thinking_tokens=64)
    assert notes(events, "thinking")[0].data["forced_end"] is True
    assert final.answer == "42"


async def test_budget_forcing_lowers_the_cap_so_the_answer_still_fits():
    model = FakeModel(replies=thinker("step " * 1000))
    _, final = await collect("budget_forcing", model, Budget(total_tokens=400), max_thinking_tokens=2048)
    assert model.calls[0]["max_tokens"] < 2048
    assert final.stop == "done" and final.answer == "42" and final.spent.total_tokens <= 400


async def test_budget_forcing_refuses_a_model_that_cannot_continue():
    model = FakeModel(capabilities=Capabilities(thinking_budget=True))
    _, final = await collect("budget_forcing", model)
    assert final.stop == "error" and "continue" in final.error and not model.calls


# ---- native thinking --------------------------------------------------------------------------


def test_thinking_budget_respects_the_provider_floor_and_leaves_room_for_the_answer():
    assert thinking_budget_for(16000, 0.8) == 12800
    assert thinking_budget_for(1100, 0.8) == 1024  # raised to the floor, still below max_tokens
    assert thinking_budget_for(1050, 0.8) is None  # 1,024 + an answer does not fit
    assert thinking_budget_for(5000, 0.99) == 5000 - 64


async def test_native_thinking_passes_a_thinking_budget_sized_from_the_budget():
    model = FakeModel(replies="<think>three and four make seven</think>Answer: 7",
                      capabilities=Capabilities(thinking_budget=True, shows_thinking=True))
    events, final = await collect("native_thinking", model, Budget(output_tokens=3000), thinking_share=0.5)
    (call,) = model.calls
    assert call["max_tokens"] == 3000 and call["thinking_budget"] == 1500
    assert "reasoning_effort" not in call
    assert any(isinstance(e, ThinkingDelta) for e in events)  # thinking streamed
    assert final.answer == "7" and notes(events, "reasoning used")[0].data["reasoning_tokens"] == 5


async def test_native_thinking_answers_without_thinking_when_the_budget_is_below_the_floor():
    model = FakeModel(replies="Answer: 7", capabilities=Capabilities(thinking_budget=True))
    events, final = await collect("native_thinking", model, Budget(total_tokens=600))
    assert "thinking_budget" not in model.calls[0] and notes(events, "no thinking")
    assert final.answer == "7"


async def test_native_thinking_passes_reasoning_effort():
    model = FakeModel(replies="Answer: 7", capabilities=Capabilities(reasoning_effort=True))
    _, final = await collect("native_thinking", model, effort="high")
    (call,) = model.calls
    assert call["reasoning_effort"] == "high" and "thinking_budget" not in call
    assert final.answer == "7"


async def test_native_thinking_refuses_a_model_without_reasoning_controls():
    model = FakeModel(capabilities=Capabilities(continues_assistant=True))
    _, final = await collect("native_thinking", model)
    assert final.stop == "error" and "no provider-side reasoning control" in final.error
    assert not model.calls


async def test_native_thinking_refuses_a_control_the_model_does_not_take():
    model = FakeModel(capabilities=Capabilities(reasoning_effort=True))
    _, final = await collect("native_thinking", model, control="thinking_budget")
    assert final.stop == "error" and "does not take thinking_budget" in final.error and not model.calls
