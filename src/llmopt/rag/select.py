"""Output selection over sampled candidates (one registry):

    vote     self-consistency: the most frequent normalised answer (Wang et al., 2023)
    judge    best-of-N: a judge prompt scores each distinct answer against the evidence it was given
    logprob  best-of-N by the mean token logprob of the answer call (backends that return logprobs)

Judge calls count in the effective context and are planned within the budget; when they do not fit, selection
falls back to voting and says so.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from ..errors import ConfigError
from .answers import normalize
from .budget import Budget, largest_fitting
from .layout import Prompt, document_views
from .prompts import load_template
from .run import Run, Sampling
from .types import Candidate

Selector = Callable[[Run, list[Candidate], Budget], int]
SELECTORS: dict[str, Selector] = {}
_SCORE = re.compile(r"[1-5]")


def selector(name: str):
    def decorator(func: Selector) -> Selector:
        SELECTORS[name] = func
        return func

    return decorator


def get_selector(name: str) -> Selector:
    if name not in SELECTORS:
        raise ConfigError(f"unknown selection '{name}'; choose one of: {', '.join(SELECTORS)}")
    return SELECTORS[name]


def select(name: str, run: Run, candidates: list[Candidate], budget: Budget) -> int:
    """The index of the chosen candidate (each candidate's `score` is filled in)."""
    if len(candidates) == 1:
        return 0
    return get_selector(name)(run, candidates, budget)


@selector("vote")
def vote(run: Run, candidates: list[Candidate], budget: Budget) -> int:
    counts = Counter(normalize(c.answer) for c in candidates if normalize(c.answer))
    for c in candidates:
        c.score = float(counts.get(normalize(c.answer), 0))
    return _best(candidates, counts)


def _best(candidates: list[Candidate], counts: Counter) -> int:
    """Highest score; ties go to the more frequent answer, then to the earlier sample."""
    ranked = sorted(range(len(candidates)), key=lambda i: (
        -(candidates[i].score if candidates[i].score is not None else float("-inf")),
        -counts.get(normalize(candidates[i].answer), 0), i))
    return ranked[0]


@selector("logprob")
def by_logprob(run: Run, candidates: list[Candidate], budget: Budget) -> int:
    scored = [c.final.mean_logprob if c.final is not None else None for c in candidates]
    if all(s is None for s in scored):
        budget.note("logprob selection: no candidate has token logprobs; voted instead")
        return vote(run, candidates, budget)
    for c, s in zip(candidates, scored):
        c.score = s if s is not None else float("-inf")
    return _best(candidates, Counter(normalize(c.answer) for c in candidates))


@selector("judge")
def by_judge(run: Run, candidates: list[Candidate], budget: Budget) -> int:
    counts = Counter(normalize(c.answer) for c in candidates)
    distinct = list(dict.fromkeys(normalize(c.answer) for c in candidates if normalize(c.answer)))
    if len(distinct) <= 1:
        return vote(run, candidates, budget)
    scores: dict[str, float] = {}
    for position, key in enumerate(distinct):
        first = next(c for c in candidates if normalize(c.answer) == key)
        share = None if budget.remaining is None else budget.remaining // (len(distinct) - position)
        scored = judge_one(run, first, budget, share)
        if scored is None:
            budget.note(f"judge selection: budget left for {position} of {len(distinct)} judge calls; voted instead")
            return vote(run, candidates, budget)
        scores[key] = scored
    for c in candidates:
        c.score = scores.get(normalize(c.answer), 0.0)
    return _best(candidates, counts)


def judge_one(run: Run, candidate: Candidate, budget: Budget, share: int | None) -> float | None:
    """Score one answer 1..5 against its evidence (as many of its documents as fit the share); 0 when the reply
    has no score; None when not even the evidence-free prompt fits."""
    template = load_template("judge")
    hits = candidate.hits[: max(run.k, 1)]

    def prompt_for(count: int) -> Prompt:
        user = template.render(question=run.question, answer=candidate.answer,
                               documents=document_views(hits[:count]))
        return Prompt(run.llm.apply_chat_template([{"role": "user", "content": user}]), 0, tuple(hits[:count]))

    room = budget.room(4) if share is None else min(budget.room(4), share)
    fit = largest_fitting(lambda n: run.count(prompt_for(n).text), len(hits), 0, room)
    if fit is None:
        return None
    prompt = prompt_for(fit[0])
    gen = run.complete(prompt, budget, kind="judge", sampling=Sampling(index=candidate.sample), max_tokens=4,
                       hits=prompt.hits)
    found = _SCORE.search(gen.text)
    if not found:
        candidate.parse_failures += 1
        return 0.0
    return float(found.group(0))
