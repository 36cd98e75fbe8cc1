"""Disjoint pools of accepted questions (eval, demonstrations, training) and the files they are written to.

A question is in one pool only. Rows are ranked by sha256(seed:id), so a question's pool depends on its id and
the seed, not on the order it was accepted in. The eval pool is filled first; the demonstration and training
pools then prefer questions whose evidence chunks no eval question uses (so a demonstration or a training row
does not hand over an eval answer), and take others only when they run out; how many did is reported.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..paths import atomic_write_text
from .config import POOLS


def scaled_sizes(sizes: dict[str, int], available: int) -> dict[str, int]:
    """The asked sizes when there are enough rows; otherwise each pool shrinks in proportion (eval keeps the
    rounding remainder)."""
    total = sum(sizes.values())
    if available >= total:
        return dict(sizes)
    out = {name: size * available // total for name, size in sizes.items()}
    out["eval"] += available - sum(out.values())
    return out


def _rank(row: dict[str, Any], seed: int) -> str:
    return hashlib.sha256(f"{seed}:{row['id']}".encode()).hexdigest()


def split_pools(rows: list[dict[str, Any]], sizes: dict[str, int], seed: int = 0
                ) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """({"eval", "demos", "train"}: rows, how many demo/train rows share an evidence chunk with an eval row)."""
    sizes = scaled_sizes(sizes, len(rows))
    ranked = sorted(rows, key=lambda row: _rank(row, seed))
    pools = {"eval": ranked[:sizes["eval"]]}
    rest = ranked[sizes["eval"]:]
    used = {chunk for row in pools["eval"] for chunk in row.get("chunk_ids", [])}
    clean = [row for row in rest if not used & set(row.get("chunk_ids", []))]
    ordered = clean + [row for row in rest if row not in clean]
    pools["demos"] = ordered[:sizes["demos"]]
    pools["train"] = ordered[sizes["demos"]:sizes["demos"] + sizes["train"]]
    shared = sum(1 for name in ("demos", "train") for row in pools[name] if row not in clean)
    return {name: pools[name] for name in POOLS}, shared


def write_pools(out: Path, pools: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Write OUT/eval.jsonl, demos.jsonl, train.jsonl atomically (an empty pool is an empty file); their paths."""
    paths = {}
    for name in POOLS:
        path = out / f"{name}.jsonl"
        atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in pools.get(name, [])))
        paths[name] = str(path)
    return paths
