"""The settings of `ask`, validated, with help beside each field; loadable from YAML (`llmopt ask --config`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..config import load_config
from ..errors import ConfigError
from .strategy import strategy_class, strategy_help


class AskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    strategy: str = Field("rag", description=strategy_help())
    k: int = Field(5, ge=0, description="documents retrieved per question (and per demonstration, per follow-up)")
    m: int | None = Field(None, ge=0, description="demonstrations (strategies that use them); default 4 with a "
                          "pool, else 0")
    n: int = Field(3, ge=0, description="most IterDRAG follow-up iterations before the final answer is forced")
    samples: int = Field(1, ge=1, description="answers sampled per question; more than 1 needs a selection")
    select: str = Field("vote", description="vote | judge | logprob: how one of the samples is chosen")
    prompt: str | None = Field(None, description="a shipped template (basic, cot, decompose) or a FILE.j2")
    max_context: int | None = Field(None, ge=1, description="hard cap on the effective context of a question: "
                                    "every input token of every call (samples, sub-questions, judge calls)")
    demos: str | None = Field(None, description="demonstration pool: JSONL of question/answer[/chain] rows")
    demo_selection: Literal["fixed", "similar"] = Field(
        "fixed", description="fixed: the pool's first m for every question (a shared, cacheable prefix); "
        "similar: the m most similar questions")
    model: str = Field("default", description="model spec, see `llmopt models`")
    judge_model: str | None = Field(None, description="model for judge selection (default: the answering model)")
    index: str | None = Field(None, description="index name, path or milvus:// URI, see `llmopt ingest`")
    max_tokens: int | None = Field(None, ge=1, description="most answer tokens (default: the template's)")
    step_tokens: int = Field(48, ge=4, description="most tokens per IterDRAG follow-up or intermediate answer")
    temperature: float | None = Field(None, ge=0, description="default: 0 (greedy) for one sample, 0.7 for more")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling: draw from the smallest set of tokens whose "
                         "probabilities add up to top_p")
    seed: int = Field(0, description="seed of the first sample; sample i uses seed + i")
    prefix_cache: bool = Field(True, description="keep shared prompt prefixes' key/value state (local engines)")

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        try:
            strategy_class(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("select")
    @classmethod
    def _known_selection(cls, value: str) -> str:
        from .select import SELECTORS

        if value not in SELECTORS:
            raise ValueError(f"unknown selection '{value}'; choose one of: {', '.join(SELECTORS)}")
        return value

    @classmethod
    def make(cls, **values: Any) -> "AskConfig":
        """Validate (None = not given), turning pydantic's report into one ConfigError line."""
        return load_config(cls, overrides=values, what="ask")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> "AskConfig":
        return load_config(cls, path, overrides=overrides, what="ask")
