"""What a run's pane says beside its numbers: the spend against its caps (provisional while text
streams), a partial answer's confidence named for what the strategy measures, the verdict, how the
entry stopped, and a note's data. Words only (no Streamlit): the run page, its summary, the HTML
export and the command line say the same."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from app.panes import PaneView
from reasoning.budget import CAP_NAMES, Spend
from reasoning.wording import plural

STOP_TEXT = {"done": "finished", "budget": "budget reached", "error": "failed", "cancelled": "cancelled"}
# An entry that stopped on its own ("done") with no answer did not finish the task: said so (run_summary's
# NO_ANSWER row); the other stops read the same either way.
STOP_TEXT_UNANSWERED = {**STOP_TEXT, "done": "finished without an answer"}

def shown_spend(pane: PaneView, count_tokens: Callable[[str], int]) -> tuple[Spend, bool]:
    """The spend a pane shows, and whether it is provisional (shown with ≈).

    While a call streams, the engine reports a provisional spend every second (the prompt as it
    will be charged plus the output streamed so far) and the settled one when the call reports its
    usage. Between reports the pane adds the text streamed since the last one, counted with
    `count_tokens` (our tokenizer's estimate for the model): the figure moves with the text and is
    marked ≈ until a report settles it. Several calls in parallel: a settled report covers only its
    own call, so the figure may step back until the next provisional report (at most a second)."""
    if pane.ended:
        return pane.spent, False
    if not pane.unreported:
        return pane.spent, pane.spent.estimated
    extra = count_tokens("".join(pane.unreported))
    return replace(pane.spent, output_tokens=pane.spent.output_tokens + extra, estimated=True), True


@dataclass(frozen=True)
class SpendBar:
    fraction: float  # 0..1 of the cap closest to being reached
    text: str


def spend_bar(spent: Spend, budget: Mapping[str, Any], *, provisional: bool = False) -> SpendBar:
    """Spend against the binding cap (the one most used up); every set cap is named in the text,
    after "≈ " when the figure is provisional (shown_spend)."""
    bar = _spend_bar(spent, budget)
    return SpendBar(bar.fraction, "≈ " + bar.text) if provisional else bar


def _spend_bar(spent: Spend, budget: Mapping[str, Any]) -> SpendBar:
    used = {"total_tokens": spent.total_tokens, "output_tokens": spent.output_tokens,
            "usd": spent.usd, "seconds": spent.seconds}
    parts: list[str] = []
    fraction = 0.0
    for cap in CAP_NAMES:
        limit = budget.get(cap)
        if not limit:
            continue
        fraction = max(fraction, used[cap] / float(limit))
        parts.append(f"{_amount(cap, used[cap])} / {_amount(cap, limit)}")
    if not parts:
        return SpendBar(0.0, f"{plural(spent.total_tokens, 'token')}, ${spent.usd:.4f} (no cap)")
    return SpendBar(min(1.0, max(0.0, fraction)), " · ".join(parts))


def _amount(cap: str, value: float) -> str:
    if cap == "usd":
        return f"${value:.4f}"
    if cap == "seconds":
        return f"{value:.1f} s"
    return plural(int(value), "token" if cap == "total_tokens" else "output token")


class Measure(NamedTuple):
    """What a strategy's PartialAnswer.confidence is, in a pane ("vote share 67%") and on a chart's axis."""

    name: str  # before the value in a pane
    spec: str  # the value's format
    axis: str  # the quality chart's axis names it so when no verdict stands in for it (app.charts)


# What a built-in strategy's PartialAnswer.confidence measures, and how it reads: a vote share is a
# fraction of votes; a rating is the model's own score in [0, 1] (a Q(b) or R of the strategy's paper),
# shown as the strategy's notes show it. Not "confidence": a self-consistency pane read "confidence
# 100%" beside its note's "P(leader wins)=0.750", which is the probability the leader stays ahead.
# The other built-in strategies report none; a plugin's is whatever it reports (REPORTED).
CONFIDENCE_MEANS: dict[str, Measure] = {
    "self_consistency": Measure("vote share", "{:.0%}", "vote share"),
    "debate": Measure("vote share", "{:.0%}", "vote share"),  # of the agents' answers in the last round
    "anytime": Measure("Q(b)", "{:.2f}", "Q(b)"),  # the checkpoint's quality estimate (reasoning.strategies.anytime)
    "tree_of_thoughts": Measure("rated", "{:.2f}", "rating"),  # the state's self-evaluation
    "value_tree": Measure("R", "{:.2f}", "reward R"),  # the leaf's self-evaluated reward
}
REPORTED = Measure("confidence", "{:.0%}", "reported confidence")
NO_CONFIDENCE = "no confidence reported"


def confidence_measure(strategy: str | None) -> Measure:
    """What `strategy`'s confidence is (REPORTED for a strategy not in CONFIDENCE_MEANS, a plugin's)."""
    return CONFIDENCE_MEANS.get(strategy or "", REPORTED)


def confidence_text(confidence: float | None, strategy: str | None = None) -> str:
    """A partial answer's confidence named for what `strategy` measures ("vote share 67%"); a
    strategy not in CONFIDENCE_MEANS (a plugin's) says "confidence 67%"."""
    if confidence is None or (isinstance(confidence, float) and math.isnan(confidence)):
        return NO_CONFIDENCE
    name, spec, _ = confidence_measure(strategy)
    return f"{name} {spec.format(confidence)}"


def verdict_text(correct: bool | None) -> str:
    if correct is None:
        return ""
    return "right" if correct else "wrong"


def stop_text(stop: str | None, *, answered: bool = True) -> str:
    """How an entry stopped, by FinalAnswer.stop; `answered`: whether it has an answer to show (an
    entry that stopped on its own with none "finished without an answer")."""
    words = STOP_TEXT if answered else STOP_TEXT_UNANSWERED
    return words.get(stop or "", stop or "")


def note_data_text(data: Mapping[str, Any] | None, limit: int = 6) -> str:
    """A note's data as short `key=value` pairs (votes, scores, allocations)."""
    if not data:
        return ""
    items = list(data.items())
    shown = [f"{k}={_short(v)}" for k, v in items[:limit]]
    if len(items) > limit:
        shown.append(f"... {len(items) - limit} more")
    return ", ".join(shown)


def _short(value: Any, width: int = 60) -> str:
    text = f"{value:.3g}" if isinstance(value, float) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
