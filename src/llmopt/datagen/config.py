"""The settings of `llmopt data generate`, one validated model (the CLI's flags are derived from it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..config import load_config

KINDS = ("single", "multi", "table", "picture")
POOLS = ("eval", "demos", "train")  # file stems under --out, in the order they are filled
DEFAULT_COUNT = 40


class GenerateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field("default", description="generator model spec (the embedded default is tiny: smoke tests "
                       "only), e.g. openai:MODEL@URL")
    index: str | None = Field(None, description="index to generate from (name, folder or milvus:// URI); with "
                              "documents, they are ingested into it first")
    out: str = Field("qa/generated", description="folder for eval.jsonl, demos.jsonl, train.jsonl, generated.json")
    count: int | None = Field(None, ge=1, description="questions to keep, all pools together (default: the pool "
                              f"sizes' sum, else {DEFAULT_COUNT})")
    eval_size: int | None = Field(None, ge=0, description="questions in eval.jsonl (default: what the other pools "
                                  "leave of --count)")
    demo_size: int | None = Field(None, ge=0, description="questions in demos.jsonl, the demonstration pool "
                                  "(default: a fifth of --count, at most 8)")
    train_size: int | None = Field(None, ge=0, description="questions in train.jsonl, for fine-tuning "
                                   "(default: a fifth of --count)")
    kinds: list[str] = Field(list(KINDS), description="question kinds: single (one chunk), multi (two chunks "
                             "linked by an entity), table, picture")
    seed: int = Field(0, ge=0, description="orders the candidate chunks and the pools")
    embedder: str = Field("default", description="embedder for near-duplicate detection")
    duplicate_threshold: float = Field(0.92, gt=0, le=1, description="cosine similarity at which a question is "
                                       "a near-duplicate of one already kept")
    agreement_threshold: float = Field(0.5, gt=0, le=1, description="token F1 at which the round-trip answer "
                                       "agrees with the generated one (containment always agrees)")
    max_candidates: int | None = Field(None, ge=1, description="most candidates tried, resumed ones included "
                                       "(default: 5 x --count)")
    max_tokens: int = Field(96, ge=16, description="most tokens per generated question and answer")
    max_passage_chars: int = Field(1500, ge=200, description="longest passage shown to the generator (characters)")
    evidence: Literal["chunk", "page"] = Field("chunk", description="evidence keys: chunk ids (score with --index "
                                               "on the same index) or DOC#PAGE pages (every chunk needs a page)")

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        kinds = list(dict.fromkeys(k.strip().lower() for k in value if k.strip()))
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown kind(s) {', '.join(unknown)}; use some of {', '.join(KINDS)}")
        if not kinds:
            raise ValueError(f"name at least one kind of {', '.join(KINDS)}")
        return kinds

    @model_validator(mode="after")
    def _sizes_fit(self) -> "GenerateConfig":
        sizes = self.pool_sizes()
        if any(n < 0 for n in sizes.values()) or (self.count is not None and sum(sizes.values()) != self.count):
            given = {k: v for k, v in (("eval", self.eval_size), ("demo", self.demo_size),
                                       ("train", self.train_size)) if v is not None}
            raise ValueError(f"pool sizes {given} do not fit count {self.count}; make --eval + --demo + --train "
                             "equal --count, or drop one of them")
        if sum(sizes.values()) == 0:
            raise ValueError("every pool size is 0; ask for at least one question")
        return self

    @property
    def target(self) -> int:
        """How many questions to keep."""
        return sum(self.pool_sizes().values())

    def pool_sizes(self) -> dict[str, int]:
        """{"eval", "demos", "train"}: the sizes asked for. With --count, the pools not named share it (demos a
        fifth, at most 8; train a fifth; eval the rest); with --eval and no --count, only the named pools."""
        evaluation, demo, train, count = self.eval_size, self.demo_size, self.train_size, self.count
        if count is None and evaluation is not None:
            return {"eval": evaluation, "demos": demo or 0, "train": train or 0}
        count = count if count is not None else DEFAULT_COUNT
        if evaluation is None:
            demo = demo if demo is not None else min(8, count // 5)
            train = train if train is not None else count // 5
            return {"eval": count - demo - train, "demos": demo, "train": train}
        demo = demo if demo is not None else max(0, min(8, count // 5, count - evaluation))
        train = train if train is not None else count - evaluation - demo
        return {"eval": evaluation, "demos": demo, "train": train}

    @property
    def candidate_limit(self) -> int:
        return self.max_candidates or 5 * self.target

    @property
    def out_dir(self) -> Path:
        return Path(self.out).expanduser()

    @classmethod
    def make(cls, base: "GenerateConfig | None" = None, **values: Any) -> "GenerateConfig":
        """Validate (None = not given) into one ConfigError line."""
        return load_config(cls, base=base, overrides=values, what="data generate")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> "GenerateConfig":
        return load_config(cls, path, overrides=overrides, what="data generate")
