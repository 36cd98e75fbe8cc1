"""The strategy registry and what the one-call strategies (none, rag, drag) share.

A strategy answers one sample of one question within a budget and returns a Candidate:

    @strategy("rag")
    class Rag(OneCall): ...

`get_strategy(name)` fails with the known names. Modules under llmopt/rag named in STRATEGY_MODULES register
themselves on import.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod

from ..errors import ConfigError
from .answers import parse_answer
from .budget import Budget, ContextBudgetError, describe_fit, fit_prompt
from .layout import Prompt, build_prompt
from .run import Run, Sampling
from .types import Candidate

STRATEGY_MODULES = ("none", "rag", "drag", "iterdrag")
_REGISTRY: dict[str, type["Strategy"]] = {}


def strategy(name: str):
    def decorator(cls: type["Strategy"]) -> type["Strategy"]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def strategy_names() -> list[str]:
    for module in STRATEGY_MODULES:
        importlib.import_module(f"llmopt.rag.{module}")
    order = {name: i for i, name in enumerate(STRATEGY_MODULES)}
    return sorted(_REGISTRY, key=lambda name: (order.get(name, len(order)), name))


def get_strategy(name: str) -> "Strategy":
    if name not in strategy_names():
        raise ConfigError(f"unknown strategy '{name}'; strategies: {', '.join(strategy_names())}")
    return _REGISTRY[name]()


class Strategy(ABC):
    name = "?"
    uses_retrieval = True
    uses_demonstrations = False
    iterative = False  # demonstrations show the IterDRAG chain format

    @abstractmethod
    def answer(self, run: Run, budget: Budget, sampling: Sampling) -> Candidate:
        """One sample's answer; raises ContextBudgetError when even the smallest prompt does not fit."""


class OneCall(Strategy):
    """Build one prompt (k documents, m demonstrations, shrunk to fit the budget) and answer in one call."""

    def sizes(self, run: Run) -> tuple[int, int]:
        return (run.k if self.uses_retrieval else 0), (run.m if self.uses_demonstrations else 0)

    def prompt(self, run: Run, k: int, m: int) -> Prompt:
        return build_prompt(run.llm, run.template, run.question, run.search(run.question, k),
                            run.demonstrations(m, k), iterative=self.iterative)

    def answer(self, run: Run, budget: Budget, sampling: Sampling) -> Candidate:
        k, m = self.sizes(run)
        prompt = plan_prompt(self, run, budget, k, m, run.max_tokens)
        gen = run.complete(prompt, budget, kind="answer", sampling=sampling, max_tokens=run.max_tokens,
                           hits=prompt.hits)
        text, ok = parse_answer(gen.text, run.template.answer_marker)
        return Candidate(text, sampling.index, list(prompt.hits), gen, parse_failures=0 if ok else 1)


def plan_prompt(strat: OneCall, run: Run, budget: Budget, k: int, m: int, answer_tokens: int,
                reserve: int = 0) -> Prompt:
    """The largest prompt (k and m shrunk as needed) that fits the budget, keeping `reserve` tokens for later
    calls; raises ContextBudgetError naming the smallest prompt's size."""
    prompts: dict[tuple[int, int], Prompt] = {}

    def count(k2: int, m2: int) -> int:
        if (k2, m2) not in prompts:
            prompts[(k2, m2)] = strat.prompt(run, k2, m2)
        return run.count(prompts[(k2, m2)].text) + reserve

    room = budget.room(answer_tokens)
    fit = fit_prompt(count, k, m, room, k_min=min(1, k))
    if fit is None:
        smallest = count(min(1, k), 0) - reserve
        raise ContextBudgetError(
            f"the context budget is too small for strategy {strat.name}: its smallest prompt needs {smallest} "
            f"tokens{f' plus {reserve} for later calls' if reserve else ''}, {room} are left; raise --max-context"
            + (" or use --strategy none" if strat.name != "none" else ""))
    k2, m2, _ = fit
    note = describe_fit(k, m, k2, m2)
    if note:
        budget.note(note)
    return prompts[(k2, m2)]
