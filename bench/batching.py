"""Batched local inference against one call at a time, side by side in one run on the same questions.

    .venv/bin/python bench/batching.py engine                  # decode tok/s by ?parallel= (1, 2, 4, 8, 16)
    .venv/bin/python bench/batching.py spider --budget-min 40  # few-shot + self-consistency, Qwen2.5-Coder-1.5B
    .venv/bin/python bench/batching.py qa                      # an `eval qa` sweep on HotpotQA, embedded model
    .venv/bin/python bench/batching.py report                  # the markdown for bench/RESULTS.md

Arms: `one` is the llama.cpp engine with ?parallel=1 (the default: one sequence per step, one question at a time);
`batched` is the same engine with ?parallel=8 (continuous batching). The 2026-12-03 results were measured while
8 was the default, so their specs read `default` for the batched arms.

- spider: bench/spider_ids.json (100 questions), strategy fewshot-sc (n=5, T=0.7, DAIL selection k=5, one repair),
  example pool = the other databases' dev questions. The arms advance alternately, CHUNK questions at a time,
  so a run cut by --budget-min compares them on the same questions and load; a rerun resumes. `batched` answers
  one question at a time too: its gain is the five samples (and repairs) decoded together, i.e. the latency of
  one question. `batched-q8` is the same from a Q8_0 copy of the model (see "engine": on an AVX2 CPU the shipped
  Q4_K_M kernels gain nothing from batching, Q8_0's do).
- qa: bench/qa_hotpotqa_ids.json (50 questions), configurations rag k=3 and drag k=3 m=2
  (8 demonstrations held out as in bench/qa_bench.py); `batched` answers 8 questions at once (eval's
  --concurrency). Each arm's wall time is measured around its whole sweep (an arm is rerun from scratch if cut).

Results: bench/results/batching/ (per-arm result folders, timing.jsonl) and bench/results/batching.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
OUT = HERE / "results" / "batching"
SUMMARY = HERE / "results" / "batching.json"
CHUNK = 5
SPIDER_MODEL = "qwen2.5-coder-1.5b"
SPIDER_ARMS = {"one": ("?parallel=1", 1), "batched": ("?parallel=8", 1), "batched-q8": ("?quant=q8_0&parallel=8", 1)}
QA_ARMS = {"one": ("default?parallel=1", 1), "batched": ("default?parallel=8", 8)}
QA_GRID = [dict(strategies=["rag"], k=[3]), dict(strategies=["drag"], k=[3], m=[2])]


def log_timing(row: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "timing.jsonl").open("a") as handle:
        handle.write(json.dumps(row) + "\n")


# -- engine: decode throughput by parallel ------------------------------------------------------------------------
def engine(args) -> None:
    from llmopt.models.registry import get_model

    prompts = [[{"role": "user", "content": f"Write a long story about a {w}."}]
               for w in ("fox", "ship", "clock", "garden", "robot", "storm", "violin", "bridge", "lantern", "desert",
                         "comet", "library", "river", "mask", "tower", "island")]
    rows = []
    for spec in args.models.split(";"):
        for parallel in (1, 4, 8):
            llm = get_model(f"{spec}{'&' if '?' in spec else '?'}parallel={parallel}", cache=False)
            llm.chat_batch(prompts[:2], max_tokens=4)  # warm-up
            started = time.perf_counter()
            gens = llm.chat_batch(prompts, max_tokens=args.tokens, temperature=0.0)
            seconds = time.perf_counter() - started
            tokens = sum(g.completion_tokens for g in gens)
            row = {"mode": "engine", "model": llm.model_id, "parallel": parallel, "prompts": len(prompts),
                   "completion_tokens": tokens, "seconds": round(seconds, 2), "tok_s": round(tokens / seconds, 1),
                   "date": time.strftime("%Y-%m-%d")}
            print(json.dumps(row), flush=True)
            rows.append(row)
            log_timing(row)
            llm.close()


# -- spider --------------------------------------------------------------------------------------------------------
def spider(args) -> None:
    from llmopt.models.registry import get_model
    from llmopt.sql.config import SQLConfig
    from llmopt.sql.examples import ExamplePool
    from llmopt.sql.runner import evaluate_tasks, read_results
    from llmopt.sql.spider import load_spider, spider_examples

    ids = json.loads((HERE / "spider_ids.json").read_text())["ids"][: args.limit]
    tasks = load_spider(DATA / "spider", ids=ids)
    pool = ExamplePool(spider_examples(DATA / "spider"))
    arms = [a for a in args.arms.split(",") if a in SPIDER_ARMS]
    models = {}
    deadline = time.monotonic() + 60 * args.budget_min
    for start in range(0, len(tasks), CHUNK):
        chunk = tasks[start:start + CHUNK]
        for arm in arms:
            out = OUT / "spider" / arm
            if all(t.id in read_results(out / "results.jsonl") for t in chunk):
                continue
            if time.monotonic() > deadline:
                print("time budget reached; rerun the same command to resume", file=sys.stderr)
                return
            options, concurrency = SPIDER_ARMS[arm]
            if options not in models:
                models[options] = get_model(SPIDER_MODEL + options, cache=False)
            llm = models[options]
            cfg = SQLConfig(strategy="fewshot-sc", model=llm.model_id, samples=5, max_tokens=160,
                            concurrency=concurrency)
            began = time.perf_counter()
            evaluate_tasks(chunk, cfg, pool, out, llm=llm)
            row = {"mode": "spider", "arm": arm, "questions": [t.id for t in chunk],
                   "seconds": round(time.perf_counter() - began, 2), "date": time.strftime("%Y-%m-%d")}
            log_timing(row)
            print(json.dumps(row), flush=True)


# -- qa ------------------------------------------------------------------------------------------------------------
def qa(args) -> None:
    import shutil

    from llmopt.eval import evaluate

    ids = json.loads((HERE / "qa_hotpotqa_ids.json").read_text())["ids"]
    timing = _timings("qa")
    for arm in args.arms.split(","):
        if arm not in QA_ARMS or arm in timing:
            continue
        spec, concurrency = QA_ARMS[arm]
        out = OUT / "qa" / arm
        shutil.rmtree(out, ignore_errors=True)  # wall time is measured over a whole sweep
        began = time.perf_counter()
        summary = None
        for sweep in QA_GRID:
            summary = evaluate(dataset=str(DATA / "multihop" / "hotpotqa_dev_distractor_200.jsonl"), out=out,
                               models=[spec], ids=ids, demo_size=8, seed=0, concurrency=concurrency, **sweep)
        seconds = time.perf_counter() - began
        answers = sum(e.count for e in summary.measured)
        row = {"mode": "qa", "arm": arm, "answers": answers, "seconds": round(seconds, 2),
               "answers_per_s": round(answers / seconds, 3), "date": time.strftime("%Y-%m-%d")}
        log_timing(row)
        print(json.dumps(row), flush=True)


def _timings(mode: str) -> dict:
    path = OUT / "timing.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    return {r["arm"]: r for r in rows if r["mode"] == mode}


# -- report --------------------------------------------------------------------------------------------------------
def report(args) -> None:
    from llmopt.sql.runner import read_results
    from llmopt.stats import bootstrap_ci

    path = OUT / "timing.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    result: dict = {"engine": [r for r in rows if r["mode"] == "engine"]}

    spider_rows = {arm: read_results(OUT / "spider" / arm / "results.jsonl") for arm in SPIDER_ARMS}
    common = sorted(set.intersection(*[set(r) for r in spider_rows.values() if r] or [set()]))
    arms = {}
    for arm, records in spider_rows.items():
        if not records:
            continue
        chosen = [records[i] for i in common]
        seconds = sum(r["seconds"] for r in rows if r["mode"] == "spider" and r["arm"] == arm
                      and all(q in set(common) for q in r["questions"]))
        mean, low, high = bootstrap_ci([1.0 if r["correct"] else 0.0 for r in chosen])
        arms[arm] = {"questions": len(chosen), "ex": mean, "ex_ci": [low, high],
                     "wall_s_per_question": sum(r["wall_s"] for r in chosen) / max(1, len(chosen)),
                     "latency_s_per_question": sum(r["latency_s"] for r in chosen) / max(1, len(chosen)),
                     "seconds_per_question": seconds / max(1, len(chosen)),
                     "compute_s_per_question": sum(r["usage"]["compute_s"] for r in chosen) / max(1, len(chosen)),
                     "failing_queries": sum(1 for r in chosen if r.get("error"))}
    if "one" in arms and "batched" in arms:
        one, batched = spider_rows["one"], spider_rows["batched"]
        diffs = [(1.0 if batched[i]["correct"] else 0.0) - (1.0 if one[i]["correct"] else 0.0) for i in common]
        mean, low, high = bootstrap_ci(diffs)
        arms["batched_minus_one_ex"] = {"mean": mean, "ci": [low, high]}
        arms["latency_ratio"] = arms["one"]["wall_s_per_question"] / arms["batched"]["wall_s_per_question"]
    result["spider"] = arms
    result["qa"] = _qa_summary()
    SUMMARY.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _qa_summary() -> dict:
    timing = _timings("qa")
    out: dict = {}
    for arm in timing:
        summary_path = OUT / "qa" / arm / "summary.json"
        if not summary_path.is_file():
            continue
        summary = json.loads(summary_path.read_text())
        configs = {e["label"]: {"acc": e["acc"], "f1": e["f1"], "count": e["count"]}
                   for e in summary["configs"]}
        out[arm] = {**timing[arm], "configs": configs}
    if "one" in out and "batched" in out:
        out["throughput_ratio"] = out["batched"]["answers_per_s"] / out["one"]["answers_per_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["engine", "spider", "qa", "report"])
    parser.add_argument("--models", default=f"default;{SPIDER_MODEL};{SPIDER_MODEL}?quant=q8_0",
                        help="engine mode: model specs, ';'-separated")
    parser.add_argument("--tokens", type=int, default=32, help="engine mode: tokens per prompt")
    parser.add_argument("--arms", default="one,batched,batched-q8")
    parser.add_argument("--limit", type=int, default=None, help="spider: only the first N subset questions")
    parser.add_argument("--budget-min", type=float, default=40.0)
    args = parser.parse_args()
    {"engine": engine, "spider": spider, "qa": qa, "report": report}[args.mode](args)


if __name__ == "__main__":
    main()
