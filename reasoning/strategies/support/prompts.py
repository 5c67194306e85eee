"""Prompt builders shared by strategies. Prompts are arguments, not code paths."""

from __future__ import annotations

from reasoning.model_protocol import Message

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


# ---- tree search (tree_of_thoughts, value_tree) -------------------------------------------------


def _steps_block(steps: tuple[str, ...]) -> str:
    return "\n".join(f"Step {i}: {s}" for i, s in enumerate(steps, 1)) or "(no steps yet)"


def propose_step(problem: str, steps: tuple[str, ...]) -> list[Message]:
    return messages(
        f"Problem:\n{problem}\n\nSteps so far:\n{_steps_block(steps)}\n\n"
        "Write only the next step of the solution, in one or two sentences. If the steps so far "
        "already solve the problem, write instead a final line of the form `Answer: <answer>`."
    )


def rate_state(problem: str, steps: tuple[str, ...]) -> list[Message]:
    return messages(
        f"Problem:\n{problem}\n\nPartial solution:\n{_steps_block(steps)}\n\n"
        "On a scale of 1 to 10, rate how likely this partial solution leads to a correct answer. "
        "Reply with the number only."
    )


def finish_from_steps(problem: str, steps: tuple[str, ...]) -> list[Message]:
    return messages(
        f"Problem:\n{problem}\n\nSteps so far:\n{_steps_block(steps)}\n\n"
        f"Complete the solution briefly from these steps. {ANSWER_FORMAT}"
    )


# ---- anytime reasoning ----------------------------------------------------------------------------

FORCE_ANSWER_CUE = "\n\nGiven the reasoning so far, the final answer is"


def answer_from_reasoning(problem: str, reasoning: str) -> list[Message]:
    """For models that cannot continue an assistant message: the cut reasoning, quoted."""
    return messages(
        f"{problem}\n\nHere is some reasoning about it, possibly cut off:\n{reasoning}\n\n"
        "Given the reasoning so far, what is the final answer? Reply with only a line of the form "
        "`Answer: <answer>`."
    )


def force_answer(problem: str, prompt: list[Message], reasoning: str, continues: bool) -> list[Message]:
    """A short final answer forced from reasoning that stated none: the answer cue appended to the
    model's own turn when it can continue it (as s1's budget forcing appends "Final Answer:"), else
    the reasoning quoted in a new question."""
    if continues:
        return prompt + [{"role": "assistant", "content": reasoning.rstrip() + FORCE_ANSWER_CUE}]
    return answer_from_reasoning(problem, reasoning)


def rate_answer(problem: str, reasoning: str, answer: str) -> list[Message]:
    return messages(
        f"{problem}\n\nReasoning so far:\n{reasoning}\n\nProposed answer: {answer}\n\n"
        "On a scale of 1 to 10, how likely is the proposed answer to be correct? Reply with the number only."
    )


# ---- budget forcing (s1) ----------------------------------------------------------------------------

THINK_START, THINK_END = "<think>", "</think>"
FINAL_ANSWER_CUE = "Final Answer:"


def think_then_answer(problem: str) -> list[Message]:
    return messages(
        f"{problem}\n\nFirst think it through inside {THINK_START} {THINK_END} tags, then write "
        f"`{FINAL_ANSWER_CUE} <answer>`."
    )


# ---- native thinking ----------------------------------------------------------------------------------


def answer_in_format(problem: str) -> list[Message]:
    return messages(f"{problem}\n\n{ANSWER_FORMAT}")


# ---- multi-agent debate ---------------------------------------------------------------------------


def debate_round(problem: str, own: str, others: list[tuple[str, str]]) -> list[Message]:
    """Du et al.'s debate turn: the agent's own last solution, then the other agents' solutions."""
    shown = "\n\n".join(f"Agent {name}:\n{text.strip()}" for name, text in others)
    return [
        *step_by_step(problem),
        {"role": "assistant", "content": own.strip() or "(no answer)"},
        {
            "role": "user",
            "content": f"These are the solutions to the problem from other agents:\n\n{shown}\n\n"
            "Using the reasoning from other agents as additional information, examine your solution "
            "and theirs step by step and give an updated answer to the problem. " + ANSWER_FORMAT,
        },
    ]


# ---- token budgets (TALE, SelfBudgeter) -----------------------------------------------------------


def estimate_tokens(problem: str) -> list[Message]:
    """TALE's zero-shot budget estimator."""
    return messages(
        f"{problem}\n\nDo not solve this problem. Estimate the number of tokens needed to solve it "
        "step by step. Reply with a number only."
    )


def within_tokens(problem: str, budget: int) -> list[Message]:
    """TALE's budgeted chain-of-thought prompt."""
    return messages(f"{problem}\n\nLet's think step by step and use less than {budget} tokens. {ANSWER_FORMAT}")


BUDGET_TAG = "budget"


def state_budget(problem: str) -> list[Message]:
    """SelfBudgeter's first phase: the model states its own budget before solving."""
    return messages(
        f"{problem}\n\nBefore solving, decide how many tokens your solution will need. Reply with only "
        f"<{BUDGET_TAG}>N</{BUDGET_TAG}>, where N is a whole number of tokens."
    )


def solve_within_budget(problem: str, stated: str, budget: int) -> list[Message]:
    """SelfBudgeter's second phase: the stated (or pre-filled) budget is the model's own turn."""
    return [
        *state_budget(problem),
        {"role": "assistant", "content": stated.strip()},
        {
            "role": "user",
            "content": f"Now solve the problem step by step in at most {budget} tokens. {ANSWER_FORMAT}",
        },
    ]
