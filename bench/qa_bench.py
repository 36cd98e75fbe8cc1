"""QA benchmarks on real data: inference-scaling sweeps (none, RAG, DRAG, IterDRAG over k, m, n) on the fixed
subsets in bench/qa_*_ids.json, with the computation allocation model fit to each sweep.

    .venv/bin/python bench/qa_bench.py hotpotqa                      # 50 questions, embedded model, full grid
    .venv/bin/python bench/qa_bench.py musique --model qwen2.5-coder-0.5b      # after `make packs`
    .venv/bin/python bench/qa_bench.py financebench                  # 8 questions over 3 filings (PDF ingest)
    .venv/bin/python bench/qa_bench.py hotpotqa --grid smoke --limit 3 --out /tmp/qa-smoke   # a check

Resumable: every answer is appended to OUT/results.jsonl as it finishes and a re-run skips finished ones, so a
run cut by --max-minutes (default 55) or Ctrl-C continues where it stopped. Results land in
bench/results/qa/DATASET/MODEL/ (summary.json, report.md, plots); `bench/qa_results.py` turns them into the
Markdown for bench/RESULTS.md. The retrieval corpus (the union of the dataset's paragraphs, or the filings) is
indexed once under LLMOPT_HOME/indexes/.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from llmopt.eval import evaluate  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"

# Each sweep is one evaluate() call into the same folder (a folder's grid may grow); none and RAG first, so a run
# cut short still has the cheap rungs. The multi-hop sets ship demonstrations (the 8 held out by the subset);
# FinanceBench has only its 8 evaluation questions, so no DRAG there and IterDRAG runs without demonstrations.
GRIDS = {
    "multihop": [dict(strategies=["none", "rag"], k=[1, 3, 5, 10]),
                 dict(strategies=["drag"], k=[3, 5], m=[1, 2]),
                 dict(strategies=["iterdrag"], k=[3], m=[1], n=[1, 2])],
    "financebench": [dict(strategies=["none", "rag"], k=[1, 3, 5, 10]),
                     dict(strategies=["iterdrag"], k=[3], m=[0], n=[1, 2])],
    "smoke": [dict(strategies=["none", "rag"], k=[3]), dict(strategies=["iterdrag"], k=[2], m=[1], n=[1])],
    "smoke-financebench": [dict(strategies=["none", "rag"], k=[3]), dict(strategies=["iterdrag"], k=[2], m=[0],
                                                                            n=[1])],
}
FILES = {"hotpotqa": "multihop/hotpotqa_dev_distractor_200.jsonl", "musique": "multihop/musique_ans_dev_200.jsonl",
         "financebench": "docqa/financebench_questions.jsonl"}


def slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", spec).strip("_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=sorted(FILES))
    parser.add_argument("--model", default="default", help="model spec (default: the embedded SmolLM2-135M)")
    parser.add_argument("--grid", choices=["full", "smoke"], default="full")
    parser.add_argument("--limit", type=int, help="only the first N subset questions, with the full run's "
                        "demonstrations (a check whose answers match the committed rows)")
    parser.add_argument("--max-minutes", type=float, default=55.0, help="stop starting questions after this long")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--out", help="default: bench/results/qa/DATASET/MODEL")
    args = parser.parse_args()

    subset = json.loads((HERE / f"qa_{args.dataset}_ids.json").read_text())
    ids = subset["ids"]  # all of them even with --limit, so the demonstration split is the full run's
    out = Path(args.out or HERE / "results" / "qa" / args.dataset / slug(args.model))
    family = "financebench" if args.dataset == "financebench" else "multihop"
    grid = GRIDS[("smoke-financebench" if family == "financebench" else "smoke") if args.grid == "smoke" else family]
    started, deadline = time.monotonic(), time.monotonic() + args.max_minutes * 60
    summary = None
    for sweep in grid:
        left = (deadline - time.monotonic()) / 60
        if left <= 0:
            break
        summary = evaluate(dataset=str(Path(args.data) / FILES[args.dataset]), out=out, models=[args.model],
                           ids=ids, limit=args.limit, demo_size=0 if args.dataset == "financebench" else 8, seed=0,
                           max_minutes=left, on_event=log, **sweep)
    minutes = (time.monotonic() - started) / 60
    if summary is None:
        return
    print(f"{'complete' if summary.complete else 'partial (run again to continue)'} after {minutes:.1f} min: "
          f"{out}/report.md", file=sys.stderr)
    for entry in summary.measured:
        recall = entry.evidence_recall if entry.evidence_recall is not None else float("nan")
        print(f"{entry.label:<44} n={entry.count:<3} acc={entry.acc:.3f} f1={entry.f1:.3f} recall={recall:.2f} "
              f"ctx={entry.effective_context_mean:.0f} p50={entry.latency_p50_s:.2f}s")


def log(kind: str, info: dict) -> None:
    if kind == "log":
        print(info["message"], file=sys.stderr)
    elif kind == "config" and info["todo"]:
        print(f"{info['label']}: {info['todo']} of {info['total']} to answer", file=sys.stderr)


if __name__ == "__main__":
    main()
