"""Prompt builders shared by strategies. Prompts are arguments, not code paths."""

from __future__ import annotations

from reasoning.models.base import Message

ANSWER_FORMAT = "End with a final line of the form `Answer: <answer>`."


def messages(user: str, system: str | None = None) -> list[Message]:
    out: list[Message] = []
    if system:
        out.append({"role": "system", "content": system})
    out.append({"role": "user", "content": user})
    return out


def step_by_step(problem: str, extra: str = "") -> list[Message]:
    return messages(f"{problem}\n\nThink step by step{extra}. {ANSWER_FORMAT}")


def answer_only(problem: str) -> list[Message]:
    return messages(f"{problem}\n\nGive only the final answer, no explanation. {ANSWER_FORMAT}")
