"""The budgeted search against the full grid, on the committed HotpotQA and MuSiQue subsets with
Qwen2.5-Coder-0.5B (issue 16's check).

The grid side is the existing sweep (bench/results/qa/DATASET/qwen2.5-coder-0.5b: 11 configurations × 50
questions, every answer in its results.jsonl). The search runs over the same 11 configurations and the same 50
questions, with the evaluator reading a copy of those answers: decoding is greedy and seeded, so an answer the
search asks for is the answer the sweep recorded, and its compute (engine seconds, `compute_s`) is what the
sweep measured for it. A configuration or question missing from the sweep would be answered with the model
(`make packs`). The search's compute is the sum over every answer it used: screening rungs and the finalists on
the whole split. It runs with each of several question-order seeds (which questions the first rungs see), since
one seed is one draw.

Checks: the chosen configuration's Acc lies within the CI of the grid's best configuration, and the search's
compute is ≤ 40% of the grid's.

    .venv/bin/python bench/search_vs_grid.py [--seeds 0,1,2,3,4] [--first 5] [--eta 3] [--finalists 3]
    -> bench/results/search_vs_grid.json and a markdown table on stdout (for bench/RESULTS.md)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from llmopt.eval.datasets import load_dataset  # noqa: E402
from llmopt.eval.grid import SweepConfig  # noqa: E402
from llmopt.eval.results import EvalSummary  # noqa: E402
from llmopt.eval.splits import make_splits  # noqa: E402
from llmopt.paths import atomic_write_text  # noqa: E402
from llmopt.optimize import Limits, QAEvaluator, Space, choose, run_search  # noqa: E402
from llmopt.optimize.final import run_finalists  # noqa: E402

MODEL = "qwen2.5-coder-0.5b"


def one(dataset: str, seed: int, args) -> dict:
    sweep = HERE / "results" / "qa" / dataset / MODEL
    summary = EvalSummary.from_json(json.loads((sweep / "summary.json").read_text()))
    last = json.loads((sweep / "config.json").read_text())["last_run"]
    cfg = SweepConfig.make(**{k: v for k, v in last.items() if k not in ("max_minutes",)})
    data = load_dataset(cfg.dataset, format=cfg.format)
    splits = make_splits(data, demo=cfg.demo_size, train=cfg.train_size, eval_ids=cfg.ids, seed=cfg.seed)
    grid = [c.point for c in summary.configs]
    grid_compute = sum(c.compute_s_total for c in summary.configs)
    grid_best = max(summary.configs, key=lambda c: (c.acc, -(c.compute_s_total or 0)))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(sweep / "results.jsonl", work / "results.jsonl")
        evaluator = QAEvaluator(cfg, data, splits, work / "results.jsonl")
        outcome = run_search(Space.from_points(grid), splits.eval, evaluator, storage=str(work / "search.journal"),
                             metric="acc", first=args.first, eta=args.eta, finalists=args.finalists, seed=seed)
        final = run_finalists(outcome.finalists, splits.eval, evaluator, "acc")
    choice = choose(final.candidates, Limits())
    chosen = choice.chosen
    low, high = grid_best.acc_ci
    return {
        "dataset": dataset, "seed": seed, "first": args.first, "eta": args.eta, "finalists": args.finalists,
        "grid": {"configs": len(grid), "questions": len(splits.eval), "answers": len(grid) * len(splits.eval),
                 "compute_s": grid_compute, "best": grid_best.label, "best_acc": grid_best.acc,
                 "best_ci": grid_best.acc_ci},
        "search": {"answers": evaluator.touched.answers, "compute_s": evaluator.touched.compute_s,
                   "new_answers": evaluator.spent.answers, "rungs": outcome.rungs,
                   "pruned": sum(t.state == "pruned" for t in outcome.trials),
                   "finalists": [s.label for s in final.summaries], "chosen": chosen.label,
                   "chosen_acc": chosen.quality, "chosen_ci": [chosen.ci_low, chosen.ci_high]},
        "compute_share": evaluator.touched.compute_s / grid_compute,
        "within_ci": low <= chosen.quality <= high,
    }


def table(rows: list[dict]) -> str:
    lines = ["| dataset | seed | grid best (Acc, CI) | searched choice (Acc) | within CI | answers: search / grid "
             "| compute: search / grid |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        g, s = r["grid"], r["search"]
        lines.append(f"| {r['dataset']} | {r['seed']} | {g['best']} ({g['best_acc']:.2f}, [{g['best_ci'][0]:.2f}, "
                     f"{g['best_ci'][1]:.2f}]) | {s['chosen']} ({s['chosen_acc']:.2f}) | "
                     f"{'yes' if r['within_ci'] else '**no**'} | {s['answers']} / {g['answers']} | "
                     f"{s['compute_s']:.0f} s / {g['compute_s']:.0f} s = **{r['compute_share']:.0%}** |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="hotpotqa,musique")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--first", type=int, default=5)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--finalists", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "results" / "search_vs_grid.json"))
    args = parser.parse_args()
    rows = [one(d, int(s), args) for d in args.datasets.split(",") for s in args.seeds.split(",")]
    atomic_write_text(Path(args.out), json.dumps(rows, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
