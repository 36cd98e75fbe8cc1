"""summary.json from results.jsonl: quality with 95% bootstrap CIs, effective context, latency percentiles and
cost per configuration; retrieval recall@k; paired differences against each model's baseline; the allocation
model. Pure aggregation over records into an EvalSummary, so a summary can be regenerated from the results at
any time."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..errors import LlmoptError
from ..jsonl import read_jsonl
from ..paths import atomic_write_text
from ..rag.strategy import strategy_class
from ..stats import bootstrap_ci, paired_bootstrap_ci
from .allocation import Observation, eligible, fit_groups
from .datasets import QADataset
from .grid import GridPoint, SweepConfig
from .metrics import QUALITY_METRICS, mean, percentiles, recall_at_k
from .results import ConfigSummary, EvalRecord, EvalSummary, PairedDifference
from .splits import Splits

Rows = dict[tuple[str, str], EvalRecord]  # (configuration key, question id) -> its latest record


def _ci(values: list[float]) -> tuple[float | None, list[float] | None]:
    if not values:
        return None, None
    value, low, high = bootstrap_ci(values)
    return value, [low, high]


def _usage(rows: list[EvalRecord], field: str) -> list[float]:
    return [r.used(field) for r in rows]


def summarize_config(config: GridPoint, rows: list[EvalRecord], total: int) -> ConfigSummary:
    """One configuration over the questions it has finished (count) out of those asked (total)."""
    entry: dict[str, Any] = {**config.to_json(), "key": config.key, "label": config.label(), "count": len(rows),
                             "missing": total - len(rows)}
    for metric in QUALITY_METRICS:
        entry[metric], entry[f"{metric}_ci"] = _ci([r.metric(metric) for r in rows])
    recalls = [r.evidence_recall for r in rows if r.evidence_recall is not None]
    entry["evidence_recall"], entry["evidence_recall_ci"] = _ci(recalls)
    entry["by"] = breakdown(rows)
    latency = _usage(rows, "latency_s")
    p = percentiles(latency, (50, 95))
    cost = _usage(rows, "cost_usd")
    entry.update({
        "effective_context_mean": mean(_usage(rows, "effective_context_tokens")),
        "prompt_tokens_mean": mean(_usage(rows, "prompt_tokens")),
        "cached_prompt_tokens_mean": mean(_usage(rows, "cached_prompt_tokens")),
        "completion_tokens_mean": mean(_usage(rows, "completion_tokens")),
        "calls_mean": mean(_usage(rows, "calls")),
        "latency_mean_s": mean(latency), "latency_p50_s": p[50], "latency_p95_s": p[95],
        "compute_s_total": sum(_usage(rows, "compute_s")),
        "cost_usd_total": sum(cost), "cost_usd_mean": mean(cost),
        "errors": sum(1 for r in rows if r.error),
        "parse_failures": sum(r.parse_failures for r in rows),
        "budget_limited": mean([1.0 if r.budget_notes else 0.0 for r in rows]),
    })
    return ConfigSummary(**entry)


def breakdown(rows: list[EvalRecord]) -> dict[str, dict[str, dict]]:
    """Quality by item group (HotpotQA type/level, MuSiQue hops, the demo set's kind): {field: {value: {...}}}."""
    groups: dict[str, dict[str, list[EvalRecord]]] = {}
    for row in rows:
        for name, value in row.groups.items():
            groups.setdefault(name, {}).setdefault(str(value), []).append(row)
    return {name: {value: {"count": len(members), **{m: mean(r.metric(m) for r in members) for m in QUALITY_METRICS}}
                   for value, members in sorted(values.items())}
            for name, values in groups.items() if len(values) > 1}


def latest_rows(path: Path) -> Rows:
    from .runner import read_records

    return {(r.key, r.id): r for r in read_records(path)}


def _order(strategy: str) -> int:
    try:
        return strategy_class(strategy).order
    except LlmoptError:  # measured by a strategy this installation no longer has: listed last
        return 10**6


def _configs(grid: list[GridPoint], rows: Rows) -> list[GridPoint]:
    """The grid's configurations, then any an earlier run of this folder measured (a sweep can grow)."""
    found = {c.key: c for c in grid}
    for (key, _), row in rows.items():
        if key not in found:
            found[key] = row.point
    models = list(dict.fromkeys(c.model for c in found.values()))
    return sorted(found.values(), key=lambda c: (models.index(c.model), _order(c.strategy), c.prompt, c.k, c.m, c.n,
                                                 c.samples, c.max_context or 0))


def _baseline(own: list[GridPoint]) -> GridPoint:
    """A model's baseline: its first configuration that retrieves nothing, else its first."""
    return next((c for c in own if not strategy_class(c.strategy).uses_retrieval), own[0])


def paired_differences(configs: list[GridPoint], rows: Rows, ids: list[str], metric: str) -> list[PairedDifference]:
    """Each configuration against its model's baseline, over the questions both finished: mean difference and its
    95% paired-bootstrap CI."""
    out = []
    for model in dict.fromkeys(c.model for c in configs):
        own = [c for c in configs if c.model == model]
        base = _baseline(own)
        for config in own:
            if config is base:
                continue
            shared = [i for i in ids if (config.key, i) in rows and (base.key, i) in rows]
            if not shared:
                continue
            diff, low, high = paired_bootstrap_ci([rows[(config.key, i)].metric(metric) for i in shared],
                                                  [rows[(base.key, i)].metric(metric) for i in shared])
            out.append(PairedDifference(config=config.key, label=config.label(), baseline=base.key,
                                        baseline_label=base.label(), metric=metric, count=len(shared),
                                        difference=diff, ci=[low, high]))
    return out


def retrieval_recall(path: Path, ids: list[str], cutoffs: list[int]) -> dict[str, Any] | None:
    rows = {r["id"]: r for r in read_jsonl(path)}
    found = [rows[i] for i in ids if i in rows]
    if not found:
        return None
    result: dict[str, Any] = {"count": len(found), "depth": max(r["depth"] for r in found)}
    for k in sorted(set(cutoffs)):
        result[f"recall@{k}"], result[f"recall@{k}_ci"] = _ci([recall_at_k(r["retrieved"], r["gold"], k)
                                                               for r in found])
    return result


def allocation_section(dataset: str, entries: list[ConfigSummary], metric: str) -> dict[str, Any]:
    observations = [Observation.from_config(dataset, e, metric) for e in entries if eligible(e, metric)]
    return {"metric": metric, "equation": "logit(P) = (a + b*i)^T [log(1+k), log(1+m), log(n)] + c",
            "groups": fit_groups(observations, metric)}


def summarize_run(out_dir: Path, dataset: QADataset, splits: Splits, grid: list[GridPoint],
                  cfg: SweepConfig) -> EvalSummary:
    rows = latest_rows(out_dir / "results.jsonl")
    ids = [i.id for i in splits.eval]
    configs = _configs(grid, rows)
    entries = [summarize_config(c, [rows[(c.key, i)] for i in ids if (c.key, i) in rows], len(ids))
               for c in configs]
    measured = [e for e in entries if e.count]
    best = max(measured, key=lambda e: (e.metric(cfg.metric), -(e.effective_context_mean or 0.0),
                                         -(e.cost_usd_mean or 0.0)), default=None)
    summary = EvalSummary(
        dataset=dataset.name, dataset_path=dataset.path, fingerprint=dataset.fingerprint,
        evidence=dataset.evidence_kind, splits=splits.sizes(), skipped_rows=len(dataset.skipped),
        metric=cfg.metric, generated=time.strftime("%Y-%m-%d %H:%M:%S"),
        complete=all(e.missing == 0 for e in entries), configs=entries,
        best=best.key if best else None,
        paired=paired_differences(configs, rows, ids, cfg.metric),
        retrieval=retrieval_recall(out_dir / "retrieval.jsonl", ids, cfg.recall_k),
        allocation_model=allocation_section(dataset.name, measured, cfg.metric),
    )
    atomic_write_text(out_dir / "summary.json", json.dumps(summary.to_json(), indent=2, default=str))
    return summary
