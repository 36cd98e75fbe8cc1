"""Spider execution accuracy of the three text-to-SQL strategies, per model, on the fixed 100-question subset.

    python bench/spider_bench.py --models default,qwen2.5-coder-0.5b,qwen2.5-coder-1.5b --budget-min 60

- questions: bench/spider_ids.json (100 dev questions stratified by hardness); example pool: every other dev
  question from a *different* database (the runner excludes each question's own database);
- strategies: zero, fewshot (DAIL selection, k=5), fewshot-sc (n=5, T=0.7), all with one self-correction round;
- resumable: results append to bench/results/spider/<model>/<strategy>/results.jsonl, finished questions are
  skipped, and --budget-min stops cleanly (a session gets <= 60 minutes; rerun the same command to go on);
- the strategies advance together, a few questions at a time, so a stopped run still compares them on the
  same questions; calls they share (zero-shot = few-shot's preliminary query, few-shot's greedy query = the
  first self-consistency candidate) are computed once and charged to each (MemoLLM);
- models that are not installed here are skipped with a note.

Then `python bench/spider_report.py` prints the markdown section for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from llmopt.errors import LlmoptError
from llmopt.sql.config import STRATEGIES, SQLConfig
from llmopt.sql.examples import ExamplePool
from llmopt.sql.pipeline import MemoLLM
from llmopt.sql.runner import evaluate_tasks, read_results, write_summary
from llmopt.sql.spider import load_spider, spider_examples

HERE = Path(__file__).resolve().parent
CHUNK = 5  # questions per strategy before moving to the next strategy


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="default", help="comma-separated model specs")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--spider", default=str(HERE.parent.parent / "shared" / "data" / "spider"))
    parser.add_argument("--ids", default=str(HERE / "spider_ids.json"))
    parser.add_argument("--out", default=str(HERE / "results" / "spider"))
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions of the subset")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--budget-min", type=float, default=60.0, help="stop after this many minutes")
    return parser.parse_args()


def slug(spec: str) -> str:
    return spec.replace("/", "_").replace(":", "_").replace("@", "_").replace("?", "_")


def load_model(spec: str):
    from llmopt.models.registry import get_model

    try:
        return MemoLLM(get_model(spec))
    except LlmoptError as exc:
        print(f"skip {spec}: {exc}", file=sys.stderr)
        return None


def run_model(spec: str, args, tasks, pool, deadline: float) -> bool:
    """Advance every strategy for one model; False when the time budget ran out."""
    llm = load_model(spec)
    if llm is None:
        return True
    configs = {s: SQLConfig(strategy=s, model=llm.model_id, samples=args.samples, max_tokens=args.max_tokens)
               for s in args.strategies.split(",")}
    outs = {s: Path(args.out) / slug(spec) / s for s in configs}
    for start in range(0, len(tasks), CHUNK):
        chunk = tasks[start:start + CHUNK]
        for strategy, cfg in configs.items():
            if all(t.id in read_results(outs[strategy] / "results.jsonl") for t in chunk):
                continue
            if time.monotonic() > deadline:
                finish(configs, outs, tasks, llm)
                return False
            evaluate_tasks(chunk, cfg, pool if cfg.uses_examples else None, outs[strategy], llm=llm,
                           on_result=lambda r, d, n, s=strategy: print(
                               f"{spec} {s} {r['id']} {'ok ' if r['correct'] else 'bad'} {r['latency_s']:.1f}s",
                               file=sys.stderr))
    finish(configs, outs, tasks, llm)
    return True


def finish(configs, outs, tasks, llm) -> None:
    for strategy, cfg in configs.items():
        summary = write_summary(outs[strategy], tasks, cfg.model_copy(update={"model": llm.model_id}))
        print(json.dumps({"model": llm.model_id, "strategy": strategy, "count": summary["count"],
                          "execution_accuracy": summary["execution_accuracy"],
                          "latency_s": summary["per_question"]["latency_s"]}))


def main() -> None:
    args = parse_args()
    ids = json.loads(Path(args.ids).read_text())["ids"][: args.limit]
    tasks = load_spider(args.spider, ids=ids)
    pool = ExamplePool(spider_examples(args.spider))
    deadline = time.monotonic() + 60 * args.budget_min
    for spec in args.models.split(","):
        if not run_model(spec.strip(), args, tasks, pool, deadline):
            print(f"time budget of {args.budget_min:g} min reached; rerun the same command to resume",
                  file=sys.stderr)
            return


if __name__ == "__main__":
    main()
