"""Lab stage `eval`: the optimization ladder on the demo QA set. Prompts without retrieval, then RAG, DRAG and
IterDRAG over a grid of (k, m, n), measured on the same questions with the resumable sweep (llmopt.eval); the
computation allocation model is fit to the grid, and each context budget gets the best measured configuration
within it next to the model's pick.

Budgets are applied to the measured grid (the paper's "best configuration whose effective context fits L"),
rather than as caps that would make the planner shrink k and m behind the grid's back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...report import percent, reformat, seconds, tokens, usd_per_1k
from ..registry import LabContext, LadderRow, StageResult, Table, stage

if TYPE_CHECKING:
    from ...eval.results import ConfigSummary, EvalSummary

RUNGS = (("RAG", "rag"), ("DRAG", "drag"), ("IterDRAG", "iterdrag"))  # ladder rung -> the strategy it shows


def sweeps(quick: bool) -> list[dict]:
    """Two sweeps into one folder: prompts with no retrieval, then the strategies' grid with the basic prompt."""
    if quick:
        return [dict(strategies=["none"], prompts=["basic", "cot"]),
                dict(strategies=["rag", "drag", "iterdrag"], k=[1, 3], m=[1], n=[1], prompts=["basic"])]
    return [dict(strategies=["none"], prompts=["basic", "cot", "decompose"]),
            dict(strategies=["rag", "drag", "iterdrag"], k=[1, 2, 4], m=[1, 2, 4], n=[1, 2], prompts=["basic"])]


# quick: a text question, a table question and a two-hop question, all over the three text documents
QUICK_QUESTIONS = ("q-cfo", "q-skylark-price", "q-gdansk-flight")


def demo_index(ctx: LabContext) -> str:
    """The ingest stage's index over the demo corpus when it ran; else one built here (quick: the three text
    documents, which hold every quick question's answer)."""
    if ctx.shared.get("index"):
        return ctx.shared["index"]
    from ...demo.qa import TEXT_DOCUMENTS
    from ...eval.datasets import load_demo
    from ...ingest import ingest

    corpus = load_demo().documents  # written once under LLMOPT_HOME/demo-data
    paths = [p for p in corpus if p.name in TEXT_DOCUMENTS] if ctx.quick else corpus
    from .ingest import ingest_progress

    index = str(ctx.out_dir / "eval-index")
    ingest(paths, index=index, callback=ingest_progress(ctx, "eval: ingest"))
    return index


def budgets(quick: bool) -> list[int]:
    return [512, 2048] if quick else [512, 1024, 4096]


@stage("eval", order=40, budget_s=1500,
       description="demo QA ladder: baseline and best prompt, RAG, DRAG, IterDRAG over (k, m, n), allocation model")
def run(ctx: LabContext) -> StageResult:
    from ...eval.runner import evaluate
    from ...rag.api import close_retrievers

    out = ctx.out_dir / "eval"
    common = dict(dataset="demo", index=demo_index(ctx), models=[ctx.model], max_tokens=32 if ctx.quick else None,
                  seed=0, ids=list(QUICK_QUESTIONS) if ctx.quick else None)
    progress = SweepProgress(ctx, configurations=sum(grid_size(**common, **sweep) for sweep in sweeps(ctx.quick)))
    try:
        for sweep in sweeps(ctx.quick):
            summary = evaluate(out=out, report=False, on_event=progress, **common, **sweep)
    finally:
        close_retrievers()
    return result(ctx, summary, out)


def grid_size(**settings) -> int:
    """How many configurations a sweep with these settings evaluates."""
    from ...eval.grid import SweepConfig, expand

    return len(expand(SweepConfig.make(**settings)))


class SweepProgress:
    """The sweep's events as ctx.progress over the whole stage: one unit per (configuration, question), those a
    resumed sweep already holds counted as done; the label names the configuration running and its place."""

    def __init__(self, ctx: LabContext, configurations: int):
        import threading

        self.ctx, self.configurations = ctx, configurations
        self.seen, self.done, self.questions, self.label = 0, 0, 0, "eval"
        self.lock = threading.Lock()  # HTTP backends answer several questions at once, each reporting

    def __call__(self, kind: str, info: dict) -> None:
        with self.lock:
            if kind == "config":
                self.seen += 1
                self.questions = info["total"]
                self.done += info["total"] - info["todo"]
                self.label = f"eval {self.seen}/{self.configurations}: {info['label']}"
            elif kind == "result":
                self.done += 1
            else:
                return
            self.ctx.progress(self.label, self.done, max(self.done, self.configurations * self.questions))


def _best(entries: list[ConfigSummary], metric: str) -> ConfigSummary | None:
    return max(entries, key=lambda e: (e.metric(metric), -(e.effective_context_mean or 0.0)), default=None)


def _retrieves(entry: ConfigSummary) -> bool:
    from ...rag.strategy import strategy_class

    return strategy_class(entry.strategy).uses_retrieval


