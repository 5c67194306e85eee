"""A dataset: its items (problem, reference answer), and the checker that judges an answer to one.

The default checker compares the final answer of a reply with the reference through
reasoning.answers (numbers, fractions, LaTeX, choice letters, words); a built-in set may bring its
own scorer instead. `DatasetError` is what every loader raises for a dataset it cannot load.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from reasoning import answers


class DatasetError(ValueError):
    """A dataset that cannot be loaded: unknown name, unreachable source or malformed file."""


@dataclass(frozen=True)
class Item:
    id: str
    problem: str
    reference: str
    dataset: str
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


Checker = Callable[[Item, str], bool]


def _final_answer(text: str) -> str:
    """Reduce a whole reply to its final answer; a bare answer only loses wrapping and a final period."""
    text = text.strip()
    if "\n" in text or re.match(r"(?i)\**\s*(final\s+)?answer\s*\**\s*[:：]", text):
        text = answers.extract_answer(text) or text
    return text.strip().strip("`*").strip().rstrip(".").strip()


def check_equivalent(item: Item, answer_text: str | None) -> bool:
    """The default checker: numbers, fractions, LaTeX and words compared by `answers.is_equivalent`."""
    if answer_text is None or not answer_text.strip():
        return False
    return bool(answers.is_equivalent(_final_answer(answer_text), item.reference))


@dataclass
class Dataset:
    name: str
    items: list[Item]
    checker: Checker = check_equivalent
    spec: str = ""  # what `load_dataset` takes to load it again, e.g. "builtin:chain_sum"
    description: str = ""

    def check(self, item: Item, answer_text: str | None) -> bool | None:
        """Is `answer_text` (a final answer, or a reply ending in an `Answer:` line) right for `item`?
        None for an item without a reference (a pasted problem given no answer): nothing to judge by."""
        if not item.reference.strip():
            return None
        if answer_text is None:
            return False
        return self.checker(item, answer_text)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def __getitem__(self, index: int) -> Item:
        return self.items[index]

    def subset(self, size: int | None, seed: int = 0) -> Dataset:
        """A seeded random `size` items in their original order (ids unchanged); None keeps all."""
        if size is None or size >= len(self.items):
            return self
        if size < 1:
            raise DatasetError(f"size must be at least 1, got {size}")
        picked = sorted(random.Random(seed).sample(range(len(self.items)), size))
        return Dataset(self.name, [self.items[i] for i in picked], self.checker, self.spec, self.description)
