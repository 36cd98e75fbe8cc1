"""Print the Spider benchmark section for bench/RESULTS.md from bench/results/spider/<model>/<strategy>/.

    python bench/spider_report.py >> bench/RESULTS.md      (after reviewing it)

Execution accuracy overall and by hardness, each with a 95% bootstrap CI; latency and cost per question;
paired differences against zero-shot on the questions both finished (paired bootstrap CI).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from llmopt.sql.config import STRATEGIES
from llmopt.sql.hardness import LEVELS
from llmopt.sql.report import paired_table
from llmopt.sql.runner import read_results, summarize
from llmopt.stats import bootstrap_ci

HERE = Path(__file__).resolve().parent


def pct_ci(values: list[float]) -> str:
    if not values:
        return "–"
    mean, low, high = bootstrap_ci(values)
    return f"{100 * mean:.1f} [{100 * low:.0f}, {100 * high:.0f}]"


def model_section(model_dir: Path) -> list[str]:
    runs = {s: list(read_results(model_dir / s / "results.jsonl").values()) for s in STRATEGIES
            if (model_dir / s / "results.jsonl").is_file()}
    if not runs:
        return []
    model = next((r["model"] for rs in runs.values() for r in rs if r.get("model")), model_dir.name)
    lines = [f"### {model}", "",
             "| strategy | n | EX % [95% CI] | " + " | ".join(f"{l} % [CI]" for l in LEVELS)
             + " | latency s/q | cost $/q | calls/q | errors |",
             "|" + "---|" * (3 + len(LEVELS) + 4)]
    for strategy, records in runs.items():
        scored = [r for r in records if not r.get("gold_error")]
        summary = summarize(records)
        per = summary["per_question"]
        by_level = [pct_ci([float(r["correct"]) for r in scored if r["hardness"] == l]) for l in LEVELS]
        lines.append(f"| {strategy} | {len(scored)} | {pct_ci([float(r['correct']) for r in scored])} | "
                     + " | ".join(by_level) + f" | {per['latency_s']:.1f} | {per['cost_usd']:.5f} | "
                     f"{per['calls']:.1f} | {summary['errors']} |")
    if "zero" in runs and len(runs) > 1:
        table = paired_table(runs, "zero")
        lines += ["", "| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
        lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.rows]
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(HERE / "results" / "spider"))
    parser.add_argument("--machine", default="2-core CPU, 24 GiB RAM, no GPU, one benchmark at a time",
                        help="how the runs were measured (stated in the section's header)")
    args = parser.parse_args()
    ids = json.loads((HERE / "spider_ids.json").read_text())
    out = ["", "## Text-to-SQL on Spider dev (bench/spider_bench.py)", "",
           f"Machine: {args.machine}. Date: {time.strftime('%Y-%m-%d')}. "
           f"Questions: bench/spider_ids.json ({len(ids['ids'])} dev questions stratified by hardness: "
           + ", ".join(f"{k} {v}" for k, v in ids["by_hardness"].items())
           + "); example pool: the other databases' dev questions. Execution accuracy with the official "
           "test-suite semantics; strategies: zero-shot, few-shot (DAIL selection, k=5), few-shot + "
           "self-consistency (n=5, T=0.7), one self-correction round each; 'errors' counts final queries that "
           "failed to run. Latency = model-call latencies + pipeline time per question; cost = engine-busy "
           "seconds x the CPU-hour rate in prices.yaml.", ""]
    for model_dir in sorted(p for p in Path(args.results).iterdir() if p.is_dir()):
        out += model_section(model_dir)
    print("\n".join(out))


if __name__ == "__main__":
    main()