def ladder_rows(summary: EvalSummary) -> list[LadderRow]:
    metric, entries = summary.metric, summary.measured
    prompts = [e for e in entries if not _retrieves(e)]  # the prompt rungs: the model alone
    chosen = [("baseline prompt", next((e for e in prompts if e.prompt == "basic"), None)),
              ("best prompt", _best(prompts, metric))]
    chosen += [(rung, _best([e for e in entries if e.strategy == name], metric)) for rung, name in RUNGS]
    rows = []
    for rung, entry in chosen:
        if entry is None:
            continue
        low, high = getattr(entry, f"{metric}_ci")
        rows.append(LadderRow(rung, f"{entry.label} (demo QA set)", metric, entry.metric(metric), low, high,
                              entry.latency_mean_s, entry.cost_usd_mean, entry.count))
    return rows


def budget_table(summary: EvalSummary, budget_list: list[int]) -> Table:
    """Per budget: the best measured configuration within it, and the allocation model's pick with its
    measured value when the grid holds it."""
    from ...eval.allocation import AllocationModel, allocate

    metric, entries = summary.metric, summary.measured
    group = next((g for g in summary.allocation_model["groups"] if not g.get("error")), None)
    fitted = AllocationModel(**{k: v for k, v in group.items()}) if group else None
    rows = []
    for budget in budget_list:
        seen = _best([e for e in entries if (e.effective_context_mean or 0) <= budget], metric)
        pick = allocate(fitted, budget)["best"] if fitted else None
        measured = next((e for e in entries if pick and e.prompt == fitted.prompt and e.strategy ==
                         pick["strategy"] and e.k == pick["k"] and e.m == pick["m"]
                         and e.n == pick["follow_ups"]), None)
        rows.append([budget, seen.label if seen else "–", percent(seen.metric(metric)) if seen else None,
                     _pick_label(pick), percent(pick["predicted"]) if pick else None,
                     percent(measured.metric(metric)) if measured else None])
    return Table(["budget (tokens)", "best measured within it", metric, "allocation model's pick", "predicted",
                  "measured"], rows, "Effective context per question; the allocation model never extrapolates "
                  "beyond the measured k, m and n.")


def configuration_table(summary: EvalSummary) -> Table:
    """Every measured configuration: quality with its CI, context, latency and cost, written for people."""
    metric = summary.metric
    rows = [[e.label, e.count, percent(e.metric(metric), getattr(e, f"{metric}_ci")), percent(e.f1),
             percent(e.evidence_recall), tokens(e.effective_context_mean), _one_decimal(e.calls_mean),
             seconds(e.latency_p50_s), seconds(e.latency_p95_s), usd_per_1k(e.cost_usd_mean), e.errors]
            for e in summary.measured]
    return Table(["configuration", "n", f"{metric} (95% CI)", "token F1", "evidence recall", "effective context",
                  "calls", "p50 latency", "p95 latency", "cost", "errors"], rows,
                 "Every configuration measured, means per question. Effective context: every input token of every "
                 "call. Evidence recall: the share of gold supporting evidence among the chunks the answer was given.")


def _one_decimal(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _pick_label(pick: dict | None) -> str:
    if pick is None:
        return "–"
    from ...rag.strategy import strategy_class

    if not strategy_class(pick["strategy"]).uses_retrieval:
        return pick["strategy"]  # the model alone: k, m and n mean nothing
    return f"{pick['strategy']} k={pick['k']} m={pick['m']} n={pick['follow_ups']}"


def result(ctx: LabContext, summary: EvalSummary, out) -> StageResult:
    from ...eval.report import sections, write_eval_report

    metric = summary.metric
    ladder = ladder_rows(summary)
    made_sections = sections(out, summary.to_json())  # the sweep's own report (eval/report.html), plots drawn once
    write_eval_report(out, summary.to_json(), made_sections)
    overview, allocation = made_sections[0], made_sections[-1]
    breakdowns = [reformat(t, {c: (c, percent) for c in t.columns[1:]}) for t in overview.tables[1:]]
    held_out = {"predicted": ("predicted", percent), "measured": ("measured", percent)}
    tables = ([configuration_table(summary)] + breakdowns + [budget_table(summary, budgets(ctx.quick))]
              + [reformat(t, held_out) for t in allocation.tables])
    made = [p for p in overview.plots if "latency" not in p[0]] + allocation.plots
    best = summary.best_config
    text = (f"{summary.splits['eval']} demo questions (single-hop and multi-hop across documents) with "
            f"{ctx.model}; demonstrations come from the set's own pool, never the questions asked. "
            f"{len(summary.measured)} configurations. "
            + (f"Best by {metric}: {best.label} at {percent(best.metric(metric), getattr(best, f'{metric}_ci'))}. "
               if best else "")
            + "Rungs pick the best configuration of each strategy on these same questions, so their values are "
            "optimistic; the paired differences and the full sweep are in eval/report.html.")
    return StageResult(text, tables, made, ladder, metrics={
        "best": best.label if best else None, "configs": len(summary.measured),
        "allocation_r2": next((g.get("r2") for g in summary.allocation_model["groups"] if not g.get("error")),
                              None)})
