"""What the project's QA search reports: the verdict first (what won, why, what it costs, the Pareto plots), then
the finalists with CIs and paired differences, the screening (every configuration's furthest rung) and what the
search spent against what the full grid would have. Numbers are written for people (llmopt.report.format)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..report import LadderRow, Section, Table, Verdict, pareto_plot
from ..report.format import percent, seconds, tokens, usd_per_1k
from ..optimize.pareto import front

METRIC_NAMES = {"acc": "accuracy", "f1": "token F1", "em": "exact match"}


def _rung(strategy: str) -> str:
    from ..rag.strategy import strategy_class

    declared = strategy_class(strategy)
    if not declared.uses_retrieval:
        return "prompting"
    return strategy.upper() if strategy in ("rag", "drag") else ("IterDRAG" if strategy == "iterdrag" else strategy)


def qa_ladder(final, metric: str) -> list[LadderRow]:
    return [LadderRow(_rung(s.strategy), s.label, metric, s.metric(metric) or 0.0,
                      *(getattr(s, f"{metric}_ci") or (None, None)), latency_s=s.latency_mean_s,
                      cost_usd=s.cost_usd_mean, n=s.count, stage="qa") for s in final.summaries]


def _pareto_points(final, chosen_key: str | None, cost: str) -> list[dict[str, Any]]:
    on_front = {c.key for c in front(final.candidates, cost)}
    x = {"usd_per_query": lambda c: c.usd_per_query * 1000, "p95_latency_s": lambda c: c.p95_latency_s}[cost]
    return [{"label": c.label, "x": x(c), "y": c.quality, "y_low": c.ci_low, "y_high": c.ci_high,
             "on_front": c.key in on_front, "chosen": c.key == chosen_key} for c in final.candidates]


def qa_verdict(out_dir: Path, final, choice, outcome, evaluator, grid: dict, metric: str, generated: bool,
               dataset, pipeline: Path | None) -> Verdict:
    name = METRIC_NAMES.get(metric, metric)
    chosen = choice.chosen
    cost_front = front(final.candidates)
    plots = []
    key = chosen.key if chosen else None
    if final.candidates:
        plots.append(("Quality against cost (the Pareto front joined; the chosen configuration starred)",
                      pareto_plot(_pareto_points(final, key, "usd_per_query"), out_dir / "plots" / "pareto_cost.png",
                                  x_label="$ per 1,000 queries", y_label=name, title=f"{name} against cost")))
        plots.append(("Quality against p95 latency",
                      pareto_plot(_pareto_points(final, key, "p95_latency_s"),
                                  out_dir / "plots" / "pareto_latency.png", x_label="p95 seconds per question",
                                  y_label=name, title=f"{name} against p95 latency")))
    if outcome.stopped == "interrupted" or not final.summaries:
        headline = ("Interrupted: a partial report. Run the same command again to continue; nothing answered is "
                    "answered again.")
        why = []
    elif chosen is None:
        headline = f"Nothing won: {choice.reason}."
        why = [f"nearest: {c.label}, {percent(c.quality, (c.ci_low, c.ci_high))} {name} — breaks "
               + "; ".join(broken) for c, broken in choice.nearest]
    else:
        headline = (f"{chosen.label} wins: {percent(chosen.quality, (chosen.ci_low, chosen.ci_high))} {name}, "
                    f"{usd_per_1k(chosen.usd_per_query)}, {seconds(chosen.p95_latency_s)} p95 per question.")
        why = [f"It is {choice.reason}, measured on all {chosen.count} evaluation questions."]
        for p in final.paired:
            if p.difference == 0 and p.ci[0] == 0 == p.ci[1]:
                why.append(f"{p.label}: the same score on each of the {p.count} questions.")
                continue
            why.append(f"{p.label}: {_points(p.difference)} against it (paired 95% CI {_points(p.ci[0])} to "
                       f"{_points(p.ci[1])}, {p.count} questions)" + (" — not separable from noise"
                                                                      if p.ci[0] <= 0 <= p.ci[1] else ""))
        cheaper = [c for c in cost_front if c.usd_per_query < chosen.usd_per_query
                   and c.key != chosen.key]
        if cheaper:
            c = cheaper[-1]
            why.append(f"Cheaper on the Pareto front: {c.label} at {usd_per_1k(c.usd_per_query)}, "
                       f"{percent(c.quality, (c.ci_low, c.ci_high))}.")
    share = grid.get("share")
    why.append(f"The search screened {len(outcome.settled())} of {grid['configs']} configurations by successive "
               f"halving (rungs of {', '.join(map(str, outcome.rungs))} questions) and spent "
               f"{seconds(evaluator.touched.compute_s)} of model compute"
               + (f", {share:.0%} of the {seconds(grid['compute_s'])} the full grid would have taken"
                  if share is not None else "") + ".")
    notes = []
    if generated:
        notes.append("The questions were generated from the documents (`llmopt data generate`), not written by "
                     "people: read the scores as a smoke test, and check a sample.")
    if dataset.skipped:
        notes.append(f"{len(dataset.skipped)} question rows were skipped: " + "; ".join(dataset.skipped[:3])
                     + ("…" if len(dataset.skipped) > 3 else ""))
    if outcome.stopped:
        notes.append(f"Screening stopped early: {outcome.stopped}. Run the same command again to continue; "
                     "nothing answered is answered again.")
    failed = [t for t in outcome.trials if t.state == "failed" and t.error and "stopped" not in t.error]
    for t in failed[:3]:
        notes.append(f"Failed: {t.label}: {t.error}")
    if pipeline:
        notes.append(f"Deploy it: `llmopt serve --pipeline {pipeline}` (or `llmopt ask --pipeline {pipeline} "
                     "\"…\"`).")
    table = Table(["configuration", name, "$ per 1k queries", "p95 latency", "context", "on the front"],
                  [[c.label, percent(c.quality, (c.ci_low, c.ci_high)), usd_per_1k(c.usd_per_query),
                    seconds(c.p95_latency_s), tokens(c.context_tokens),
                    "yes" if c in cost_front else ""] for c in final.candidates],
                  "The finalists on the whole evaluation split")
    return Verdict(headline=headline, why=why, plots=plots, table=table, notes=notes)


def _points(diff: float) -> str:
    return f"{diff * 100:+.0f} points"


def qa_section(final, choice, outcome, space, evaluator, grid: dict, metric: str, dataset, splits) -> Section:
    name = METRIC_NAMES.get(metric, metric)
    finalists = Table(["configuration", name, "latency p50", "p95", "$ per 1k queries", "context", "errors"],
                      [[s.label, percent(s.metric(metric), getattr(s, f"{metric}_ci")), seconds(s.latency_p50_s),
                        seconds(s.latency_p95_s), usd_per_1k(s.cost_usd_mean), tokens(s.effective_context_mean),
                        s.errors] for s in final.summaries],
                      f"Finalists on all {len(splits.eval)} evaluation questions (95% bootstrap CIs)")
    paired = Table(["configuration", "against", "difference", "95% CI", "questions"],
                   [[p.label, p.baseline_label, _points(p.difference), f"{_points(p.ci[0])} to {_points(p.ci[1])}",
                     p.count] for p in final.paired], "Paired differences against the leader")
    trials = sorted(outcome.trials, key=lambda t: (-(t.questions or 0), -(t.score or 0.0)))
    screening = Table(["configuration", "state", "questions", name, "bracket"],
                      [[t.label, t.state, t.questions, percent(t.score) if t.score is not None else "–",
                        t.bracket] for t in trials],
                      "Screening: each configuration at its furthest rung (pruned: not among the best 1/eta)")
    compute = Table(["", "answers", "model compute"],
                    [["search (screening + finalists)", evaluator.touched.answers,
                      seconds(evaluator.touched.compute_s)],
                     ["of which answered in this run", evaluator.spent.answers, seconds(evaluator.spent.compute_s)],
                     ["full grid (estimated from measured configurations)", grid["answers"],
                      seconds(grid["compute_s"])]], "What the search spent against the full grid")
    text = (f"{len(space)} configurations over {len(splits.eval)} evaluation questions from {dataset.path} "
            f"({len(splits.demo)} held out as demonstrations). {choice.reason.capitalize()}"
            + (f": {choice.chosen.label}." if choice.chosen else "."))
    return Section(title="qa: budgeted search over RAG configurations", summary=text,
                   tables=[finalists, paired, compute, screening])
