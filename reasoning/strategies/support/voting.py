"""Majority voting over extracted answers, and the stopping rules of adaptive self-consistency.

Registers no strategy: self_consistency and debate share it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from reasoning.answers import answer_key


@dataclass
class Tally:
    """Votes grouped by answer_key, so "80 cents", "Answer: 80" and "80" are one answer (self-
    consistency's majority is over answers, not spellings: Wang et al., 2023, marginalise the
    reasoning paths over the final answer). The first spelling seen names the group."""

    counts: dict[str, int] = field(default_factory=dict)  # key -> votes, in first-seen order
    shown: dict[str, str] = field(default_factory=dict)  # key -> first spelling
    forms: dict[str, list[str]] = field(default_factory=dict)  # key -> every distinct spelling seen
    abstained: int = 0  # samples with no extractable answer

    def add(self, answer: str | None) -> str | None:
        """Count one answer; returns its key (None for an abstention)."""
        key = answer_key(answer)
        if key is None or answer is None:
            self.abstained += 1
            return None
        spelling = answer.strip()
        self.counts[key] = self.counts.get(key, 0) + 1
        self.shown.setdefault(key, spelling)
        forms = self.forms.setdefault(key, [])
        if spelling not in forms:
            forms.append(spelling)
        return key

    def ranked(self) -> list[tuple[str, int]]:
        """(answer, votes), most votes first; ties go to the answer seen first."""
        return [(self.shown[k], self.counts[k]) for k in self._ranked_keys()]

    def _ranked_keys(self) -> list[str]:
        order = {key: i for i, key in enumerate(self.counts)}
        return sorted(self.counts, key=lambda k: (-self.counts[k], order[k]))

    def groups(self) -> list[dict[str, Any]]:
        """The vote groups, most votes first: {"key", "answer" (first spelling), "votes", "forms"}."""
        return [{"key": k, "answer": self.shown[k], "votes": self.counts[k], "forms": list(self.forms[k])}
                for k in self._ranked_keys()]

    def describe(self) -> str:
        """The tally in words: `80 ×3 (80 cents | Answer: 80 | 80), 120 ×1`; forms only when several."""
        parts = []
        for group in self.groups():
            forms = group["forms"]
            spelled = f" ({' | '.join(forms)})" if len(forms) > 1 else ""
            parts.append(f"{group['key']} ×{group['votes']}{spelled}")
        return ", ".join(parts) or "none yet"

    @property
    def votes(self) -> int:
        return sum(self.counts.values())

    @property
    def leader(self) -> str | None:
        ranked = self.ranked()
        return ranked[0][0] if ranked else None

    def top_two(self) -> tuple[int, int]:
        """Votes of the leader and of the runner-up (0 when there is none)."""
        counts = [votes for _, votes in self.ranked()]
        return (counts[0] if counts else 0), (counts[1] if len(counts) > 1 else 0)

    @property
    def share(self) -> float | None:
        """The leader's share of the answers given (abstentions excluded)."""
        return None if not self.votes else self.top_two()[0] / self.votes

    def table(self) -> dict[str, int]:
        return dict(self.ranked())


def majority(answers: Sequence[str | None]) -> str | None:
    tally = Tally()
    for answer in answers:
        tally.add(answer)
    return tally.leader


def beta_leader_probability(a: int, b: int) -> float:
    """P(p_leader > p_runner_up) given a and b votes: Adaptive-Consistency's Beta stopping statistic.

    With a uniform prior, the leader's share of the two top answers is X ~ Beta(a+1, b+1), and the
    statistic is P(X > 1/2) = 1 - I_{1/2}(a+1, b+1). For integer parameters the regularised
    incomplete beta is a binomial tail, I_x(α, β) = P(Binomial(α+β-1, x) >= α), so
    P(X > 1/2) = P(Binomial(a+b+1, 1/2) <= a) = sum_{k=0..a} C(a+b+1, k) / 2^(a+b+1), exactly.
    """
    if a < 0 or b < 0:
        raise ValueError("vote counts are non-negative")
    n = a + b + 1
    return float(Fraction(sum(math.comb(n, k) for k in range(a + 1)), 2**n))


def beta_samples_needed(a: int, b: int, threshold: float, limit: int = 1024) -> int:
    """The fewest further samples after which the Beta rule could hold (all going to the leader)."""
    for extra in range(limit + 1):
        if beta_leader_probability(a + extra, b) >= threshold:
            return extra
    return limit


def trailing_agreement(keys: Sequence[str | None]) -> int:
    """How many of the latest answers agree with the last one (an abstention breaks the run)."""
    if not keys or keys[-1] is None:
        return 0
    run = 0
    for key in reversed(keys):
        if key != keys[-1]:
            break
        run += 1
    return run
