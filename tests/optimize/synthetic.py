"""A synthetic objective with a known optimum: configuration i answers each question right with probability p_i
(a seeded coin per configuration and question), at a known compute per answer. Used by the search tests, and
run as a script by the resume test (`python synthetic.py OUT [--sleep S]`)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

from llmopt.eval.datasets import QAItem
from llmopt.eval.grid import point
from llmopt.eval.results import EvalRecord
from llmopt.optimize import CachedEvaluator, Space, run_search

QUESTIONS = [QAItem(id=f"q{i:03d}", question=f"question {i}?", answers=["x"]) for i in range(60)]


def space() -> Space:
    return Space.from_axes(models=["default"], prompts=["basic"], strategies=["none", "rag", "drag"],
                           k=[1, 2, 3, 5, 8, 10], m=[0, 1, 2], n=[1])


def quality(config) -> float:
    """Peaks at drag k=3 m=2 (0.8); k far from 3 loses, demonstrations help, no retrieval is poor."""
    if config.strategy == "none":
        return 0.15
    base = 0.7 - 0.06 * abs(config.k - 3)
    return max(0.05, base + 0.05 * config.m)


def cost(config) -> float:
    return 1.0 + config.k * (1 + config.m)


class Synthetic(CachedEvaluator):
    def __init__(self, results: Path, sleep: float = 0.0, fail_models: tuple[str, ...] = ()):
        super().__init__(results)
        self.calls = 0
        self.sleep = sleep
        self.fail_models = fail_models

    def answer(self, config, item):
        from llmopt.errors import EndpointError

        if config.model in self.fail_models:
            raise EndpointError(f"cannot reach {config.model}: connection refused")
        self.calls += 1
        if self.sleep:
            time.sleep(self.sleep)
        draw = int(hashlib.sha256(f"{config.key}:{item.id}".encode()).hexdigest()[:8], 16) / 16**8
        right = float(draw < quality(config))
        return EvalRecord(**config.to_json(), key=config.key, id=item.id, question=item.question, gold=item.answers,
                          prediction="x" if right else "y", em=right, f1=right, acc=right,
                          usage={"compute_s": cost(config), "cost_usd": cost(config) * 1e-4, "latency_s": 0.01})


def main() -> None:
    out = Path(sys.argv[1])
    sleep = float(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--sleep" else 0.0
    out.mkdir(parents=True, exist_ok=True)
    evaluator = Synthetic(out / "results.jsonl", sleep=sleep)
    outcome = run_search(space(), QUESTIONS, evaluator, storage=str(out / "search.journal"), first=4, eta=3,
                         bracket=int(os.environ.get("SEARCH_BRACKET", "27")))
    (out / "outcome.json").write_text(json.dumps({"finalists": [p.key for p in outcome.finalists],
                                                  "calls": evaluator.calls}))


if __name__ == "__main__":
    main()
