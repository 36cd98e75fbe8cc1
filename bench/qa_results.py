"""Markdown for bench/RESULTS.md from the QA benchmark folders (bench/results/qa/DATASET/MODEL/summary.json):
per configuration Acc / F1 / EM with the Acc CI, evidence recall, effective context, latency and cost; retrieval
recall@k; the allocation model's fit per sweep, and across the multi-hop datasets for each model run on several
(where the informativeness terms b ⊙ i are fit).

    .venv/bin/python bench/qa_results.py [bench/results/qa] >> bench/RESULTS.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from llmopt.eval.results import EvalSummary  # noqa: E402


def fmt(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _shown(folder: Path) -> str:
    try:
        return str(folder.resolve().relative_to(HERE.parent))
    except ValueError:
        return str(folder)


def load(folder: Path) -> EvalSummary:
    return EvalSummary.from_json(json.loads((folder / "summary.json").read_text()))


def section(folder: Path) -> list[str]:
    s = load(folder)
    lines = [f"#### {s.dataset} · {folder.name}", "",
             f"{s.splits['eval']} questions ({'complete' if s.complete else 'partial'}), "
             f"{s.splits['demo']} demonstrations; report: `{_shown(folder)}/report.md`.", "",
             "| configuration | n | Acc | Acc 95% CI | F1 | EM | evidence recall | eff. context | p50 s | p95 s "
             "| $/q |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in s.measured:
        ci = e.acc_ci or [None, None]
        lines.append(f"| {e.label} | {e.count} | {fmt(e.acc)} | [{fmt(ci[0], 2)}, {fmt(ci[1], 2)}] | "
                     f"{fmt(e.f1)} | {fmt(e.em)} | {fmt(e.evidence_recall, 2)} | "
                     f"{e.effective_context_mean or 0:.0f} | {fmt(e.latency_p50_s, 2)} | "
                     f"{fmt(e.latency_p95_s, 2)} | {e.cost_usd_mean or 0:.2e} |")
    retrieval = s.retrieval
    if retrieval:
        cutoffs = sorted(int(k.split("@")[1]) for k in retrieval if k.startswith("recall@") and "_ci" not in k)
        lines += ["", "Retrieval recall@k (question as the query): " + ", ".join(
            f"@{k} {retrieval[f'recall@{k}']:.2f}" for k in cutoffs)]
    for g in s.allocation_model["groups"]:
        if g.get("error"):
            lines += ["", f"Allocation model: {g['error']}"]
        else:
            lines += ["", f"Allocation model ({g['n_points']} configurations): a = {[round(v, 3) for v in g['a']]}, "
                      f"c = {g['c']:.3f}, R² (logit) = {fmt(g['r2'], 2)}, held-out MAE = {fmt(g['holdout_mae'])}"]
    return lines + [""]


def _round(values) -> list[float]:
    return [round(v, 2) for v in values]


def across(root: Path, budget: int = 1000) -> list[str]:
    """One allocation model per model over every dataset it was swept on with demonstrations (FinanceBench has
    none, so its informativeness cannot be measured): coefficients, i, fit, and the pick at `budget` tokens."""
    from llmopt.eval.allocation import allocate, fit_allocation, measured_best
    from llmopt.eval.api import load_observations

    by_model: dict[str, list[Path]] = {}
    for summary in sorted(root.glob("*/*/summary.json")):
        s = load(summary.parent)
        if s.complete and s.splits["demo"] > 0:
            by_model.setdefault(summary.parent.name, []).append(summary.parent)
    lines = []
    for model, folders in sorted(by_model.items()):
        if len(folders) < 2:
            continue
        observations, metric = load_observations(folders)
        f = fit_allocation(observations, metric=metric)  # one fit over every dataset; one pick per dataset
        picks = []
        for dataset in f.datasets:
            best = allocate(f, budget, dataset=dataset)["best"]
            seen = measured_best([o for o in observations if o.dataset == dataset], budget)
            measured = ("none within the budget" if seen is None else
                        f"{seen.strategy} k={seen.k} m={seen.m} n={seen.iterations} at {seen.value:.2f}")
            picks.append(f"{dataset}: predicted {best['strategy']} k={best['k']} m={best['m']} n={best['n']} at "
                         f"{best['predicted']:.2f}; best measured {measured}")
        info = "; ".join(f"{d} {_round(v[:2])}" for d, v in f.informativeness.items())
        lines += [f"- **{model}** over {', '.join(f.datasets)} ({f.n_points} configurations): "
                  f"a = {_round(f.a)}, b = {_round(f.b) if f.b else '–'}, c = {f.c:.2f}, "
                  f"i (doc, shot) = {info or '–'}; R² (logit) = {fmt(f.r2, 2)}, "
                  f"held-out MAE = {fmt(f.holdout_mae)}.",
                  f"  Within {budget} tokens: " + ". ".join(picks) + "."]
    if lines:
        lines = ["#### allocation model across datasets", "",
                 "One fit per model over the multi-hop sweeps, with the informativeness terms (`llmopt allocate "
                 "--from A,B`); n counts generation calls allowed (IterDRAG: 1 + follow-ups).", "", *lines, ""]
    return lines


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results" / "qa"
    for summary in sorted(root.glob("*/*/summary.json")) or sorted(root.glob("summary.json")):
        print("\n".join(section(summary.parent)))
    print("\n".join(across(root)))


if __name__ == "__main__":
    main()
