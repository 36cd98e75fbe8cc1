"""Write the fixed QA benchmark subsets (ids committed beside this script):

    bench/qa_hotpotqa_ids.json      50 HotpotQA dev (distractor) questions, by type in the file's proportions
    bench/qa_musique_ids.json       50 MuSiQue-Ans dev questions, by hop count in the file's proportions
    bench/qa_financebench_ids.json  the 8 FinanceBench questions

    .venv/bin/python bench/qa_subsets.py [--data ../shared/data]

The 8 demonstrations every sweep uses come first in the split ranking (llmopt.eval.splits, seed 0) and are left
out before sampling, so a subset question is never a demonstration. Sampling ranks each group by a hash of the
id, so the subsets are reproducible and do not depend on file order.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from llmopt.eval.datasets import load_dataset  # noqa: E402
from llmopt.eval.splits import make_splits  # noqa: E402

HERE = Path(__file__).resolve().parent
SOURCES = {"hotpotqa": ("multihop/hotpotqa_dev_distractor_200.jsonl", "type", 50),
           "musique": ("multihop/musique_ans_dev_200.jsonl", "hops", 50),
           "financebench": ("docqa/financebench_questions.jsonl", None, 8)}
DEMOS = 8


def stratified(items, field: str | None, size: int) -> list:
    """`size` items, each group in proportion to its share (largest remainders), best hash rank first."""
    rank = lambda item: hashlib.sha256(f"qa-bench:{item.id}".encode()).hexdigest()  # noqa: E731
    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(str(item.metadata.get(field)) if field else "all", []).append(item)
    quotas = {g: size * len(members) / len(items) for g, members in groups.items()}
    counts = {g: int(q) for g, q in quotas.items()}
    for g in sorted(quotas, key=lambda g: quotas[g] - counts[g], reverse=True)[:size - sum(counts.values())]:
        counts[g] += 1
    chosen = {i.id for g, members in groups.items() for i in sorted(members, key=rank)[:counts[g]]}
    return [i for i in items if i.id in chosen]  # file order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(HERE.parents[1] / "shared" / "data"))
    args = parser.parse_args()
    for name, (relative, field, size) in SOURCES.items():
        dataset = load_dataset(Path(args.data) / relative)
        demos = [] if name == "financebench" else make_splits(dataset, demo=DEMOS).demo
        pool = [i for i in dataset.items if i.id not in {d.id for d in demos}]
        subset = stratified(pool, field, size)
        groups: dict[str, int] = {}
        for item in subset:
            key = str(item.metadata.get(field)) if field else "all"
            groups[key] = groups.get(key, 0) + 1
        data = {"dataset": name, "source": relative, "size": len(subset), "by": field, "groups": groups,
                "demonstrations": [d.id for d in demos], "ids": [i.id for i in subset]}
        path = HERE / f"qa_{name}_ids.json"
        path.write_text(json.dumps(data, indent=1) + "\n")
        print(f"{path.name}: {len(subset)} questions {groups}")


if __name__ == "__main__":
    main()
