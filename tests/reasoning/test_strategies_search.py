"""The shared tree-search helper (pure numbers) and the two tree strategies on a scripted fake model."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from reasoning.budget import Budget, Cost
from reasoning.events import FinalAnswer, Note, PartialAnswer
from reasoning.models.fake import FakeModel
from reasoning.run import run
from reasoning.strategies import make_strategy
from reasoning.strategies.support.search import (
    Node,
    allocate,
    allocate_funded,
    backup,
    beam_plan,
    best_path,
    parse_score,
    stated_answer,
)
from reasoning.strategies.support.sizing import how_many, largest_fitting, token_equivalent

PROBLEM = "Pick the best branch."

# ---- pure machinery ---------------------------------------------------------------------------


def test_allocation_is_proportional_to_value_and_truncated():
    assert allocate(1000, [0.5, 0.3, 0.2]) == [500, 300, 200]
    assert allocate(10, [1.0, 2.0]) == [3, 6]  # 3.33 and 6.67 truncated, as the seed's astype(int)
    assert allocate(100, [0.0, 0.0, 0.0]) == [33, 33, 33]  # all floored at 1e-8: an equal split
    assert allocate(100, [1.0, 0.0]) == [99, 0]  # 100 * 1e-8 / (1 + 1e-8) rounds down to nothing


def test_funded_allocation_shares_again_among_children_that_can_be_expanded():
    # 200 < 250: the lowest-valued child drops out and the other two share 1000 by 0.5 : 0.3.
    assert allocate_funded(1000, [0.5, 0.3, 0.2], expansion=250) == [625, 375, 0]
    assert allocate_funded(1000, [0.5, 0.3, 0.2], expansion=100) == [500, 300, 200]
    assert allocate_funded(100, [0.5, 0.5], expansion=250) == [0, 0]


def _tree() -> Node:
    root = Node("", 0)
    a, b = Node("1", 1, reward=0.5), Node("2", 1, reward=0.3)
    a.children = [Node("1.1", 2, reward=0.1), Node("1.2", 2, reward=0.2)]
    b.children = [Node("2.1", 2, reward=1.0)]
    root.children = [a, b]
    return root


def test_value_backup_follows_the_formula():
    root = _tree()
    v_root = backup(root, gamma=0.9)
    a, b = root.children
    assert a.value == pytest.approx(0.5 + 0.9 * 0.2)
    assert b.value == pytest.approx(0.3 + 0.9 * 1.0)
    assert v_root == pytest.approx(0.0 + 0.9 * b.value)
    assert [n.value for n in a.children] == [0.1, 0.2]  # a leaf's value is its reward


def test_best_path_takes_argmax_value_not_the_best_immediate_reward():
    root = _tree()
    backup(root, gamma=0.9)
    assert [n.id for n in best_path(root)] == ["", "2", "2.1"]  # R(1) > R(2) but V(2) > V(1)
    backup(root, gamma=0.0)  # without look-ahead the immediate reward decides
    assert [n.id for n in best_path(root)] == ["", "1", "1.2"]


def test_sizing_counts_units_under_every_cap():
    unit = Cost(total_tokens=100, output_tokens=20, usd=0.001, seconds=0.5)
    assert how_many(Budget(), unit) is None
    assert how_many(Budget(total_tokens=1000), unit) == 10
    assert how_many(Budget(total_tokens=1000), unit, reserve=Cost(total_tokens=200)) == 8
    assert how_many(Budget(total_tokens=1000, output_tokens=100), unit) == 5
    assert how_many(Budget(usd=0.0025), unit) == pytest.approx(2.5)
    assert how_many(Budget(seconds=1.0), unit) == 2
    assert how_many(Budget(total_tokens=100), unit, reserve=Cost(total_tokens=150)) == 0
    assert token_equivalent(Budget(total_tokens=1000), unit, Cost(total_tokens=150)) == 850
    assert token_equivalent(Budget(output_tokens=50), unit) == 250  # 2.5 expansions of 100 tokens


def test_largest_fitting_is_a_binary_search_for_the_last_fit():
    assert largest_fitting(100, lambda n: 3 * n <= 10) == 3
    assert largest_fitting(100, lambda n: True) == 100
    assert largest_fitting(100, lambda n: n < 0) == 0


def test_beam_plan_spreads_affordable_nodes_over_the_levels_left():
    assert beam_plan(None, 3, frontier=5, max_breadth=3, max_beam=2) == (2, 3)  # uncapped: knob maxima
    assert beam_plan(12, 2, frontier=2, max_breadth=3, max_beam=2) == (2, 3)
    assert beam_plan(6, 1, frontier=1, max_breadth=3, max_beam=2) == (1, 3)
    assert beam_plan(3, 4, frontier=2, max_breadth=3, max_beam=2) == (1, 2)  # two proposals beat depth
    assert beam_plan(1.5, 4, frontier=2, max_breadth=3, max_beam=2) == (1, 1)
    assert beam_plan(0.9, 1, frontier=2, max_breadth=3, max_beam=2) == (0, 0)


def test_scores_and_stated_answers_are_parsed():
    assert parse_score("7") == pytest.approx(6 / 9)
    assert parse_score("Rating: 10/10") == 1.0
    assert parse_score("15") == 1.0 and parse_score("0") == 0.0
    assert parse_score("no idea") is None
    # capable models' forms (the full table is in tests/reasoning/test_answers.py)
    assert parse_score("0.8") == parse_score("Score: 8/10") == parse_score("8") == pytest.approx(7 / 9)
    assert parse_score("Step 1 is wrong. Score: 2/10") == pytest.approx(1 / 9)  # not the "1" of "Step 1"
    assert stated_answer("so the total is 12.\nAnswer: 12") == "12"
    assert stated_answer("Add 5 and 7 to get 12.") is None  # a number alone does not finish a state
    assert stated_answer("So there are $\\boxed{12}$ apples.") == "12"
    assert stated_answer("Hence the answer is 12 apples.") == "12"


# ---- a scripted tree --------------------------------------------------------------------------


class Scripted:
    """A fake model's reply function for the tree prompts.

    The i-th proposal from a state whose last step is "Consider X" is "Consider X<letter i>", so a
    state's name is its path of letters; ratings come from `scores` (1-10, default 5); the finish
    prompt answers with the name of the state it finishes from."""

    def __init__(self, scores: dict[str, int], answer_at: set[str] = frozenset()):
        self.scores = scores
        self.answer_at = answer_at
        self.asked: Counter[str] = Counter()

    @staticmethod
    def name(prompt: str) -> str:
        found = re.findall(r"Consider ([A-Z]+)", prompt)
        return found[-1] if found else ""

    def __call__(self, messages, index: int) -> str:
        prompt = messages[-1]["content"]
        if "Write only the next step" in prompt:
            n = self.asked[prompt]
            self.asked[prompt] += 1
            child = self.name(prompt) + "ABCDEFGH"[n]
            return f"Consider {child}." + (f"\nAnswer: {child}" if child in self.answer_at else "")
        if "On a scale of 1 to 10" in prompt:
            return str(self.scores.get(self.name(prompt), 5))
        if "Complete the solution" in prompt:
            return f"Finishing from there.\nAnswer: {self.name(prompt) or 'none'}"
        raise AssertionError(f"unexpected prompt: {prompt!r}")


def r(score: int) -> float:
    return (score - 1) / 9


async def collect(name: str, model: FakeModel, budget: Budget, **knobs):
    events = [e async for e in run(make_strategy(name, **knobs), PROBLEM, model, budget)]
    final = events[-1]
    assert isinstance(final, FinalAnswer) and final.error is None, final
    return events, final


def notes(events, prefix: str) -> list[Note]:
    return [e for e in events if isinstance(e, Note) and e.label.startswith(prefix)]


def tree_nodes(events) -> dict[str, dict]:
    (tree,) = notes(events, "tree")
    return {n["id"]: n for n in tree.data["nodes"]}


SCORES = {"A": 10, "B": 7, "C": 4, "AA": 1, "AB": 1, "AC": 1, "BA": 10, "BB": 2, "BC": 2}


async def test_value_tree_values_and_best_path_follow_the_formulas():
    events, final = await collect("value_tree", FakeModel(replies=Scripted(SCORES)), Budget(), depth=2, gamma=0.9)
    nodes = tree_nodes(events)
    a, b, c = nodes["1"], nodes["2"], nodes["3"]
    assert (a["R"], b["R"], c["R"]) == (pytest.approx(r(10)), pytest.approx(r(7)), pytest.approx(r(4)))
    assert a["V"] == pytest.approx(r(10) + 0.9 * r(1))
    assert b["V"] == pytest.approx(r(7) + 0.9 * r(10))
    assert c["V"] == pytest.approx(r(4) + 0.9 * r(5))
    assert nodes["root"]["V"] == pytest.approx(0.9 * b["V"])
    # A has the best reward, but B's subtree holds the best value: the answer comes from B > BA.
    assert notes(events, "tree")[0].data["best_path"] == ["root", "2", "2.1"]
    assert final.answer == "BA"
    # every node obeys V(n) = R(n) + gamma * max V(children)
    for node in nodes.values():
        kids = [k for k in nodes.values() if k["parent"] == node["id"]]
        assert node["V"] == pytest.approx(node["R"] + 0.9 * max((k["V"] for k in kids), default=0.0), abs=1e-5)


@pytest.mark.parametrize("depth", [1, 2, 3])
async def test_value_tree_respects_the_depth_limit(depth):
    events, _ = await collect("value_tree", FakeModel(replies=Scripted({})), Budget(), depth=depth, branching=2)
    nodes = tree_nodes(events)
    assert max(n["depth"] for n in nodes.values()) == depth
    assert len(nodes) - 1 == sum(2**d for d in range(1, depth + 1))  # uncapped: full tree to the limit
    assert not any(n["expanded"] for n in nodes.values() if n["depth"] == depth)


async def test_value_tree_allocates_the_budget_in_proportion_to_value():
    model = FakeModel(replies=Scripted(SCORES))
    events, final = await collect("value_tree", model, Budget(total_tokens=1400), depth=3)
    assert final.spent.total_tokens <= 1400
    root_note, *_ = notes(events, "expand root")
    budget, expansion = root_note.data["remaining"], root_note.data["expansion_tokens"]
    values = [ch["V"] for ch in root_note.data["children"]]
    assert values == pytest.approx([r(10), r(7), r(4)])
    # B(n_i) = B_remaining * V(n_i) / sum_j V(n_j), from the unrounded values the search used
    exact = [r(10), r(7), r(4)]
    assert [ch["allocated"] for ch in root_note.data["children"]] == [int(budget * v / sum(exact)) for v in exact]
    # B_remaining is what the cap leaves after the root expansion, less the final-answer reserve
    assert 0 < budget < 1400 - root_note.data["cost_tokens"]
    # a child is expanded exactly when its allocation buys an expansion; this budget funds A, not C
    expanded = {ch["id"] for ch in root_note.data["children"] if ch["allocated"] >= expansion}
    assert set(root_note.data["expanding"]) == expanded and "1" in expanded and "3" not in expanded
    # below the root, a child's budget is its allocation less what its own expansion cost
    allocated = {ch["id"]: ch["allocated"] for ch in root_note.data["children"]}
    for note in notes(events, "expand ")[1:]:
        node = note.data["node"]
        assert note.data["remaining"] == max(0, allocated[node] - note.data["cost_tokens"])
        vals = [ch["V"] for ch in note.data["children"]]
        floored = [max(v, 1e-8) for v in vals]
        assert [ch["allocated"] for ch in note.data["children"]] == pytest.approx(
            [int(note.data["remaining"] * v / sum(floored)) for v in floored], abs=1)
        allocated.update({ch["id"]: ch["allocated"] for ch in note.data["children"]})


async def test_value_tree_reports_a_partial_answer_for_the_best_answered_state():
    scripted = Scripted({"A": 3, "B": 9}, answer_at={"A", "B"})
    events, final = await collect("value_tree", FakeModel(replies=scripted), Budget(), depth=2)
    partials = [e for e in events if isinstance(e, PartialAnswer)]
    assert partials and partials[-1].answer == final.answer == "B"


# ---- tree of thoughts -------------------------------------------------------------------------


async def test_tree_of_thoughts_uncapped_uses_the_knob_maxima():
    events, _ = await collect("tree_of_thoughts", FakeModel(replies=Scripted({})), Budget(),
                              breadth=3, beam=2, max_depth=4)
    nodes = tree_nodes(events)
    # depth 1: the problem x 3 proposals; then 2 kept states x 3 proposals at each further depth
    assert len(nodes) - 1 == 3 + 3 * (2 * 3)
    assert max(n["depth"] for n in nodes.values()) == 4


async def test_tree_of_thoughts_grows_with_the_budget():
    sizes = []
    for cap in (900, 2500, 8000):
        events, final = await collect("tree_of_thoughts", FakeModel(replies=Scripted({})), Budget(total_tokens=cap))
        assert final.spent.total_tokens <= cap
        sizes.append(len(tree_nodes(events)) - 1)
    assert sizes[0] < sizes[1] < sizes[2]
    assert sizes[0] >= 1


async def test_tree_of_thoughts_keeps_the_beam_and_answers_from_the_highest_rated_state():
    scores = {"A": 6, "B": 8, "C": 2, "BA": 3, "BB": 10, "BC": 4, "AA": 7}
    events, final = await collect("tree_of_thoughts", FakeModel(replies=Scripted(scores)), Budget(),
                                  breadth=3, beam=2, max_depth=3)
    depth1, depth2, _ = notes(events, "depth ")
    assert depth1.data["kept"] == ["2", "1"]  # B (8) and A (6); C (2) is dropped
    assert set(depth2.data["expanded"]) == {"2", "1"}
    assert "3.1" not in tree_nodes(events)
    assert notes(events, "tree")[0].data["best"] == "2.2"  # BB, rated 10: the best of every state
    assert final.answer == "BB"


async def test_tree_of_thoughts_partial_answers_come_from_the_best_rated_answered_state():
    scripted = Scripted({"A": 4, "B": 9, "C": 6}, answer_at={"A", "B", "C"})
    events, final = await collect("tree_of_thoughts", FakeModel(replies=scripted), Budget())
    partials = [e for e in events if isinstance(e, PartialAnswer)]
    assert partials[0].answer == "B" and partials[0].confidence == pytest.approx(r(9))
    assert final.answer == "B"
