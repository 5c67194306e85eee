"""What the head-to-head says in words and in its matrix when the problems are few or the
strategies agreed: no "-0" cells, and no promise that a difference would show when it could not."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from app.head_to_head import (
    detectable_difference,
    pair_matrix,
    pair_sentences,
    shown_cell,
)
from reasoning.paired_stats import PAIR_COLUMNS, min_detectable_difference

Z_ALPHA, Z_POWER = 1.959963984540054, 0.8416212335729143


def _pairs(n: int, a_only: int, b_only: int, diff: float, ci: tuple[float, float]) -> pd.DataFrame:
    row = {"model": "local:smollm2", "budget": 300.0, "a": "direct", "b": "chain_of_thought", "n": n,
           "acc_a": 0.5, "acc_b": 0.5 - diff, "diff": diff, "ci_low": ci[0], "ci_high": ci[1],
           "a_only": a_only, "b_only": b_only, "p": 1.0, "p_holm": 1.0, "mdd": float("nan")}
    return pd.DataFrame([row], columns=PAIR_COLUMNS)


def test_two_problems_that_agreed_are_too_few_not_a_zero_point_reach() -> None:
    # Two strategies that gave the same verdict on both of 2 problems: the page said "a difference
    # under about 0 pts is likely to go unseen", i.e. that any difference would show.
    [sentence] = pair_sentences(_pairs(2, 0, 0, 0.0, (0.0, 0.0)), "total_tokens", "local:smollm2", 300.0)
    assert "about 0 pts" not in sentence
    assert "2 problems are too few to show any difference" in sentence


def test_agreement_so_far_still_needs_a_difference_the_test_can_see() -> None:
    # 30 problems, no disagreement yet: a true difference delta would make at least delta of them
    # discordant, so the reach is Connor's formula at psi = delta, not 0.
    delta = detectable_difference(30, 0.0)
    assert 0.2 < delta < 0.3
    needed = (Z_ALPHA * math.sqrt(delta) + Z_POWER * math.sqrt(delta - delta**2)) ** 2 / delta**2
    assert needed == pytest.approx(30, rel=1e-6)
    [sentence] = pair_sentences(_pairs(30, 0, 0, 0.0, (0.0, 0.0)), "total_tokens", "local:smollm2", 300.0)
    assert f"about {delta * 100:.0f} pts" in sentence
    # a small observed share does not make every larger difference invisible either
    assert detectable_difference(30, 0.02) == pytest.approx(delta, rel=1e-6)
    assert math.isnan(min_detectable_difference(30, 0.02))


def test_enough_disagreement_is_connors_figure_unchanged() -> None:
    assert detectable_difference(200, 0.3) == min_detectable_difference(200, 0.3)
    assert math.isnan(detectable_difference(3, 0.1))  # 3 problems: not even 100 pts would show


def test_matrix_cells_never_read_minus_zero() -> None:
    text, sign = pair_matrix(_pairs(2, 0, 0, 0.0, (-0.002, 0.0)), "local:smollm2", 300.0,
                             ["direct", "chain_of_thought"])
    cells = [text.loc["direct", "chain_of_thought"], text.loc["chain_of_thought", "direct"]]
    assert cells == ["+0 [0, 0]", "+0 [0, 0]"]
    assert not any("-0" in cell for cell in cells)
    assert (sign.to_numpy() == 0).all()


def test_shown_cell_is_made_again_when_its_pairs_change() -> None:
    pairs = _pairs(200, 30, 10, 0.1, (0.04, 0.16))
    order = ("direct", "chain_of_thought")
    for p_holm in (0.5, 0.01, 0.5):  # the same content again after a change: what it gives then
        pairs["p_holm"] = p_holm
        sentences, styler = shown_cell(pairs, "total_tokens", "local:smollm2", 300.0, False, order)
        assert sentences == pair_sentences(pairs, "total_tokens", "local:smollm2", 300.0)
        text, sign = pair_matrix(pairs, "local:smollm2", 300.0, list(order))
        pd.testing.assert_frame_equal(styler.data, text)
        assert ("beats" in sentences[0]) == (p_holm < 0.05)
    other = pairs.assign(model="openai:gpt-4o-mini")  # the same numbers on another model: no pair here
    assert shown_cell(other, "total_tokens", "local:smollm2", 300.0, False, order)[0] == []
