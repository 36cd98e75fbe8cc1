"""The strategy registry and what the one-call strategies (none, rag, drag) share.

A strategy answers one sample of one question within a budget and returns a Candidate. Each lives in its own
module under llmopt/rag/strategies/, found by pkgutil (like lab stages), and declares everything callers ask
about it, so nothing outside its file names it:

    @strategy("rag", order=20, description="the k best chunks, then answer in one call")
    class Rag(OneCall):
        uses_retrieval = True
        presets = {"rag-k5": {"k": 5, "description": "retrieve 5 chunks, answer in one call"}}

Callers ask the registry: `strategy_class(name).uses_retrieval`, `.axes()`, `.canonical(m)`,
`.generation_calls(n)`; `get_strategy(name)` returns an instance to answer with. An unknown name fails with the
known ones.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from ..errors import ConfigError
from .answers import parse_answer
from .budget import Budget, ContextBudgetError, describe_fit, fit_prompt
from .layout import Prompt, build_prompt
from .run import Run, Sampling
from .types import Candidate

STRATEGY_PACKAGE = "llmopt.rag.strategies"
GRID_AXES = ("k", "m", "n", "samples")  # the per-strategy axes of an eval grid point
UNUSED_VALUE = {"k": 0, "m": 0, "n": 0, "samples": 1}  # what a grid point holds on an axis its strategy ignores

_REGISTRY: dict[str, type[Strategy]] = {}
_loaded = False


def strategy(name: str, *, order: int, description: str):
    """Register a Strategy subclass under `name`; `order` sorts listings (baseline first), `description` is the
    one line shown in help and serve listings."""
    def decorator(cls: type[Strategy]) -> type[Strategy]:
        cls.name, cls.order, cls.description = name, order, description
        _REGISTRY[name] = cls
        return cls

    return decorator


def _load() -> None:
    global _loaded
    if not _loaded:
        package = importlib.import_module(STRATEGY_PACKAGE)
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{STRATEGY_PACKAGE}.{info.name}")
        _loaded = True


def strategy_classes() -> list[type[Strategy]]:
    """Every registered strategy, baseline first (by order, then name)."""
    _load()
    return sorted(_REGISTRY.values(), key=lambda cls: (cls.order, cls.name))


def strategy_names() -> list[str]:
    return [cls.name for cls in strategy_classes()]


def strategy_class(name: str) -> type[Strategy]:
    """The class registered under `name` (its declarations, without building one); ConfigError names the known."""
    _load()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown strategy '{name}'; strategies: {', '.join(strategy_names())}")
    return _REGISTRY[name]


def get_strategy(name: str) -> Strategy:
    return strategy_class(name)()


def baseline_name() -> str:
    """The strategy every other is measured against: the first that retrieves nothing (the model alone)."""
    return next(cls.name for cls in strategy_classes() if not cls.uses_retrieval)


def strategy_help() -> str:
    """'none | rag | drag | iterdrag' for help text."""
    return " | ".join(strategy_names())


class Strategy(ABC):
    """One way of answering. Subclasses declare what they read; callers never test a strategy's name."""

    name: ClassVar[str] = "?"
    order: ClassVar[int] = 100
    description: ClassVar[str] = ""
    uses_retrieval: ClassVar[bool] = True  # reads k documents per question (needs an index)
    uses_demonstrations: ClassVar[bool] = False  # reads m demonstrations (needs a pool when m > 0)
    iterative: ClassVar[bool] = False  # makes up to n follow-up calls; demonstrations show the chain format
    # the strategy this one is with m = 0, when demonstrations are what make it itself (DRAG without them is RAG)
    without_demonstrations: ClassVar[str | None] = None
    # fit by the computation allocation model, whose θ = (k, m, generation calls) must describe what it runs
    allocatable: ClassVar[bool] = False
    # built-in serve presets: preset name -> settings (AskConfig fields) and a "description"
    presets: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def axes(cls) -> tuple[str, ...]:
        """The grid axes (of GRID_AXES) this strategy reads; the others are set to UNUSED_VALUE."""
        return tuple(axis for axis, used in (("k", cls.uses_retrieval), ("m", cls.uses_demonstrations),
                                             ("n", cls.iterative), ("samples", True)) if used)

    @classmethod
    def needs_demonstrations(cls) -> bool:
        return cls.without_demonstrations is not None

    @classmethod
    def canonical(cls, m: int) -> str:
        """The strategy that runs the same prompts with m demonstrations (itself unless m = 0 makes it another)."""
        return cls.without_demonstrations if cls.without_demonstrations and m == 0 else cls.name

    @classmethod
    def generation_calls(cls, n: int) -> int:
        """Generation calls one sample may make with n follow-ups (the allocation model's n)."""
        return 1

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
        baseline = baseline_name()
        raise ContextBudgetError(
            f"the context budget is too small for strategy {strat.name}: its smallest prompt needs {smallest} "
            f"tokens{f' plus {reserve} for later calls' if reserve else ''}, {room} are left; raise --max-context"
            + (f" or use --strategy {baseline}" if strat.name != baseline else ""))
    k2, m2, _ = fit
    note = describe_fit(k, m, k2, m2)
    if note:
        budget.note(note)
    return prompts[(k2, m2)]
