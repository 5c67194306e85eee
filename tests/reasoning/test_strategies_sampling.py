"""Behaviour of direct, self_consistency, debate, token_budget and self_budgeter on a scripted model."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest

from reasoning.budget import Budget
from reasoning.events import Event, FinalAnswer, Note, PartialAnswer
from reasoning.model_protocol import Message
from reasoning.models.fake import FakeModel
from reasoning.run import run
from reasoning.strategies import make_strategy
from reasoning.strategies.self_budgeter import parse_budget
from reasoning.strategies.support.voting import (
    Tally,
    beta_leader_probability,
    beta_samples_needed,
    trailing_agreement,
)
from reasoning.strategies.token_budget import parse_token_count
from reasoning.wording import plural

PROBLEM = "A farmer has 6 rows of 7 trees. How many trees are there?"
FILLER = "We multiply the rows by the trees in each row to get the total count."


def sampler(answers: Sequence[str]) -> Callable[[Sequence[Message], int], str]:
    """Call i reasons briefly and answers answers[i] (the last one repeats)."""
    return lambda messages, i: f"{FILLER} Answer: {answers[min(i, len(answers) - 1)]}"


async def play(strategy: str, model: FakeModel, budget: Budget | None = None, **knobs) -> list[Event]:
    budget = budget or Budget()
    events = [e async for e in run(make_strategy(strategy, **knobs), PROBLEM, model, budget)]
    finals = [e for e in events if isinstance(e, FinalAnswer)]
    assert len(finals) == 1 and events[-1] is finals[0], "exactly one FinalAnswer, last"
    spent = finals[0].spent
    if budget.total_tokens is not None:
        assert spent.total_tokens <= budget.total_tokens
    if budget.output_tokens is not None:
        assert spent.output_tokens <= budget.output_tokens
    assert spent.calls == len(model.calls)
    return events


def final(events: list[Event]) -> FinalAnswer:
    return next(e for e in events if isinstance(e, FinalAnswer))


def notes(events: list[Event], label: str) -> list[Note]:
    return [e for e in events if isinstance(e, Note) and e.label == label]


# ---- the Beta rule, against closed forms ----------------------------------------------------------


def _beta_tail_numeric(a: int, b: int, steps: int = 20000) -> float:
    """P(X > 1/2) for X ~ Beta(a+1, b+1) by Simpson's rule on the density."""
    norm = math.gamma(a + 1) * math.gamma(b + 1) / math.gamma(a + b + 2)  # B(a+1, b+1)
    h = 0.5 / steps
    xs = [0.5 + i * h for i in range(steps + 1)]
    f = [x**a * (1 - x) ** b / norm for x in xs]
    return h / 3 * (f[0] + f[-1] + 4 * sum(f[1:-1:2]) + 2 * sum(f[2:-1:2]))


@pytest.mark.parametrize(
    ("a", "b", "exact"),
    [(0, 0, 1 / 2), (1, 0, 3 / 4), (3, 0, 15 / 16), (4, 0, 31 / 32), (3, 1, 13 / 16), (6, 1, 247 / 256),
     (2, 2, 1 / 2), (5, 3, 382 / 512)],
)
def test_beta_probability_matches_closed_form(a: int, b: int, exact: float) -> None:
    # by hand: P = sum_{k<=a} C(a+b+1, k) / 2^(a+b+1); e.g. (3, 1): (1+5+10+10)/32 = 13/16
    assert beta_leader_probability(a, b) == pytest.approx(exact, abs=1e-12)
    assert beta_leader_probability(a, b) == pytest.approx(_beta_tail_numeric(a, b), abs=1e-6)


def test_beta_samples_needed_is_the_first_count_that_clears_the_threshold() -> None:
    assert beta_samples_needed(0, 0, 0.95) == 4  # 31/32 >= 0.95 > 15/16
    assert beta_samples_needed(2, 0, 0.95) == 2
    assert beta_samples_needed(4, 0, 0.95) == 0
    assert beta_samples_needed(3, 1, 0.95) == 3  # (6, 1): 247/256 = 0.965; (5, 1): 0.9375


def test_tally_groups_by_the_normalised_answer_and_keeps_the_spellings() -> None:
    tally = Tally()
    for answer in ["80 cents", "Answer: 80", "120", "80", "120", "80 cents"]:
        tally.add(answer)
    assert tally.ranked() == [("80 cents", 4), ("120", 2)]
    assert tally.groups() == [
        {"key": "80", "answer": "80 cents", "votes": 4, "forms": ["80 cents", "Answer: 80", "80"]},
        {"key": "120", "answer": "120", "votes": 2, "forms": ["120"]},
    ]
    assert tally.describe() == "80 ×4 (80 cents | Answer: 80 | 80), 120 ×2"


