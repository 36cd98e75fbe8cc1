"""The finalists on the whole split: each configuration summarised with its 95% CIs (the sweep's own summary),
paired differences against the leader on the same questions, and the Candidate each becomes for the choice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..eval.datasets import QAItem
from ..eval.grid import GridPoint
from ..eval.results import ConfigSummary, EvalRecord, PairedDifference
from ..eval.summary import summarize_config
from ..stats import paired_bootstrap_ci
from .evaluator import Evaluator
from .pareto import Candidate


@dataclass
class Final:
    summaries: list[ConfigSummary]
    paired: list[PairedDifference]  # each finalist minus the leader
    candidates: list[Candidate]


def candidate(summary: ConfigSummary, metric: str) -> Candidate:
    value = summary.metric(metric) or 0.0
    low, high = (getattr(summary, f"{metric}_ci", None) or [value, value])
    return Candidate(key=summary.key, label=summary.label, quality=value, ci_low=low, ci_high=high,
                     usd_per_query=summary.cost_usd_mean or 0.0, p95_latency_s=summary.latency_p95_s or 0.0,
                     context_tokens=summary.effective_context_mean or 0.0, count=summary.count,
                     errors=summary.errors)


def run_finalists(finalists: Sequence[GridPoint], questions: Sequence[QAItem], evaluator: Evaluator,
                  metric: str = "acc", check=None, on_config=None) -> Final:
    records: dict[str, list[EvalRecord]] = {}
    if hasattr(evaluator, "refresh"):
        evaluator.refresh()  # answers other workers made meanwhile
    for config in finalists:
        if on_config:
            on_config(config)
        records[config.key] = evaluator.records(config, questions, check)
    summaries = [summarize_config(c, records[c.key], len(questions)) for c in finalists]
    ranked = sorted(summaries, key=lambda s: -(s.metric(metric) or 0.0))
    paired = []
    if ranked:
        leader = ranked[0]
        lead = {r.id: r.metric(metric) for r in records[leader.key]}
        for s in ranked[1:]:
            own = {r.id: r.metric(metric) for r in records[s.key]}
            shared = [i for i in own if i in lead]
            if shared:
                diff, low, high = paired_bootstrap_ci([own[i] for i in shared], [lead[i] for i in shared])
                paired.append(PairedDifference(config=s.key, label=s.label, baseline=leader.key,
                                               baseline_label=leader.label, metric=metric, count=len(shared),
                                               difference=diff, ci=[low, high]))
    return Final(summaries, paired, [candidate(s, metric) for s in summaries])
