"""report.md / report.html of a sweep, written with the shared writer (llmopt.report) from summary.json:
the configuration table, quality against effective context per strategy and per model with the optimal
frontier, quality against latency and against cost (Pareto), retrieval recall@k, paired differences, and the
allocation model with predicted against measured quality on held-out configurations."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..report import Section, Table, bar_chart, parity, scatter, write_report

NAMES = {"acc": "Acc", "f1": "F1", "em": "EM"}


def _ci(entry: dict, metric: str) -> str:
    ci = entry.get(f"{metric}_ci")
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "–"


def _r(value, digits: int = 3):
    return None if value is None else round(value, digits)


def config_table(summary: dict) -> Table:
    metric = summary["metric"]
    rows = []
    for e in summary["configs"]:
        if not e["count"]:
            continue
        rows.append([e["label"], e["count"], _r(e["em"]), _r(e["f1"]), _r(e["acc"]), _ci(e, metric),
                     _r(e["evidence_recall"]), round(e["effective_context_mean"] or 0), _r(e["calls_mean"], 1),
                     _r(e["latency_p50_s"], 2), _r(e["latency_p95_s"], 2), e["cost_usd_mean"], e["errors"],
                     _r(e["budget_limited"], 2)])
    return Table(["configuration", "n", "EM", "F1", "Acc", f"{NAMES[metric]} 95% CI", "evidence recall",
                  "effective context", "calls", "p50 s", "p95 s", "cost $/q", "errors", "budget-limited"], rows,
                 "Means per question. Effective context: every input token of every call. Evidence recall: the share "
                 "of gold supporting evidence among the chunks the answer was given. Budget-limited: share of "
                 "questions whose prompt the planner shrank to fit --max-context.")


def _points(entries: list[dict], by: str, x: str, metric: str) -> dict:
    groups: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for e in entries:
        if e["count"] and e.get(x) is not None and e.get(metric) is not None:
            groups[str(e[by])][0].append(e[x])
            groups[str(e[by])][1].append(e[metric])
    return dict(groups)


def plots(out_dir: Path, summary: dict) -> list[tuple[str, Path]]:
    metric, entries = summary["metric"], [e for e in summary["configs"] if e["count"]]
    name = NAMES[metric]
    if not entries:
        return []
    made = [(f"{name} against effective context per strategy (log scale), with the optimal frontier",
             scatter(out_dir / "plots" / "context_by_strategy.png", _points(entries, "strategy",
                     "effective_context_mean", metric), f"{name} vs effective context", "effective context tokens",
                     name, logx=True, frontier=True))]
    if len({e["model"] for e in entries}) > 1:
        made.append((f"{name} against effective context per model (log scale)",
                     scatter(out_dir / "plots" / "context_by_model.png", _points(entries, "model",
                             "effective_context_mean", metric), f"{name} vs effective context by model",
                             "effective context tokens", name, logx=True, frontier=True)))
    made.append((f"{name} against median latency (Pareto frontier: nothing is both faster and better)",
                 scatter(out_dir / "plots" / "latency.png", _points(entries, "strategy", "latency_p50_s", metric),
                         f"{name} vs latency", "p50 latency per question (s)", name, frontier=True)))
    made.append((f"{name} against cost per question (Pareto frontier)",
                 scatter(out_dir / "plots" / "cost.png", _points(entries, "strategy", "cost_usd_mean", metric),
                         f"{name} vs cost", "cost per question ($)", name, frontier=True)))
    return made


def breakdown_tables(summary: dict) -> list[Table]:
    """Per grouping field (question kind, hops, type): the metric of every configuration on each group."""
    metric, entries = summary["metric"], [e for e in summary["configs"] if e["count"]]
    tables = []
    for name in dict.fromkeys(n for e in entries for n in e.get("by", {})):
        values = list(dict.fromkeys(v for e in entries for v in e["by"].get(name, {})))
        rows = [[e["label"]] + [_r(e["by"].get(name, {}).get(v, {}).get(metric)) for v in values] for e in entries]
        counts = {v: max(e["by"].get(name, {}).get(v, {}).get("count", 0) for e in entries) for v in values}
        tables.append(Table(["configuration"] + [f"{name}={v} (n={counts[v]})" for v in values], rows,
                            f"{NAMES[metric]} by question {name}."))
    return tables


def retrieval_section(summary: dict, out_dir: Path) -> Section | None:
    found = summary.get("retrieval")
    if not found:
        return None
    cutoffs = sorted(int(k.split("@")[1]) for k in found if k.startswith("recall@") and not k.endswith("_ci"))
    rows = [[f"recall@{k}", _r(found[f"recall@{k}"]), "[{:.2f}, {:.2f}]".format(*found[f"recall@{k}_ci"])]
            for k in cutoffs]
    plot = bar_chart(out_dir / "plots" / "recall.png", [f"@{k}" for k in cutoffs],
                     {"recall": [found[f"recall@{k}"] for k in cutoffs]}, "Retrieval recall@k", "recall")
    kind = {"page": "pages", "document": "documents"}.get(summary.get("evidence"), "paragraphs")
    return Section("Retrieval", f"Share of gold supporting {kind} among the top k retrieved for the question itself "
                   f"({found['count']} questions), independent of the answering configuration.",
                   [Table(["cut-off", "recall", "95% CI"], rows)], [("Retrieval recall@k", plot)])


def paired_section(summary: dict) -> Section | None:
    if not summary.get("paired"):
        return None
    rows = [[p["label"], p["baseline_label"], p["count"], _r(p["difference"]),
             f"[{p['ci'][0]:+.2f}, {p['ci'][1]:+.2f}]", "yes" if p["ci"][0] > 0 or p["ci"][1] < 0 else "no"]
            for p in summary["paired"]]
    return Section("Paired differences", f"{NAMES[summary['metric']]} of each configuration minus its model's "
                   "baseline on the same questions, with a 95% paired-bootstrap interval; 'clear' means the interval "
                   "excludes 0.", [Table(["configuration", "baseline", "n", "difference", "95% CI", "clear"], rows)])


def allocation_section(summary: dict, out_dir: Path) -> Section:
    section = summary["allocation_model"]
    rows, notes, held, held_rows = [], [], defaultdict(lambda: ([], [])), []
    for g in section["groups"]:
        if g.get("error"):
            notes.append(f"{g['model']} / {g['prompt']}: {g['error']}")
            continue
        rows.append([g["model"], g["prompt"], g["n_points"], *[_r(v) for v in g["a"]],
                     *([_r(v) for v in g["b"][:2]] if g["b"] else ["–", "–"]), _r(g["c"]), _r(g["r2"]),
                     _r(g["r2_p"]), len(g["holdout"]), _r(g["holdout_mae"])])
        notes += [f"{g['model']} / {g['prompt']}: {n}" for n in g.get("notes", [])]
        for h in g["holdout"]:
            held[g["model"]][0].append(h["predicted"])
            held[g["model"]][1].append(h["measured"])
            held_rows.append([g["model"], h["dataset"], f"{h['strategy']} k={h['k']} m={h['m']} n={h['n']}",
                              _r(h["predicted"]), _r(h["measured"])])
    tables = [Table(["model", "prompt", "points", "a_k", "a_m", "a_n", "b_k", "b_m", "c", "R² (logit)", "R²",
                     "held out", "held-out MAE"], rows, section["equation"])] if rows else []
    if held_rows:
        tables.append(Table(["model", "dataset", "held-out configuration (n = generation calls)", "predicted",
                             "measured"], held_rows, "Configurations left out of the fit, predicted by a model fit "
                             "on the others."))
    plots = []
    if held:
        plots.append(("Allocation model: predicted against measured quality on configurations left out of the fit",
                      parity(out_dir / "plots" / "allocation_holdout.png", dict(held), "Held-out configurations",
                             f"predicted {NAMES[summary['metric']]}", f"measured {NAMES[summary['metric']]}")))
    text = ("The computation allocation model (Yue et al., 2024) fit per model and prompt; R² on the logit scale "
            "and on the metric's scale. `llmopt allocate --from DIR --budget TOKENS` picks (k, m, n) for a budget.")
    return Section("Allocation model", text + ("\n\n" + "\n\n".join(notes) if notes else ""), tables, plots)


def write_eval_report(out_dir: str | Path, summary: dict, made: list[Section] | None = None) -> dict[str, Path]:
    """report.md/.html/.json under out_dir; `made`: sections already built with `sections` (plots are drawn once)."""
    return write_report(Path(out_dir), f"llmopt eval qa: {summary['dataset']}", made or sections(out_dir, summary),
                        meta={"dataset": summary["dataset"], "metric": NAMES[summary["metric"]]})


def sections(out_dir: str | Path, summary: dict) -> list[Section]:
    """The report's sections (drawing their plots under out_dir/plots)."""
    out_dir = Path(out_dir)
    sizes = summary["splits"]
    best = next((e for e in summary["configs"] if e["key"] == summary["best"]), None)
    metric = summary["metric"]
    overview = (f"{summary['dataset']} ({summary['dataset_path']}): {sizes['eval']} evaluation questions, "
                f"{sizes['demo']} held out as demonstrations, {sizes['train']} as training data (disjoint, fixed "
                f"splits; splits.json). {sum(1 for e in summary['configs'] if e['count'])} configurations measured.")
    if best:
        overview += (f" Best by {NAMES[metric]}: {best['label']} at {best[metric]:.3f} {_ci(best, metric)}, "
                     f"{best['effective_context_mean'] or 0:.0f} tokens of effective context per question.")
    if summary.get("skipped_rows"):
        overview += f" {summary['skipped_rows']} unreadable row(s) were skipped."
    made = [Section("Configurations", overview, [config_table(summary)] + breakdown_tables(summary),
                    plots(out_dir, summary))]
    made += [s for s in (retrieval_section(summary, out_dir), paired_section(summary)) if s]
    made.append(allocation_section(summary, out_dir))
    return made
