"""Lab stage `sql`: text-to-SQL on the project's two demo databases (bookshop, university), each question using
the other database's questions as its example pool. Zero-shot vs few-shot (DAIL-SQL selection) vs few-shot with
execution-based self-consistency: execution accuracy with CIs, latency, cost, and the paired differences.

The three strategies share calls (zero-shot's query is few-shot's preliminary query; few-shot's greedy query is
self-consistency's first candidate), so they run through one MemoLLM: each shared call is computed once, and
every strategy is still charged its full latency and cost.
"""

from __future__ import annotations

from ...demo.sql import write as write_demo_sql
from ...report import bar_chart, reformat, scatter, seconds, tokens, usd_per_1k
from ...sql.config import STRATEGIES, SQLConfig
from ...sql.examples import ExamplePool
from ...sql.pipeline import MemoLLM
from ...sql.report import OVERVIEW_COLUMNS, overview_row, paired_table
from ...sql.runner import evaluate_tasks, read_results
from ...sql.spider import load_spider, spider_examples
from ..registry import LabContext, LadderRow, StageResult, Table, stage

PER_QUESTION = {"latency s/q": ("latency", seconds), "cost $/q": ("cost", usd_per_1k),
                "tokens/q": ("tokens", tokens)}  # the overview's per-question means, written for people
QUICK_IDS = ("dev-0000", "dev-0024")  # "How many authors are there?", "How many students are there?"
RUNGS = {"zero": "text-to-SQL zero-shot", "fewshot": "text-to-SQL few-shot (DAIL selection)",
         "fewshot-sc": "text-to-SQL few-shot + self-consistency"}


def _settings(ctx: LabContext) -> SQLConfig:
    if ctx.quick:  # two questions, short answers, three candidates, no repair round: a first look in minutes
        return SQLConfig(model=ctx.model, samples=3, max_tokens=48, repairs=0)
    return SQLConfig(model=ctx.model, samples=5, max_tokens=160, repairs=1)


@stage("sql", order=50, budget_s=2400,
       description="text-to-SQL on two demo databases: zero-shot vs few-shot (DAIL) vs self-consistency")
def run(ctx: LabContext) -> StageResult:
    from ...models.registry import get_model

    write_demo_sql(ctx.out_dir / "data")
    data = ctx.out_dir / "data" / "sql"
    tasks = load_spider(data, ids=QUICK_IDS if ctx.quick else None)
    base = _settings(ctx)
    llm = MemoLLM(get_model(ctx.model))
    pool = ExamplePool(spider_examples(data), embedder=base.embedder, skeleton_threshold=base.skeleton_threshold)
    summaries, records = {}, {}
    for number, strategy in enumerate(STRATEGIES):
        cfg = base.model_copy(update={"strategy": strategy})
        out = ctx.out_dir / "sql" / ("quick" if ctx.quick else "full") / strategy
        report = _progress(ctx, f"sql {number + 1}/{len(STRATEGIES)}: {strategy}", number * len(tasks),
                           len(STRATEGIES) * len(tasks))
        summaries[strategy] = evaluate_tasks(tasks, cfg, pool if cfg.uses_examples else None, out, llm=llm,
                                             on_result=report)
        done = read_results(out / "results.jsonl")
        records[strategy] = [done[t.id] for t in tasks if t.id in done]
    return _result(ctx, summaries, records, llm)


def _progress(ctx: LabContext, label: str, before: int, total: int):
    """An on_result callback reporting ctx.progress over the whole stage (questions of every strategy)."""
    ctx.progress(label, before, total)
    return lambda record, done, of: ctx.progress(label, before + done, total)


def _ex(summary: dict, level: str | None = None) -> float:
    """Execution accuracy in percent (overall or one hardness level); 0 when there were no questions."""
    acc = summary if level is None else summary["by_hardness"][level]
    return 100 * (acc["execution_accuracy"] or 0.0)


def _ladder_row(strategy: str, summary: dict) -> LadderRow:
    low, high = summary["execution_accuracy_ci"] or (None, None)
    return LadderRow(RUNGS[strategy], summary["label"], "execution_accuracy", summary["execution_accuracy"] or 0.0,
                     low, high, latency_s=summary["per_question"]["latency_s"],
                     cost_usd=summary["per_question"]["cost_usd"], n=summary["count"])


def _plots(ctx: LabContext, summaries: dict) -> list:
    labels = list(summaries)
    series = {"all": [_ex(summaries[s]) for s in labels]}
    series.update({level: [_ex(summaries[s], level) for s in labels] for level in ("easy", "medium", "hard", "extra")})
    bars = bar_chart(ctx.path("plots", "sql_accuracy.png"), labels, series, "Execution accuracy by strategy and "
                     "hardness", "EX %")
    points = {s: ([summaries[s]["per_question"]["latency_s"]], [_ex(summaries[s])]) for s in labels}
    dots = scatter(ctx.path("plots", "sql_accuracy_latency.png"), points, "Accuracy against latency",
                   "latency s / question", "EX %", frontier=True)
    return [("Execution accuracy by strategy", bars), ("Accuracy against latency", dots)]


def _result(ctx: LabContext, summaries: dict, records: dict, llm: MemoLLM) -> StageResult:
    overview = reformat(Table(OVERVIEW_COLUMNS, [overview_row(s["label"], s) for s in summaries.values()],
                              "Execution accuracy on the demo databases (95% bootstrap CI); latency and cost per "
                              "question, every call charged to each strategy that makes it."), PER_QUESTION)
    paired = paired_table(records, "zero")
    text = (f"{summaries['zero']['count']} questions over two generated SQLite databases (bookshop, university); "
            f"each question's few-shot examples come from the other database. Model: {llm.model_id}. Execution "
            "accuracy: " + ", ".join(f"{s} {_ex(summary):.1f}%" for s, summary in summaries.items())
            + f". {llm.hits} model calls were shared between strategies and computed once."
            + (" Quick mode: two questions, 48-token answers, no self-correction round; run without --quick for "
               "all 48 questions." if ctx.quick else ""))
    metrics = {s: {k: summary[k] for k in ("count", "execution_accuracy", "execution_accuracy_ci", "by_hardness",
                                            "per_question")} for s, summary in summaries.items()}
    return StageResult(text, [overview, paired], _plots(ctx, summaries),
                       [_ladder_row(s, summary) for s, summary in summaries.items()], metrics)