def test_tally_groups_spellings_and_breaks_ties_by_first_seen() -> None:
    tally = Tally()
    for answer in ["41", "$42", "42", None, "41.0"]:
        tally.add(answer)
    assert tally.ranked() == [("41", 2), ("$42", 2)]
    assert tally.abstained == 1 and tally.share == 0.5
    assert trailing_agreement(["1", "2", "2", "2"]) == 3
    assert trailing_agreement(["2", "2", None]) == 0


# ---- self-consistency ---------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 4])
async def test_beta_rule_stops_at_the_sample_the_rule_names(batch_size: int) -> None:
    # votes (leader, runner-up) after each sample: (1,0) .75, (1,1) .5, (2,1) .69, (3,1) .81,
    # (4,1) .89, (5,1) .9375, (6,1) .965 -> the rule holds after sample 7, not before.
    model = FakeModel(replies=sampler(["42", "41", "42", "42", "42", "42", "42", "42", "42"]))
    events = await play("self_consistency", model, stop_rule="beta", max_samples=16, batch_size=batch_size)
    assert len(model.calls) == 7
    stop = notes(events, "stop")
    assert len(stop) == 1 and stop[0].data["reason"] == "rule"
    assert stop[0].text == "rule met: P=0.965 >= 0.95"
    assert stop[0].data["statistic"] == pytest.approx(247 / 256)
    assert final(events).answer == "42"


async def test_beta_rule_with_unanimous_answers_needs_four_samples() -> None:
    model = FakeModel(replies=sampler(["7"]))
    events = await play("self_consistency", model, stop_rule="beta", batch_size=8)
    assert len(model.calls) == 4
    assert [n.data["statistic"] for n in notes(events, "votes")] == [0.75, 0.875, 0.9375, 0.96875]


@pytest.mark.parametrize("batch_size", [1, 3, 8])
async def test_esc_stops_when_the_last_window_answers_agree(batch_size: int) -> None:
    model = FakeModel(replies=sampler(["42", "41", "42", "41", "41", "41", "42"]))
    events = await play("self_consistency", model, stop_rule="esc", window=3, batch_size=batch_size)
    assert len(model.calls) == 6  # samples 4, 5, 6 all say 41
    assert notes(events, "stop")[0].text == "rule met: the last 3 answers agree"
    assert final(events).answer == "41"  # 41 x4 against 42 x2


async def test_fixed_rule_draws_exactly_n() -> None:
    model = FakeModel(replies=sampler(["42"]))
    events = await play("self_consistency", model, stop_rule="fixed", samples=5, batch_size=2)
    assert len(model.calls) == 5
    assert notes(events, "stop")[0].data["reason"] == "fixed"


async def test_adaptive_rule_gives_up_at_max_samples() -> None:
    model = FakeModel(replies=lambda m, i: f"{FILLER} Answer: {41 + i % 2}")
    events = await play("self_consistency", model, stop_rule="beta", max_samples=6)
    assert len(model.calls) == 6
    assert notes(events, "stop")[0].text == "max_samples reached: 6"


async def test_partials_report_the_majority_and_its_share() -> None:
    model = FakeModel(replies=sampler(["5", "6", "6"]))
    events = await play("self_consistency", model, stop_rule="fixed", samples=3, batch_size=1)
    partials = [(e.answer, e.confidence) for e in events if isinstance(e, PartialAnswer)]
    assert partials == [("5", 1.0), ("5", 0.5), ("6", pytest.approx(2 / 3))]
    labels = [n.data["sample"] for n in notes(events, "votes")]
    assert labels == [1, 2, 3]


