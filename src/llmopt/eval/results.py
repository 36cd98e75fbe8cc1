"""The typed results of a sweep. Their JSON is what lies on disk: an EvalRecord is one line of results.jsonl, an
EvalSummary is summary.json (a ConfigSummary per configuration, a PairedDifference per comparison with the
baseline). `to_json()` gives exactly the JSON the files have always held, so committed sweeps load unchanged, and
`from_json` reads them back (a summary written by hand or another tool may leave out the statistics)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from .grid import GridPoint


class _Json(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    def to_json(self) -> dict[str, Any]:
        return self.model_dump()

    @classmethod
    def from_json(cls, data: dict[str, Any]):
        return cls.model_validate(data)


class _Configuration(_Json):
    """The grid point's fields, flattened into the JSON as they always were."""

    model: str
    prompt: str
    strategy: str
    k: int
    m: int
    n: int
    samples: int = 1
    max_context: int | None = None

    @property
    def point(self) -> GridPoint:
        return GridPoint.from_json(self.model_dump())


class EvalRecord(_Configuration):
    """One question answered by one configuration, scored (a line of results.jsonl)."""

    key: str
    id: str
    question: str
    gold: list[str]
    groups: dict[str, Any] = {}  # item metadata the summary breaks quality down by (type, level, hops, kind)
    prediction: str
    em: float
    f1: float
    acc: float
    evidence: list[str] = []  # evidence keys of the chunks the answer was given
    evidence_recall: float | None = None  # None: nothing was retrieved, nothing to score
    usage: dict[str, int | float] = {}  # the Answer's usage; a failed question records only latency_s
    parse_failures: int = 0
    budget_notes: list[str] = []
    model_id: str | None = None  # the engine's model id; a failed question has none
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        # JSON order: key, id, the configuration, then the rest; a failed question's line has no model_id
        data = self.model_dump(exclude={"model_id"} if self.model_id is None else None)
        head = {"key": data.pop("key"), "id": data.pop("id")}
        return {**head, **data}

    def metric(self, name: str) -> float:
        return float(getattr(self, name))

    def used(self, field: str) -> float:
        return float(self.usage.get(field) or 0.0)


class ConfigSummary(_Configuration):
    """One configuration over the questions it finished (an entry of summary.json's configs)."""

    key: str = ""
    label: str = ""
    count: int
    missing: int = 0
    em: float | None = None
    em_ci: list[float] | None = None
    f1: float | None = None
    f1_ci: list[float] | None = None
    acc: float | None = None
    acc_ci: list[float] | None = None
    evidence_recall: float | None = None
    evidence_recall_ci: list[float] | None = None
    by: dict[str, dict[str, dict[str, int | float]]] = {}  # {field: {value: {"count", metric...}}}
    effective_context_mean: float | None = None
    prompt_tokens_mean: float | None = None
    cached_prompt_tokens_mean: float | None = None
    completion_tokens_mean: float | None = None
    calls_mean: float | None = None
    latency_mean_s: float | None = None
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    compute_s_total: int | float = 0
    cost_usd_total: int | float = 0
    cost_usd_mean: float | None = None
    errors: int = 0
    parse_failures: int = 0
    # share of questions whose prompt the budget planner had to shrink: their k/m is not the nominal one
    budget_limited: float | None = None

    def metric(self, name: str) -> float | None:
        return getattr(self, name)


class PairedDifference(_Json):
    """A configuration minus its model's baseline on the questions both finished, with a paired-bootstrap CI."""

    config: str
    label: str
    baseline: str
    baseline_label: str
    metric: str
    count: int
    difference: float
    ci: list[float]


class EvalSummary(_Json):
    """summary.json: per configuration quality, context, latency and cost; paired differences; retrieval
    recall@k; the allocation model fit per model and prompt."""

    dataset: str
    dataset_path: str | None = None
    fingerprint: str = ""
    evidence: str | None = None
    splits: dict[str, int] = {}
    skipped_rows: int = 0
    metric: str = "acc"
    generated: str = ""
    complete: bool = False
    configs: list[ConfigSummary]
    best: str | None = None  # key of the best configuration by the metric
    paired: list[PairedDifference] = []
    retrieval: dict[str, Any] | None = None  # {"count", "depth", "recall@K", "recall@K_ci"}
    allocation_model: dict[str, Any] = {}  # {"metric", "equation", "groups": [AllocationModel dict or error]}

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump()
        data["configs"] = [c.to_json() for c in self.configs]
        return data

    @property
    def measured(self) -> list[ConfigSummary]:
        return [c for c in self.configs if c.count]

    @property
    def best_config(self) -> ConfigSummary | None:
        return next((c for c in self.configs if c.key == self.best), None)
