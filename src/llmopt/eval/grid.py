"""The sweep's settings (validated, loadable from YAML) and the grid of configurations they expand to.

A grid point is one way of answering: model × prompt × strategy × k × m × n × samples × max_context. Axes a
strategy does not read (its declared `axes()`: none reads no k, m, n; rag no m, n; drag no n) are set to their
unused value before deduplication, and a strategy that is another without demonstrations is canonicalised (DRAG
with m = 0 is RAG), so `--strategies none,rag,drag --k 1,5 --m 0,2` runs none once and each RAG configuration once.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..config import load_config
from ..errors import ConfigError
from ..rag.strategy import GRID_AXES, UNUSED_VALUE, baseline_name, strategy_class, strategy_help


class SweepConfig(BaseModel):
    """`llmopt eval qa` settings. Lists are grid axes; everything else is fixed for the run."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    dataset: str = Field(..., description="a JSONL file, a folder holding one (FinanceBench: with pdfs/), or 'demo'")
    format: str = Field("auto", description="auto | jsonl | hotpotqa | 2wikimultihopqa | musique | ircot | "
                        "financebench")
    index: str | None = Field(None, description="index to retrieve from (default: one built over the dataset's "
                              "corpus, cached under LLMOPT_HOME/indexes)")
    embedder: str | None = Field(None, description="embedder for the index built over the dataset (default: default)")
    models: list[str] = Field(["default"], min_length=1, description="model specs, see `llmopt models`")
    prompts: list[str] = Field(["basic"], min_length=1, description="prompt templates (basic, cot, decompose, FILE.j2)")
    strategies: list[str] = Field(["rag"], min_length=1, description=strategy_help())
    k: list[int] = Field([5], min_length=1, description="documents per question (and per follow-up)")
    m: list[int] = Field([4], min_length=1, description="demonstrations (strategies that use them)")
    n: list[int] = Field([3], min_length=1, description="most IterDRAG follow-ups before the final answer")
    samples: list[int] = Field([1], min_length=1, description="answers sampled per question (selection picks one)")
    max_context: list[int | None] = Field([None], min_length=1, description="effective-context budgets in tokens")
    select: str = Field("vote", description="how one of several samples is chosen: vote | judge | logprob")
    max_tokens: int | None = Field(None, ge=1, description="most answer tokens (default: the template's)")
    step_tokens: int | None = Field(None, ge=4, description="most tokens per IterDRAG step")
    temperature: float | None = Field(None, ge=0, description="default: greedy for one sample, 0.7 for more")
    seed: int = Field(0, description="seed of sampling and of the splits")
    limit: int | None = Field(None, ge=1, description="evaluate the first N questions of the eval split")
    ids: list[str] | None = Field(None, description="evaluate exactly these question ids (a committed subset)")
    demo_size: int = Field(8, ge=0, description="questions held out as the demonstration pool")
    train_size: int = Field(0, ge=0, description="questions held out as training data (written to train.jsonl)")
    per_document: bool = Field(False, description="FinanceBench: retrieve only from the question's own filing")
    concurrency: int = Field(8, ge=1, description="questions in flight at once where the engine batches "
                                                  "(llama.cpp ?parallel>1, HTTP); else 1")
    recall_k: list[int] = Field([1, 5, 10], description="cut-offs of the retrieval recall@k table")
    metric: Literal["acc", "f1", "em"] = Field("acc", description="the metric of the allocation model, paired "
                                               "differences and the best configuration")
    max_minutes: float | None = Field(None, gt=0, description="start no new question after this many minutes; "
                                      "the summary covers what finished, and a re-run continues")
    retry_errors: bool = Field(False, description="re-run questions whose earlier answer failed with an error")

    @field_validator("strategies")
    @classmethod
    def _strategies(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                strategy_class(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return values

    @field_validator("k", "m", "n", "samples", "recall_k")
    @classmethod
    def _non_negative(cls, values: list[int]) -> list[int]:
        if any(v < 0 for v in values):
            raise ValueError("values must be >= 0")
        return values

    @classmethod
    def make(cls, base: SweepConfig | None = None, **values: Any) -> SweepConfig:
        return load_config(cls, base=base, overrides=values, what="eval")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> SweepConfig:
        return load_config(cls, path, overrides=overrides, what="eval")


AXES = ("model", "prompt", "strategy", "k", "m", "n", "samples", "max_context")


@dataclass(frozen=True)
class GridPoint:
    """One configuration of the grid; its JSON form is the AXES fields (as in results.jsonl and summary.json)."""

    model: str
    prompt: str
    strategy: str
    k: int
    m: int
    n: int
    samples: int = 1
    max_context: int | None = None

    @property
    def key(self) -> str:
        """A stable id (results are keyed by it)."""
        return "|".join(f"{axis}={getattr(self, axis)}" for axis in AXES)

    def label(self, *, with_model: bool = True, with_prompt: bool = True) -> str:
        """What a person reads: "drag k=5 m=2 cot 8k default"."""
        used = strategy_class(self.strategy).axes()
        parts = [self.strategy] + [f"{axis}={getattr(self, axis)}" for axis in ("k", "m", "n") if axis in used]
        if self.samples > 1:
            parts.append(f"samples={self.samples}")
        if self.max_context:
            parts.append(f"≤{self.max_context}")
        if with_prompt:
            parts.append(self.prompt)
        if with_model:
            parts.append(self.model)
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GridPoint:
        return cls(**{axis: data[axis] for axis in AXES})


def point(model: str, prompt: str, strategy: str, k: int, m: int, n: int, samples: int = 1,
          max_context: int | None = None) -> GridPoint:
    """One configuration: canonical strategy (DRAG with m = 0 is RAG), axes it does not read set to unused."""
    declared = strategy_class(strategy_class(strategy).canonical(m))
    values = dict(k=k, m=m, n=n, samples=samples)
    for axis in GRID_AXES:
        if axis not in declared.axes():
            values[axis] = UNUSED_VALUE[axis]
    return GridPoint(model, prompt, declared.name, max_context=max_context, **values)


def expand(cfg: SweepConfig) -> list[GridPoint]:
    """Every distinct configuration of the grid, models outermost (one model loaded at a time)."""
    seen: dict[str, GridPoint] = {}
    for values in itertools.product(cfg.models, cfg.prompts, cfg.strategies, cfg.k, cfg.m, cfg.n, cfg.samples,
                                    cfg.max_context):
        config = point(*values)
        if strategy_class(config.strategy).uses_retrieval and config.k == 0:
            continue  # retrieving zero documents is the baseline without retrieval, in the grid if asked for
        seen.setdefault(config.key, config)
    if not seen:
        raise ConfigError("the grid is empty: every retrieval strategy needs some k >= 1 (or add "
                          f"--strategies {baseline_name()})")
    return list(seen.values())
