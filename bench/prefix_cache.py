"""Prefix caching under interleaving: DRAG (k=5, m=4 fixed demonstrations) on 10 HotpotQA questions whose
demonstration sets alternate (A, B, A, B, ...), each question answered twice side by side on the embedded model:

    baseline  the engine's cache is reset before each call: every prompt token is computed
    reuse     the engine is reset too, then llmopt's prefix cache restores the shared prefix (instructions +
              that set's demonstrations) from its snapshot

Target: mean latency with reuse at least 2x lower. Results are appended per (question, mode) to
bench/results/prefix_cache.jsonl, so an interrupted run resumes; a summary goes to prefix_cache_summary.json.

    .venv/bin/python bench/prefix_cache.py [--limit N] [--model default] [--fresh]

Each question's documents are its own 10 HotpotQA paragraphs ranked by word overlap with it (retrieval quality is
not what this measures); each demonstration carries its own 5 best paragraphs the same way.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
IDS = HERE / "prefix_cache_ids.json"
RESULTS = HERE / "results" / "prefix_cache.jsonl"
SUMMARY = HERE / "results" / "prefix_cache_summary.json"
DATA = HERE.parent.parent / "shared" / "data" / "multihop" / "hotpotqa_dev_distractor_200.jsonl"
K, M, MAX_TOKENS = 5, 4, 16
_WORD = re.compile(r"[a-z0-9]+")


def paragraphs(row: dict) -> list[tuple[str, str]]:
    return [(title, f"{title}: {''.join(sentences).strip()}") for title, sentences in row["context"]]


def ranked(query: str, row: dict) -> list[tuple[str, str]]:
    words = set(_WORD.findall(query.lower()))
    scored = [(len(words & set(_WORD.findall(text.lower()))), -i, title, text)
              for i, (title, text) in enumerate(paragraphs(row))]
    return [(title, text) for _, _, title, text in sorted(scored, reverse=True)]


class ParagraphRetriever:
    """A question's own paragraphs, best first (the Retriever protocol)."""

    def __init__(self, row: dict):
        self.row = row

    def search(self, query, k=5, filters=None):
        from llmopt.types import Chunk, Hit

        return [Hit(Chunk(f"{self.row['_id']}#{i}", text, title), 1.0 / (i + 1), i + 1)
                for i, (title, text) in enumerate(ranked(query, self.row)[:k])]


def demo_pool(rows: list[dict]):
    from llmopt.rag.demos import DemoPool

    return DemoPool.from_rows([{"id": r["_id"], "question": r["question"], "answer": r["answer"], "chain": [],
                                "documents": [{"text": text, "source": title} for title, text in
                                              ranked(r["question"], r)[:K]]} for r in rows])


def done_items() -> dict[tuple[str, str], dict]:
    if not RESULTS.is_file():
        return {}
    found = {}
    for line in RESULTS.read_text().splitlines():
        try:
            row = json.loads(line)
            found[(row["id"], row["mode"])] = row
        except (json.JSONDecodeError, KeyError):
            continue  # a line cut short by a crash is redone
    return found


def ask_once(llm, pool, row: dict, mode: str) -> dict:
    from llmopt.rag.api import Asker
    from llmopt.rag.config import AskConfig

    config = AskConfig(strategy="drag", k=K, m=M, max_tokens=MAX_TOKENS, prefix_cache=mode == "reuse")
    asker = Asker(config, llm=llm, retriever=ParagraphRetriever(row), pool=pool)
    # Both modes start from an empty engine: the baseline reads every token; reuse gets back only what llmopt's
    # prefix cache kept (the previous call, this same question in the other mode, must not leak into it).
    llm.llama.reset()
    started = time.perf_counter()
    answer = asker.ask(row["question"], question_id=row["_id"])
    return {"id": row["_id"], "mode": mode, "latency_s": time.perf_counter() - started,
            "prompt_tokens": answer.usage.prompt_tokens, "cached_prompt_tokens": answer.usage.cached_prompt_tokens,
            "answer": answer.answer, "reply": answer.steps[0].text, "gold": row["answer"]}


def summarize(results: list[dict], model_id: str) -> dict:
    by = {mode: [r for r in results if r["mode"] == mode] for mode in ("baseline", "reuse")}
    mean = {mode: statistics.mean(r["latency_s"] for r in rows) for mode, rows in by.items() if rows}
    pairs = {r["id"]: r for r in by["baseline"]}
    agree = sum(1 for r in by["reuse"] if r["id"] in pairs and pairs[r["id"]]["reply"] == r["reply"])
    return {
        "model": model_id, "questions": len(pairs), "k": K, "m": M, "max_tokens": MAX_TOKENS,
        "mean_latency_s": mean, "speedup": mean["baseline"] / mean["reuse"] if len(mean) == 2 else None,
        "mean_prompt_tokens": statistics.mean(r["prompt_tokens"] for r in results),
        "mean_cached_prompt_tokens_reuse": statistics.mean(r["cached_prompt_tokens"] for r in by["reuse"] or [{"cached_prompt_tokens": 0}]),
        "identical_replies": f"{agree}/{len(by['reuse'])}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=10, help="questions to run (default all 10)")
    parser.add_argument("--model", default="default", help="a llama.cpp model spec")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    args = parser.parse_args()
    if not DATA.is_file():
        sys.exit(f"missing {DATA}: this benchmark reads HotpotQA from ../shared/data")
    from llmopt.models.registry import get_model

    ids = json.loads(IDS.read_text())
    rows = {r["_id"]: r for r in map(json.loads, DATA.read_text().splitlines())}
    pools = [demo_pool([rows[i] for i in s]) for s in ids["demo_sets"]]
    llm = get_model(args.model)
    if args.fresh:
        RESULTS.unlink(missing_ok=True)
    done = done_items()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for n, qid in enumerate(ids["questions"][: args.limit]):
        modes = ("baseline", "reuse") if n % 2 == 0 else ("reuse", "baseline")  # alternate who goes first
        for mode in modes:
            if (qid, mode) in done:
                continue
            result = ask_once(llm, pools[n % 2], rows[qid], mode)
            done[(qid, mode)] = result
            with open(RESULTS, "a") as handle:
                handle.write(json.dumps(result) + "\n")
            print(f"{n + 1:2d} {mode:8s} {result['latency_s']:7.2f} s  prompt {result['prompt_tokens']:5d}  "
                  f"cached {result['cached_prompt_tokens']:5d}  {result['answer']!r}", file=sys.stderr, flush=True)
    chosen = [r for r in done.values() if r["id"] in ids["questions"][: args.limit]]
    summary = summarize(chosen, llm.model_id)
    SUMMARY.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
