"""Text-to-SQL settings: one validated pydantic model, loadable from YAML, with help text beside each field.

Strategies are presets over the same pipeline:
    zero         the schema and the question; one greedy query
    fewshot      + `shots` examples chosen by DAIL-SQL selection; one greedy query
    fewshot-sc   + self-consistency: the greedy query and `samples - 1` sampled ones, voted by executed result
Every strategy self-corrects: a query that errors is sent back with the error, up to `repairs` rounds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..config import load_config
from .safe import DEFAULT_TIMEOUT_S, DISPLAY_ROWS, EVAL_ROW_CAP, MAX_TIMEOUT_S

Strategy = Literal["zero", "fewshot", "fewshot-sc"]
STRATEGIES: tuple[str, ...] = ("zero", "fewshot", "fewshot-sc")


class SQLConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy: Strategy = Field("fewshot", description="zero | fewshot | fewshot-sc (self-consistency).")
    model: str = Field("default", description="Model spec (see `llmopt models`).")
    shots: int = Field(5, ge=0, le=50, description="Few-shot examples per prompt (fewshot strategies).")
    samples: int = Field(5, ge=1, le=64, description="Queries per question for fewshot-sc: the greedy one plus "
                                                      "samples-1 sampled at `temperature`.")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature of the extra candidates.")
    seed: int = Field(0, description="Seed of the first sampled candidate; candidate i uses seed + i.")
    repairs: int = Field(1, ge=0, le=5, description="Self-correction rounds when a query errors.")
    reasoning: bool = Field(False, description="Let the model reason in a few sentences before the SQL.")
    max_tokens: int = Field(200, ge=16, le=4096, description="Most tokens per generated query (x3 with reasoning).")
    sample_values: int = Field(3, ge=0, le=10, description="Sample values per column shown in the schema.")
    embedder: str = Field("default", description="Question embedder for example selection: default (MiniLM), "
                                                 "lexical (no model), st:FOLDER, openai:MODEL@URL.")
    preliminary: bool = Field(True, description="DAIL-SQL: predict a zero-shot query first and prefer examples "
                                                "with a similar skeleton (one extra call per question).")
    skeleton_threshold: float = Field(0.85, ge=0.0, le=1.0, description="DAIL-SQL's skeleton-similarity "
                                                                         "threshold.")
    schema_linking: Literal["none", "embed", "embed+model"] = Field(
        "none", description="Prompt with the tables and columns the question needs: none (the whole schema), embed "
        "(question phrases matched to names and grounded values by `embedder`, plus foreign-key paths and keys), "
        "embed+model (+ one call asking the model which tables it needs).")
    link_tables: int = Field(4, ge=1, le=100, description="Schema linking: tables kept by score (before the "
                                                         "foreign-key paths between them are added).")
    link_columns: int = Field(8, ge=1, le=500, description="Schema linking: columns kept per table by score (its "
                                                          "primary and foreign keys are kept besides).")
    value_grounding: bool = Field(False, description="Match the question's literals to values stored in the "
                                  "database (an index built once per database, case/whitespace-insensitive and "
                                  "fuzzy) and show the matches as candidate filters with the exact stored value.")
    example_masking: bool = Field(False, description="Show examples from other databases with their tables, "
                                  "columns and values rewritten to placeholders (table_a, column_a, 'value_a'), "
                                  "so the model copies the pattern, not another database's names.")
    examples_same_db: Literal["any", "prefer", "only", "exclude"] = Field(
        "any", description="Examples from the asked database itself (when the pool has some): any (ranked like the "
        "others), prefer (first), only, exclude. Evaluation always keeps the question's database out.")
    selection: Literal["vote", "vote+check"] = Field(
        "vote", description="How a candidate is chosen: vote (by result set) or vote+check (only candidates that "
        "use linked tables/columns and the grounded spelling of values vote; ties go to the model's likelihood; "
        "repairs restate the linked schema).")
    timeout_s: float = Field(DEFAULT_TIMEOUT_S, gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False,
                             description="Time limit per query execution, seconds (a finite number above 0).")
    display_rows: int = Field(DISPLAY_ROWS, ge=1, description="Rows shown to a person.")
    row_cap: int = Field(EVAL_ROW_CAP, ge=1, description="Rows compared during voting and evaluation; a larger "
                                                         "result counts as an error.")
    keep_distinct: bool = Field(False, description="Evaluation: keep DISTINCT (the official script drops it).")
    concurrency: int | None = Field(None, ge=1, le=1024, description="Evaluation: questions answered at once "
                                    "(default: as many as the model batches, ?parallel= on llama.cpp, "
                                    "?concurrency= over HTTP; 1: one at a time). Changes no result.")

    @property
    def uses_examples(self) -> bool:
        return self.strategy != "zero" and self.shots > 0

    @property
    def candidates(self) -> int:
        return self.samples if self.strategy == "fewshot-sc" else 1

    def describe(self) -> str:
        """A short label for reports: strategy and the settings that matter for it."""
        parts = [self.strategy]
        if self.uses_examples:
            parts.append(f"k={self.shots}")
        if self.strategy == "fewshot-sc":
            parts.append(f"n={self.samples} T={self.temperature:g}")
        parts.append(f"r={self.repairs}")
        if self.reasoning:
            parts.append("reasoning")
        if self.schema_linking != "none":
            parts.append(f"link={self.schema_linking}({self.link_tables},{self.link_columns})")
        if self.value_grounding:
            parts.append("values")
        if self.uses_examples and self.example_masking:
            parts.append("masked")
        if self.uses_examples and self.examples_same_db != "any":
            parts.append(f"same-db={self.examples_same_db}")
        if self.selection != "vote":
            parts.append(self.selection)
        return " ".join(parts) + f" {self.model}"


def make_config(base: SQLConfig | None = None, config_file: str | Path | None = None, **overrides) -> SQLConfig:
    """A config from (in increasing priority) defaults, a YAML file, and explicit overrides (None = not given).
    A shared config file may keep these settings under a "sql:" key."""
    return load_config(SQLConfig, config_file, base=base, overrides=overrides, section="sql", what="text-to-SQL")