async def test_a_smaller_budget_buys_fewer_samples() -> None:
    counts = {}
    for total in (300, 1200):
        model = FakeModel(replies=lambda m, i: f"{FILLER} Answer: {41 + i % 2}")
        events = await play("self_consistency", model, Budget(total_tokens=total), stop_rule="fixed",
                            samples=64, batch_size=4)
        stop = notes(events, "stop")
        assert stop and stop[0].data["reason"] == "budget"
        assert stop[0].text == f"budget: {plural(len(model.calls), 'sample')} fit"
        counts[total] = len(model.calls)
    # a sample costs 28 prompt + 17 output tokens: the budget buys exactly floor(total / 45)
    assert counts == {300: 300 // 45, 1200: 1200 // 45}


async def test_parallel_batches_are_not_clamped_under_a_cap() -> None:
    model = FakeModel(replies=sampler(["42", "41"]))
    await play("self_consistency", model, Budget(total_tokens=2000), stop_rule="fixed", samples=16,
               batch_size=4, max_tokens=1024)
    assert model.calls[0]["max_tokens"] == 1024  # the first sample calibrates alone
    later = {c["max_tokens"] for c in model.calls[1:]}
    assert later == {64}  # twice the longest sample, at least 64, so a batch of 4 fits


# ---- debate ---------------------------------------------------------------------------------------------


def debater(round_one: list[str], later: Callable[[int, str], str]) -> Callable[[Sequence[Message], int], str]:
    """Agents are called in order A, B, C each round; later(agent, shown) answers rounds 2+."""
    def reply(messages: Sequence[Message], i: int) -> str:
        agent = i % len(round_one)
        if len(messages) == 1:
            return f"{FILLER} Answer: {round_one[agent]}"
        return f"{FILLER} Answer: {later(agent, messages[-1]['content'])}"
    return reply


async def test_debate_agents_see_the_others_and_revise() -> None:
    # round 1: A=41, B=42, C=41 (majority 41); B's argument convinces A and C in round 2.
    model = FakeModel(replies=debater(["41", "42", "41"], lambda agent, shown: "42"))
    events = await play("debate", model, agents=3, rounds=3)
    assert len(model.calls) == 6
    round_two = model.calls[3:]
    for agent, call in zip("ABC", round_two, strict=True):
        shown = call["messages"][-1]["content"]
        others = [o for o in "ABC" if o != agent]
        assert all(f"Agent {o}:" in shown for o in others) and f"Agent {agent}:" not in shown
        assert call["messages"][1]["role"] == "assistant"  # its own round-1 solution
    assert "Answer: 42" in round_two[0]["messages"][-1]["content"]  # A is shown B's answer
    rounds = notes(events, "round")
    assert rounds[0].data["leader"] == "41" and rounds[1].data["answers"] == {"A": "42", "B": "42", "C": "42"}
    assert notes(events, "stop")[0].data["reason"] == "consensus"
    assert final(events).answer == "42"
    labels = {e.label for e in events if e.kind == "text"}
    assert "agent A / round 1" in labels and "agent C / round 2" in labels


async def test_debate_stops_at_consensus_in_round_one() -> None:
    model = FakeModel(replies=debater(["9", "9", "9"], lambda agent, shown: "1"))
    events = await play("debate", model, agents=3, rounds=3)
    assert len(model.calls) == 3
    assert notes(events, "stop")[0].text == "consensus after round 1"


async def test_debate_runs_all_rounds_without_consensus() -> None:
    model = FakeModel(replies=debater(["1", "2"], lambda agent, shown: str(agent + 1)))
    events = await play("debate", model, agents=2, rounds=3)
    assert len(model.calls) == 6
    assert notes(events, "stop")[0].data["reason"] == "rounds"


async def test_debate_skips_a_round_the_budget_cannot_buy() -> None:
    model = FakeModel(replies=debater(["41", "42", "41"], lambda agent, shown: "42"))
    # round 1 costs 3 x (28 + 17) = 135 tokens; round 2's prompts alone carry all three solutions
    events = await play("debate", model, Budget(total_tokens=250), agents=3, rounds=3)
    assert len(model.calls) == 3
    stop = notes(events, "stop")[0]
    assert stop.data["reason"] == "budget" and stop.text.startswith("budget: round 2 needs ~")
    assert final(events).answer == "41"


# ---- TALE -------------------------------------------------------------------------------------------------


async def test_tale_records_predicted_against_spent() -> None:
    answer = f"{FILLER} Answer: 42"  # 17 tokens
    model = FakeModel(replies=["120", answer])
    events = await play("token_budget", model)
    assert len(model.calls) == 2
    assert "use less than 120 tokens" in model.calls[1]["messages"][0]["content"]
    assert model.calls[1]["max_tokens"] == 180  # slack 1.5
    check = notes(events, "budget check")[0].data
    assert check == {"predicted": 120, "budget": 120, "spent": 17, "met": True, "truncated": False}
    assert final(events).answer == "42"


async def test_tale_budget_overrun_is_recorded() -> None:
    model = FakeModel(replies=["about 40 tokens", " ".join(["word"] * 50) + " Answer: 3"])
    events = await play("token_budget", model)
    check = notes(events, "budget check")[0].data
    assert check["predicted"] == 40 and check["spent"] == 52 and check["met"] is False


async def test_tale_falls_back_when_the_estimate_is_not_a_number() -> None:
    model = FakeModel(replies=["hard to say", f"{FILLER} Answer: 42"])
    events = await play("token_budget", model, fallback_budget=200)
    assert notes(events, "budget")[0].data["fallback"] is True
    assert "use less than 200 tokens" in model.calls[1]["messages"][0]["content"]


async def test_tale_clamps_the_estimate_to_what_the_budget_buys() -> None:
    model = FakeModel(replies=["5000", f"{FILLER} Answer: 42"])
    events = await play("token_budget", model, Budget(total_tokens=300))
    granted = notes(events, "budget check")[0].data["budget"]
    assert granted < 300 and notes(events, "budget")[0].text.startswith("estimated 5000 tokens, clamped to")


@pytest.mark.parametrize(
    ("reply", "tokens"),
    [("150", 150), ("[[1,200]]", 1200), ("About 80 tokens.", 80), ("Budget: 64", 64), ("none", None)],
)
def test_parse_token_count(reply: str, tokens: int | None) -> None:
    assert parse_token_count(reply) == tokens


async def test_self_consistency_votes_group_spellings_and_the_notes_show_the_groups() -> None:
    """Raw strings would make 120 (twice, spelled alike) beat 80 (three times, spelled three ways)."""
    replies = ["Answer: 120", "So it costs $80.\nAnswer: $80", "Answer: 120",
               "Final answer: **Answer: 80**", "The answer is $\\boxed{80.00}$."]
    model = FakeModel(replies=[f"{FILLER} {r}" for r in replies])
    events = await play("self_consistency", model, stop_rule="fixed", samples=5, batch_size=1)
    assert final(events).answer == "$80"
    groups = [
        {"key": "80", "answer": "$80", "votes": 3, "forms": ["$80", "80", "80.00"]},
        {"key": "120", "answer": "120", "votes": 2, "forms": ["120"]},
    ]
    assert notes(events, "stop")[0].data["groups"] == groups
    last = notes(events, "votes")[-1]
    assert last.data["groups"] == groups
    assert last.text == "sample 5: 80.00 · votes: 80 ×3 ($80 | 80 | 80.00), 120 ×2"


async def test_debate_round_notes_show_the_vote_groups() -> None:
    model = FakeModel(replies=[f"{FILLER} Answer: $80", f"{FILLER} **Answer:** 80", f"{FILLER} Answer: 80.0 cents."])
    events = await play("debate", model, agents=3)
    rounds = notes(events, "round")
    assert rounds[0].data["groups"] == [{"key": "80", "answer": "$80", "votes": 3, "forms": ["$80", "80", "80.0"]}]
    assert rounds[0].text.endswith("votes: 80 ×3 ($80 | 80 | 80.0)")
    assert notes(events, "stop")[0].data["reason"] == "consensus"


# ---- SelfBudgeter ------------------------------------------------------------------------------------------


async def test_self_budgeter_answers_within_its_stated_budget() -> None:
    model = FakeModel(replies=["<budget>50</budget>", f"{FILLER} Answer: 42"])
    events = await play("self_budgeter", model)
    assert len(model.calls) == 2
    second = model.calls[1]
    assert second["max_tokens"] == 50 + 32
    assert second["messages"][1] == {"role": "assistant", "content": "<budget>50</budget>"}
    assert "at most 50 tokens" in second["messages"][-1]["content"]
    check = notes(events, "budget check")[0].data
    assert (check["predicted"], check["spent"], check["met"], check["source"]) == (50, 17, True, "model")
    assert final(events).answer == "42"


async def test_self_budgeter_prefilled_skips_the_estimate() -> None:
    model = FakeModel(replies=[f"{FILLER} Answer: 42"])
    events = await play("self_budgeter", model, prefilled_budget=200)
    assert len(model.calls) == 1
    assert model.calls[0]["messages"][1]["content"] == "<budget>200</budget>"
    assert model.calls[0]["max_tokens"] == 232
    check = notes(events, "budget check")[0].data
    assert (check["predicted"], check["spent"], check["met"], check["source"]) == (200, 17, True, "prefilled")


async def test_self_budgeter_falls_back_when_the_model_does_not_comply() -> None:
    model = FakeModel(replies=["I cannot say.", f"{FILLER} Answer: 42"])
    events = await play("self_budgeter", model, default_budget=300)
    assert notes(events, "budget")[0].data["source"] == "default"
    assert model.calls[1]["max_tokens"] == 332
    assert notes(events, "budget check")[0].data["met"] is True


async def test_self_budgeter_truncated_answer_misses_its_budget() -> None:
    model = FakeModel(replies=["<budget>20</budget>", " ".join(["step"] * 80) + " Answer: 42"])
    events = await play("self_budgeter", model, margin=8, min_budget=16)
    check = notes(events, "budget check")[0].data
    assert check["spent"] == 28 and check["met"] is False and check["truncated"] is True


@pytest.mark.parametrize(
    ("stated", "answered", "expected"),
    [("<budget>512</budget>", "<budget>512</budget>", None),  # seen on the local model: answer "512"
     ("<budget>512</budget>", "<budget>512</budget>\n6 rows of 7 trees: 6 × 7 = 42.", "42"),
     ("about 300 tokens", "about 300 tokens", None),
     ("about 300 tokens", "I will use about 300 tokens.\n**Answer:** 42 trees", "42")],
)
async def test_self_budgeter_never_answers_its_own_budget(stated: str, answered: str, expected: str | None) -> None:
    model = FakeModel(replies=[stated, answered])
    events = await play("self_budgeter", model)
    assert notes(events, "budget")[0].data["source"] == "model"
    assert final(events).answer == expected


async def test_self_budgeter_forces_an_answer_when_the_reply_states_none() -> None:
    # Seen on the local model: the answer phase only repeated "<budget>512</budget>".
    model = FakeModel(replies=["<budget>512</budget>", "<budget>512</budget>", " 42 trees."])
    events = await play("self_budgeter", model)
    assert len(model.calls) == 3
    forced = model.calls[2]
    assert forced["max_tokens"] == 24
    assert not any("budget" in m["content"] for m in forced["messages"]), "the forced prompt has no budget talk"
    assert final(events).answer == "42"
    assert notes(events, "forced answer")[0].data["answer"] == "42"


async def test_self_budgeter_reads_its_budget_said_again_as_no_answer() -> None:
    # Seen on the local model: "<answer>512</answer>" after the default budget of 512 was stated.
    model = FakeModel(replies=["I cannot say.", "<answer>512</answer>", " 42"])
    events = await play("self_budgeter", model)
    assert len(model.calls) == 3 and final(events).answer == "42"
    assert "512" not in str(model.calls[2]["messages"]), "the echo is not reasoning to force an answer from"


async def test_self_budgeter_keeps_a_worked_answer_equal_to_its_budget() -> None:
    model = FakeModel(replies=["<budget>42</budget>", f"{FILLER} {FILLER} Answer: 42"])
    events = await play("self_budgeter", model)
    assert len(model.calls) == 2 and final(events).answer == "42"


async def test_token_budget_forces_an_answer_from_reasoning_cut_at_its_budget() -> None:
    model = FakeModel(replies=["40", " ".join(["step"] * 100), " 42."])
    events = await play("token_budget", model)
    assert len(model.calls) == 3
    assert model.calls[2]["max_tokens"] == 24 and "40" not in model.calls[2]["messages"][0]["content"]
    assert final(events).answer == "42"
    assert notes(events, "forced answer")[0].data["answer"] == "42"


async def test_self_budgeter_forces_no_answer_the_budget_cannot_pay_for() -> None:
    model = FakeModel(replies=["<budget>50</budget>", " ".join(["step"] * 200)])
    events = await play("self_budgeter", model, Budget(output_tokens=90))
    assert len(model.calls) == 2, "no forced call past the cap"
    assert final(events).answer is None
    assert "cannot pay" in notes(events, "forced answer")[0].text


@pytest.mark.parametrize(
    ("reply", "budget"),
    [("<budget>300</budget>", 300), ("about 300 tokens", 300), ("<BUDGET> 1,024 </BUDGET>", 1024), ("<budget>~90", 90),
     ("Budget: 250 tokens", 250), ("120", 120), ("400 tokens.", 400), ("I'd guess a few hundred", None),
     ("<budget>0</budget>", None)],
)
def test_parse_budget(reply: str, budget: int | None) -> None:
    assert parse_budget(reply) == budget


# ---- direct --------------------------------------------------------------------------------------------------


async def test_direct_is_one_short_call() -> None:
    model = FakeModel(replies="Answer: 42")
    events = await play("direct", model)
    assert len(model.calls) == 1 and model.calls[0]["max_tokens"] == 48
    assert final(events).answer == "42" and final(events).stop == "done"


@pytest.mark.parametrize("strategy", ["direct", "self_consistency", "debate", "token_budget", "self_budgeter"])
@pytest.mark.parametrize("total", [60, 150, 400])
async def test_tight_budgets_end_cleanly(strategy: str, total: int) -> None:
    model = FakeModel(replies=lambda m, i: f"{FILLER} {FILLER} Answer: {40 + i % 3}")
    events = await play(strategy, model, Budget(total_tokens=total))
    assert final(events).stop in ("done", "budget")
