"""summary.json from results.jsonl: quality with 95% bootstrap CIs, effective context, latency percentiles and
cost per configuration; retrieval recall@k; paired differences against each model's baseline; the allocation
model. Pure aggregation over rows, so a summary can be regenerated from the results at any time."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..paths import atomic_write_text
from ..stats import bootstrap_ci, paired_bootstrap_ci
from .allocation import ALLOCATED, Observation, fit_groups
from .datasets import QADataset
from .grid import AXES, SweepConfig, key_of, label_of
from .metrics import QUALITY_METRICS, mean, percentiles, recall_at_k
from .splits import Splits


def _ci(values: list[float]) -> tuple[float | None, list[float] | None]:
    if not values:
        return None, None
    value, low, high = bootstrap_ci(values)
    return value, [low, high]


def _usage(rows: list[dict], field: str) -> list[float]:
    return [float((r.get("usage") or {}).get(field) or 0.0) for r in rows]


def summarize_config(config: dict, rows: list[dict], total: int) -> dict[str, Any]:
    """One configuration over the questions it has finished (count) out of those asked (total)."""
    entry: dict[str, Any] = {**{axis: config[axis] for axis in AXES}, "key": key_of(config),
                             "label": label_of(config), "count": len(rows), "missing": total - len(rows)}
    for metric in QUALITY_METRICS:
        entry[metric], entry[f"{metric}_ci"] = _ci([float(r[metric]) for r in rows])
    recalls = [r["evidence_recall"] for r in rows if r.get("evidence_recall") is not None]
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
        "errors": sum(1 for r in rows if r.get("error")),
        "parse_failures": sum(int(r.get("parse_failures") or 0) for r in rows),
        # share of questions whose prompt the budget planner had to shrink: their k/m is not the nominal one
        "budget_limited": mean([1.0 if r.get("budget_notes") else 0.0 for r in rows]),
    })
    return entry


def breakdown(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """Quality by item group (HotpotQA type/level, MuSiQue hops, the demo set's kind): {field: {value: {...}}}."""
    groups: dict[str, dict[str, list[dict]]] = {}
    for row in rows:
        for name, value in (row.get("groups") or {}).items():
            groups.setdefault(name, {}).setdefault(str(value), []).append(row)
    return {name: {value: {"count": len(members), **{m: mean(float(r[m]) for r in members) for m in QUALITY_METRICS}}
                   for value, members in sorted(values.items())}
            for name, values in groups.items() if len(values) > 1}


def latest_rows(path: Path) -> dict[tuple[str, str], dict]:
    from .runner import read_jsonl

    return {(r["key"], r["id"]): r for r in read_jsonl(path)}


def _configs(grid: list[dict], rows: dict[tuple[str, str], dict]) -> list[dict]:
    """The grid's configurations, then any an earlier run of this folder measured (a sweep can grow)."""
    found = {key_of(c): c for c in grid}
    for (key, _), row in rows.items():
        if key not in found:
            found[key] = {axis: row[axis] for axis in AXES}
    models = list(dict.fromkeys(c["model"] for c in found.values()))
    order = {name: i for i, name in enumerate(("none", "rag", "drag", "iterdrag"))}
    return sorted(found.values(), key=lambda c: (models.index(c["model"]), order.get(c["strategy"], 9), c["prompt"],
                                                 c["k"], c["m"], c["n"], c["samples"], c["max_context"] or 0))


def paired_differences(configs: list[dict], rows: dict, ids: list[str], metric: str) -> list[dict]:
    """Each configuration against its model's baseline (the first `none` configuration, else its first), over
    the questions both finished: mean difference and its 95% paired-bootstrap CI."""
    out = []
    for model in dict.fromkeys(c["model"] for c in configs):
        own = [c for c in configs if c["model"] == model]
        base = next((c for c in own if c["strategy"] == "none"), own[0])
        for config in own:
            if config is base:
                continue
            shared = [i for i in ids if (key_of(config), i) in rows and (key_of(base), i) in rows]
            if not shared:
                continue
            diff, low, high = paired_bootstrap_ci([rows[(key_of(config), i)][metric] for i in shared],
                                                  [rows[(key_of(base), i)][metric] for i in shared])
            out.append({"config": key_of(config), "label": label_of(config), "baseline": key_of(base),
                        "baseline_label": label_of(base), "metric": metric, "count": len(shared),
                        "difference": diff, "ci": [low, high]})
    return out


def retrieval_recall(path: Path, ids: list[str], cutoffs: list[int]) -> dict[str, Any] | None:
    from .runner import read_jsonl

    rows = {r["id"]: r for r in read_jsonl(path)}
    found = [rows[i] for i in ids if i in rows]
    if not found:
        return None
    result: dict[str, Any] = {"count": len(found), "depth": max(r["depth"] for r in found)}
    for k in sorted(set(cutoffs)):
        result[f"recall@{k}"], result[f"recall@{k}_ci"] = _ci([recall_at_k(r["retrieved"], r["gold"], k)
                                                               for r in found])
    return result


def allocation_section(dataset: str, entries: list[dict], metric: str) -> dict[str, Any]:
    observations = [Observation.from_config(dataset, e, metric) for e in entries
                    if e["count"] and e["samples"] == 1 and e["strategy"] in ALLOCATED
                    and (e["budget_limited"] or 0) <= 0.5 and e[metric] is not None]
    return {"metric": metric, "equation": "logit(P) = (a + b*i)^T [log(1+k), log(1+m), log(n)] + c",
            "groups": fit_groups(observations, metric)}


def summarize_run(out_dir: Path, dataset: QADataset, splits: Splits, grid: list[dict], cfg: SweepConfig) -> dict:
    rows = latest_rows(out_dir / "results.jsonl")
    ids = [i.id for i in splits.eval]
    configs = _configs(grid, rows)
    entries = [summarize_config(c, [rows[(key_of(c), i)] for i in ids if (key_of(c), i) in rows], len(ids))
               for c in configs]
    measured = [e for e in entries if e["count"]]
    best = max(measured, key=lambda e: (e[cfg.metric], -(e["effective_context_mean"] or 0.0),
                                         -(e["cost_usd_mean"] or 0.0)), default=None)
    summary = {
        "dataset": dataset.name, "dataset_path": dataset.path, "fingerprint": dataset.fingerprint,
        "evidence": dataset.evidence_kind, "splits": splits.sizes(), "skipped_rows": len(dataset.skipped),
        "metric": cfg.metric, "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "complete": all(e["missing"] == 0 for e in entries), "configs": entries,
        "best": best["key"] if best else None,
        "paired": paired_differences(configs, rows, ids, cfg.metric),
        "retrieval": retrieval_recall(out_dir / "retrieval.jsonl", ids, cfg.recall_k),
        "allocation_model": allocation_section(dataset.name, measured, cfg.metric),
    }
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2, default=str))
    return summary
