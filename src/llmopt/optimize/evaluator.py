"""What the search asks: "these questions, answered by this configuration". Every answer is kept in one
results.jsonl (the sweep's format, keyed by configuration and question), so a question answered once is never
answered again: not at the next rung, not by the finalists, not after a crash or Ctrl-C.

The evaluator keeps count of two things: `spent` (the compute and dollars of the answers made in this process)
and `touched` (of every answer the search used, made now or read back), which is the search's compute.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..eval.datasets import QADataset, QAItem
from ..eval.grid import GridPoint, SweepConfig
from ..eval.results import EvalRecord
from ..eval.splits import Splits


class BudgetSpent(Exception):
    """The search's budget (minutes or dollars) ran out; what was answered is kept."""


@dataclass
class Tally:
    answers: int = 0
    compute_s: float = 0.0
    cost_usd: float = 0.0
    keys: set[tuple[str, str]] = field(default_factory=set)

    def add(self, record: EvalRecord) -> None:
        pair = (record.key, record.id)
        if pair in self.keys:
            return
        self.keys.add(pair)
        self.answers += 1
        self.compute_s += record.used("compute_s")
        self.cost_usd += record.used("cost_usd")

    def to_json(self) -> dict[str, float]:
        return {"answers": self.answers, "compute_s": self.compute_s, "cost_usd": self.cost_usd}


class Evaluator(Protocol):
    spent: Tally
    touched: Tally

    def records(self, config: GridPoint, items: Sequence[QAItem],
                check: Callable[[], None] | None = None) -> list[EvalRecord]: ...


class CachedEvaluator:
    """The common part: the results store, the tallies and the budget check between questions. Subclasses
    implement `answer(config, item) -> EvalRecord`."""

    def __init__(self, results: Path, prices: dict[str, dict[str, float]] | None = None):
        from ..eval.runner import ResultStore

        self.store = ResultStore(results)
        self.spent, self.touched = Tally(), Tally()
        self._lock = threading.Lock()
        self.prices = prices or {}  # model spec -> the user's prices (a project's models[].prices)

    def priced(self, record: EvalRecord) -> EvalRecord:
        """The record costed at the user's prices for its model, when they gave any (read back records too, so a
        price changed between runs applies to every answer)."""
        prices = self.prices.get(record.model)
        if not prices:
            return record
        from ..models.registry import backend_of
        from ..pricing import usage_cost

        cost = usage_cost(record.usage, prices, local=backend_of(record.model).is_local)
        if cost is None:
            return record
        return record.model_copy(update={"usage": {**record.usage, "cost_usd": cost}})

    def answer(self, config: GridPoint, item: QAItem) -> EvalRecord:
        raise NotImplementedError

    def refresh(self) -> None:
        """Read back answers other workers appended to the same results file since this one started."""
        from ..eval.runner import read_records

        with self._lock:
            for record in read_records(self.store.path):
                self.store.rows.setdefault((record.key, record.id), record)

    def cached(self, config: GridPoint, item: QAItem) -> EvalRecord | None:
        return self.store.rows.get((config.key, item.id))

    def records(self, config: GridPoint, items: Sequence[QAItem],
                check: Callable[[], None] | None = None) -> list[EvalRecord]:
        out = []
        for item in items:
            record = self.cached(config, item)
            if record is None:
                if check:
                    check()  # raises BudgetSpent before a new answer is paid for
                record = self.answer(config, item)
                with self._lock:
                    self.store.append(record)
                    record = self.priced(record)
                    self.spent.add(record)
            else:
                record = self.priced(record)
            self.touched.add(record)
            out.append(record)
        return out


class QAEvaluator(CachedEvaluator):
    """Answers with the sweep's own machinery (eval.runner: the same asker, scoring and record), so a search's
    results.jsonl is a sweep folder's: `llmopt eval qa` can summarise it and `llmopt allocate` fit it."""

    def __init__(self, cfg: SweepConfig, dataset: QADataset, splits: Splits, results: Path, *,
                 llms: dict[str, Any] | None = None, retriever: Any = None,
                 on_log: Callable[[str], None] | None = None, prices: dict[str, dict[str, float]] | None = None):
        super().__init__(results, prices)
        self.cfg, self.dataset, self.splits = cfg, dataset, splits
        self.llms = dict(llms or {})
        self._retriever = retriever
        self._asker: tuple[str, Any] | None = None
        self._model: str | None = None
        self.on_log = on_log or (lambda message: None)

    def retriever(self) -> Any:
        if self._retriever is None:
            from ..eval.runner import _open_retriever

            self._retriever = _open_retriever(self.cfg, self.dataset, lambda kind, info: self.on_log(info["message"]))
        return self._retriever

    def _llm(self, spec: str):
        if spec in self.llms:
            return self.llms[spec]
        if self._model not in (None, spec):  # one local model in memory at a time
            from ..models.registry import unload_all

            unload_all()
        self._model = spec
        return None  # the asker resolves the spec (and caches the loaded model)

    def asker(self, config: GridPoint):
        if self._asker is None or self._asker[0] != config.key:
            from ..eval.runner import make_asker
            from ..rag.strategy import strategy_class

            retriever = self.retriever() if strategy_class(config.strategy).uses_retrieval else None
            self._asker = (config.key, make_asker(self.cfg, config, self._llm(config.model), retriever,
                                                  self.splits))
        return self._asker[1]

    def answer(self, config: GridPoint, item: QAItem) -> EvalRecord:
        from ..eval.runner import answer_item

        return answer_item(self.asker(config), config, item, self.dataset.evidence_kind)
