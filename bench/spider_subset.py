"""Write bench/spider_ids.json: a fixed 100-question subset of Spider dev, stratified by hardness.

Allocation is proportional to dev's own hardness mix (largest remainder), so the subset's overall execution
accuracy estimates dev's; within each level the questions are a seeded sample. Hardness comes from Spider's
parsed `sql` field with the official rules. Run once; the ids file is committed and never regenerated.

    python bench/spider_subset.py [--spider ../shared/data/spider] [--size 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

from llmopt.sql.hardness import LEVELS
from llmopt.sql.spider import load_spider

HERE = Path(__file__).resolve().parent


def allocate(counts: dict[str, int], size: int) -> dict[str, int]:
    total = sum(counts.values())
    exact = {k: size * v / total for k, v in counts.items()}
    share = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - share[k], reverse=True)[: size - sum(share.values())]:
        share[k] += 1
    return share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spider", default=str(HERE.parent.parent / "shared" / "data" / "spider"))
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(HERE / "spider_ids.json"))
    args = parser.parse_args()
    tasks = load_spider(args.spider)
    by_level = {level: sorted(t.id for t in tasks if t.hardness == level) for level in LEVELS}
    share = allocate({k: len(v) for k, v in by_level.items()}, args.size)
    rng = random.Random(args.seed)
    chosen = sorted(i for level in LEVELS for i in rng.sample(by_level[level], share[level]))
    hardness = {t.id: t.hardness for t in tasks}
    dbs = {t.id: t.db_id for t in tasks}
    data = {"source": "Spider 1.0 dev (shared/data/spider/dev.json)", "seed": args.seed,
            "method": "stratified by official hardness, proportional allocation, seeded sample per level",
            "by_hardness": {level: sum(hardness[i] == level for i in chosen) for level in LEVELS},
            "by_database": dict(sorted(Counter(dbs[i] for i in chosen).items())), "ids": chosen}
    Path(args.out).write_text(json.dumps(data, indent=1) + "\n")
    print(f"{len(chosen)} ids -> {args.out}: {data['by_hardness']}")


if __name__ == "__main__":
    main()
