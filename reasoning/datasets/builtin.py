"""Built-in sets, generated offline and deterministically: reasoning-gym's tasks, and graded_arithmetic.

Item i of a built-in set is the same for a (name, seed) whatever the size, and its id is
`name:seed:i`. Where the numeric checker does not fit (exact strings, word lists), reasoning-gym's
own scorer judges.
"""

from __future__ import annotations

import random
from typing import Any

from reasoning.datasets.base import Checker, Dataset, DatasetError, Item, _final_answer, check_equivalent

BUILTINS: dict[str, str] = {
    "graded_arithmetic": "one-digit, two-digit and two-step sums and products in turn, sized for the bundled "
                         "135M model (generated here, not by reasoning-gym); integer answers",
    "gsm_symbolic": "grade-school word problems (GSM8K templates with fresh numbers); integer answers",
    "basic_arithmetic": "one expression with + - * / and parentheses; integer answers",
    "chain_sum": "a chain of additions and subtractions of multi-digit numbers",
    "letter_counting": "how many times a letter occurs in a short text",
    "spell_backward": "spell a word backward (scored by reasoning-gym)",
    "family_relationships": "name the relation between two people in a family story (scored by reasoning-gym)",
    "word_sorting": "sort words by ASCII order, ascending or descending (scored by reasoning-gym)",
}
# Where the numeric checker does not fit (exact strings, word lists), reasoning-gym's own scorer judges.
_GYM_SCORED = {"spell_backward", "family_relationships", "word_sorting"}
DEFAULT_BUILTIN_SIZE = 20


def _gym_checker(gym_dataset: Any) -> Checker:
    def check(item: Item, answer_text: str) -> bool:
        entry = {"question": item.problem, "answer": item.reference, "metadata": item.meta}
        # reasoning-gym gives partial credit (e.g. edit similarity); only a full score counts as correct
        return float(gym_dataset.score_answer(_final_answer(answer_text), entry) or 0.0) >= 1.0

    return check


def load_builtin(name: str, size: int = DEFAULT_BUILTIN_SIZE, seed: int = 0) -> Dataset:
    """`size` problems generated offline by reasoning-gym; item i is the same for a (name, seed)
    whatever the size, and its id is `name:seed:i`."""
    if name not in BUILTINS:
        raise DatasetError(f"unknown built-in dataset {name!r}; available: {', '.join(BUILTINS)}")
    if size < 1:
        raise DatasetError(f"size must be at least 1, got {size}")
    if name == GRADED:
        return load_graded(size=size, seed=seed)
    import reasoning_gym  # heavy import, only when a built-in is asked for

    gym_dataset = reasoning_gym.create_dataset(name, size=size, seed=seed)
    entries = [gym_dataset[i] for i in range(size)]
    items = [
        Item(id=f"{name}:{seed}:{i}", problem=entry["question"], reference=str(entry["answer"]),
             dataset=name, meta=dict(entry.get("metadata") or {}))
        for i, entry in enumerate(entries)
    ]
    checker = _gym_checker(gym_dataset) if name in _GYM_SCORED else check_equivalent
    return Dataset(name, items, checker, spec=f"builtin:{name}", description=BUILTINS[name])


# ---------------------------------------------------------------------------------------------
# Graded arithmetic: a built-in set the bundled model can partly solve
#
# reasoning-gym's sets are far beyond SmolLM2-135M (5% on basic_arithmetic with any strategy, so every
# accuracy-budget curve is flat at 0). These levels were picked by measuring that model: it answers
# most one-digit problems, fewer two-digit ones and few two-step ones, so strategies and budgets
# differ (README, "Datasets", has the measured accuracies).

GRADED = "graded_arithmetic"
GRADED_LEVELS = ("one_digit", "two_digit", "two_step")


def graded_problem(seed: int, index: int) -> tuple[str, str, str]:
    """(level, problem, answer) of item `index`: the levels take turns, and each item has its own
    random stream seeded by (seed, index), so item i is the same whatever the dataset's size."""
    level = GRADED_LEVELS[index % len(GRADED_LEVELS)]
    rng = random.Random(f"{GRADED}:{seed}:{index}")  # str seeds hash with SHA-512: stable across runs
    if level == "one_digit":
        a, b, op = rng.randint(2, 9), rng.randint(2, 9), rng.choice("+-*")
        if op == "-" and a < b:
            a, b = b, a
        value = a + b if op == "+" else a - b if op == "-" else a * b
        text = f"{a} {op} {b}"
    elif level == "two_digit":
        a, b, op = rng.randint(10, 99), rng.randint(10, 99), rng.choice("+-")
        if op == "-" and a < b:
            a, b = b, a
        value = a + b if op == "+" else a - b
        text = f"{a} {op} {b}"
    else:  # two operations whose left-to-right order is also their precedence order
        first, second = rng.choice(["+-", "-+", "++", "*+", "*-"])
        b, c = rng.randint(2, 8), rng.randint(2, 9)
        a = rng.randint(b + 1, 9) if first == "-" else rng.randint(2, 9)  # no negative partial result
        partial = a + b if first == "+" else a - b if first == "-" else a * b
        if second == "-" and partial < c:
            c = rng.randint(1, partial)
        value = partial + c if second == "+" else partial - c
        text = f"{a} {first} {b} {second} {c}"
    return level, f"What is {text}?", str(value)


def load_graded(size: int = DEFAULT_BUILTIN_SIZE, seed: int = 0) -> Dataset:
    """`size` graded_arithmetic items (pure Python, no network); ids `graded_arithmetic:seed:i`."""
    if size < 1:
        raise DatasetError(f"size must be at least 1, got {size}")
    items = []
    for index in range(size):
        level, problem, answer = graded_problem(seed, index)
        items.append(Item(id=f"{GRADED}:{seed}:{index}", problem=problem, reference=answer, dataset=GRADED,
                          meta={"level": level}))
    return Dataset(GRADED, items, check_equivalent, spec=f"builtin:{GRADED}", description=BUILTINS[GRADED])
