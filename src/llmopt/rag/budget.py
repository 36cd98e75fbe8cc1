"""The context-budget planner. `--max-context` caps the effective context of a question: every input token of
every model call made for it (samples, sub-questions and judge calls included). Each call is planned to fit
min(remaining budget, model context − answer room); the planner shrinks k and m, stops iterating or sampling, and
records each concession in `notes` — it never goes over the budget silently.

Pure bookkeeping and search: the caller supplies a function that counts a candidate prompt's tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ConfigError


class ContextBudgetError(ConfigError):
    """The smallest useful prompt does not fit the context budget."""


class BudgetOverrun(RuntimeError):
    """A call was about to go over the budget: a planning bug, never a user error."""


@dataclass
class Budget:
    """Tokens a question may still read. A share is a child budget whose spending also counts in its parent."""

    limit: int | None  # None: no budget beyond each call's context window
    context_length: int
    spent: int = 0
    notes: list[str] = field(default_factory=list)
    parent: "Budget | None" = None

    @property
    def remaining(self) -> int | None:
        own = None if self.limit is None else self.limit - self.spent
        above = self.parent.remaining if self.parent is not None else None
        if own is None:
            return above
        return own if above is None else min(own, above)

    def room(self, answer_tokens: int) -> int:
        """The most prompt tokens the next call may have: what is left, within the model's window."""
        window = self.context_length - max(1, answer_tokens)
        remaining = self.remaining
        return window if remaining is None else min(window, remaining)

    def affords(self, tokens: int) -> bool:
        remaining = self.remaining
        return remaining is None or tokens <= remaining

    def charge(self, tokens: int) -> None:
        if not self.affords(tokens):
            raise BudgetOverrun(f"a call of {tokens} prompt tokens with {self.remaining} left in the budget")
        self.spent += tokens
        if self.parent is not None:
            self.parent.charge_through(tokens)

    def charge_through(self, tokens: int) -> None:
        self.spent += tokens
        if self.parent is not None:
            self.parent.charge_through(tokens)

    def share(self, tokens: int | None) -> "Budget":
        """A child budget of at most `tokens` (None: whatever the parent has left)."""
        return Budget(tokens, self.context_length, parent=self, notes=self.notes)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def largest_fitting(count: Callable[[int], int], high: int, low: int, room: int) -> tuple[int, int] | None:
    """The largest n in [low, high] with count(n) <= room (count grows with n), and its count; None if even low
    does not fit."""
    best = None
    lo, hi = low, high
    while lo <= hi:
        mid = (lo + hi) // 2
        tokens = count(mid)
        if tokens <= room:
            best, lo = (mid, tokens), mid + 1
        else:
            hi = mid - 1
    return best


def fit_prompt(count: Callable[[int, int], int], k: int, m: int, room: int,
               k_min: int = 1) -> tuple[int, int, int] | None:
    """The largest (k', m') <= (k, m) whose prompt fits in `room` tokens, and its token count.

    Demonstrations go first: each carries k documents of its own, so one costs more than a document of the
    question, and Yue et al. find documents the better buy at small budgets. Then the question's documents
    shrink, down to k_min. None when even (k_min, 0) does not fit."""
    full = count(k, m)
    if full <= room:
        return k, m, full
    if m > 0:
        found = largest_fitting(lambda m2: count(k, m2), m - 1, 0, room)
        if found is not None:
            return k, found[0], found[1]
    found = largest_fitting(lambda k2: count(k2, 0), k - 1, min(k_min, k), room)
    return None if found is None else (found[0], 0, found[1])


def describe_fit(k: int, m: int, k2: int, m2: int) -> str | None:
    changes = [f"{name} {a}→{b}" for name, a, b in (("k", k, k2), ("m", m, m2)) if a != b]
    return f"shrank {' and '.join(changes)} to fit the context budget" if changes else None
