"""Fixed, disjoint splits: demonstrations, training data and evaluation questions never share a question.

    splits = make_splits(dataset, demo=8, train=0, seed=0)             hashed order, stable as the file grows
    splits = make_splits(dataset, demo=8, eval_ids=["5a7f...", ...])   a committed subset is the eval split

Items are ranked by sha256(seed:id), so an item's split depends on its id and the seed only — not on the file's
order, the grid, or --limit. The demonstration split comes first in that ranking, then training, and evaluation is
the rest (in file order). A dataset that ships its own pool (the demo set) uses it as the demonstration split.
Questions whose normalized text appears in two splits are dropped from demonstrations and training, so a
duplicate under another id cannot leak an answer into the prompt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import InputError
from .datasets import QADataset, QAItem
from .metrics import normalize_answer

DEFAULT_DEMO = 8


@dataclass
class Splits:
    demo: list[QAItem]
    train: list[QAItem]
    eval: list[QAItem]
    seed: int = 0
    dropped: list[str] = field(default_factory=list)  # ids left out of demo/train because eval repeats them

    def sizes(self) -> dict[str, int]:
        return {"demo": len(self.demo), "train": len(self.train), "eval": len(self.eval)}

    def to_dict(self) -> dict:
        return {"seed": self.seed, "sizes": self.sizes(), "dropped": self.dropped,
                "ids": {name: [i.id for i in part] for name, part in
                        (("demo", self.demo), ("train", self.train), ("eval", self.eval))}}


def _rank(item: QAItem, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{item.id}".encode()).hexdigest()


def make_splits(dataset: QADataset, *, demo: int = DEFAULT_DEMO, train: int = 0,
                eval_ids: Sequence[str] | None = None, limit: int | None = None, seed: int = 0) -> Splits:
    """Split a dataset; `limit` keeps the first N evaluation questions (the other splits do not change)."""
    if demo < 0 or train < 0:
        raise InputError(f"split sizes must be >= 0 (demo={demo}, train={train})")
    items = dataset.items
    if eval_ids is not None:
        evaluation = _pick(items, eval_ids, dataset.path)
        chosen = {i.id for i in evaluation}
        rest = [i for i in items if i.id not in chosen]
    else:
        evaluation, rest = None, list(items)
    ranked = sorted(rest, key=lambda i: _rank(i, seed))
    shipped = dataset.demos is not None
    demos = list(dataset.demos) if shipped else ranked[:demo]
    train_items = ranked[0 if shipped else demo:][:train]
    if evaluation is None:
        taken = {i.id for i in demos} | {i.id for i in train_items}
        evaluation = [i for i in items if i.id not in taken]
    if limit is not None:
        evaluation = evaluation[:max(0, limit)]
    if not evaluation:
        raise InputError(f"no evaluation questions left in {dataset.path} after {len(demos)} demonstrations and "
                         f"{len(train_items)} training questions; lower --demo-size/--train-size")
    asked = {normalize_answer(i.question) for i in evaluation}
    dropped = [i.id for i in demos + train_items if normalize_answer(i.question) in asked]
    demos = [i for i in demos if i.id not in dropped]
    train_items = [i for i in train_items if i.id not in dropped]
    return Splits(demos, train_items, evaluation, seed, dropped)


def _pick(items: list[QAItem], ids: Sequence[str], source: str) -> list[QAItem]:
    by_id = {i.id: i for i in items}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise InputError(f"{len(missing)} requested id(s) not in {source}: {', '.join(missing[:5])}; check --ids")
    return [by_id[i] for i in dict.fromkeys(ids)]
