"""Lab stage `sql`: text-to-SQL on the project's two demo databases (bookshop, university), each question using
the other database's questions as its example pool. Zero-shot vs few-shot (DAIL-SQL selection) vs few-shot with
execution-based self-consistency: execution accuracy with CIs, latency, cost, and the paired differences.

The three strategies share calls (zero-shot's query is few-shot's preliminary query; few-shot's greedy query is
self-consistency's first candidate), so they run through one MemoLLM: each shared call is computed once, and
every strategy is still charged its full latency and cost.
"""

from __future__ import annotations

from ...demo.sql import write as write_demo_sql
from ...sql.config import STRATEGIES, SQLConfig
from ...sql.examples import ExamplePool
from ...sql.pipeline import MemoLLM
from ...sql.report import OVERVIEW_COLUMNS, overview_row, paired_table
from ...sql.runner import evaluate_tasks, read_results
from ...sql.spider import load_spider, spider_examples
from ..plots import bar_chart, scatter
from ..registry import LabContext, LadderRow, StageResult, Table, stage

QUICK_IDS = ("dev-0000", "dev-0024")  # "How many authors are there?", "How many students are there?"
RUNGS = {"zero": "text-to-SQL zero-shot", "fewshot": "text-to-SQL few-shot (DAIL selection)",
         "fewshot-sc": "text-to-SQL few-shot + self-consistency"}


def _settings(ctx: LabContext) -> SQLConfig:
    if ctx.quick:  # two questions, short answers, three candidates: a first look in a couple of minutes
        return SQLConfig(model=ctx.model, samples=3, max_tokens=64, repairs=1)
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
    for strategy in STRATEGIES:
        cfg = base.model_copy(update={"strategy": strategy})
        out = ctx.out_dir / "sql" / ("quick" if ctx.quick else "full") / strategy
        summaries[strategy] = evaluate_tasks(tasks, cfg, pool if cfg.uses_examples else None, out, llm=llm)
        done = read_results(out / "results.jsonl")
        records[strategy] = [done[t.id] for t in tasks if t.id in done]
    return _result(ctx, summaries, records, llm)


def _result(ctx: LabContext, summaries: dict, records: dict, llm: MemoLLM) -> StageResult:
    overview = Table(OVERVIEW_COLUMNS, [overview_row(s["label"], s) for s in summaries.values()],
                     "Execution accuracy on the demo databases (95% bootstrap CI); latency and cost per question, "
                     "every call charged to each strategy that makes it.")
    paired = paired_table({s: records[s] for s in summaries}, "zero")
    labels = list(summaries)
    bars = bar_chart(ctx.path("plots", "sql_accuracy.png"), labels,
                     {"all": [100 * (summaries[s]["execution_accuracy"] or 0) for s in labels],
                      **{level: [100 * (summaries[s]["by_hardness"][level]["execution_accuracy"] or 0) for s in labels]
                         for level in ("easy", "medium", "hard", "extra")}},
                     "Execution accuracy by strategy and hardness", "EX %")
    points = scatter(ctx.path("plots", "sql_accuracy_latency.png"),
                     {s: ([summaries[s]["per_question"]["latency_s"]], [100 * (summaries[s]["execution_accuracy"] or 0)])
                      for s in labels}, "Accuracy against latency", "latency s / question", "EX %", frontier=True)
    ladder = [LadderRow(RUNGS[s], summaries[s]["label"], "execution_accuracy", summaries[s]["execution_accuracy"] or 0.0,
                        *(summaries[s]["execution_accuracy_ci"] or (None, None)),
                        latency_s=summaries[s]["per_question"]["latency_s"],
                        cost_usd=summaries[s]["per_question"]["cost_usd"], n=summaries[s]["count"])
              for s in labels]
    n = summaries["zero"]["count"]
    text = (f"{n} questions over two generated SQLite databases (bookshop, university); each question's few-shot "
            f"examples come from the other database. Model: {llm.model_id}. Execution accuracy: "
            + ", ".join(f"{s} {100 * (summaries[s]['execution_accuracy'] or 0):.1f}%" for s in labels)
            + f". {llm.hits} model calls were shared between strategies and computed once."
            + (" Quick mode: two questions only; run without --quick for all 48." if ctx.quick else ""))
    return StageResult(text, [overview, paired], [("Execution accuracy by strategy", bars),
                                                  ("Accuracy against latency", points)], ladder,
                       metrics={s: {k: summaries[s][k] for k in ("count", "execution_accuracy",
                                                                  "execution_accuracy_ci", "by_hardness",
                                                                  "per_question")} for s in labels})
