"""The project file (llmopt.yaml): the user's own problem -- documents, tasks, candidate models, training rungs,
the search space and budget, constraints and the objective -- as one validated pydantic model.

Paths resolve against the project file's folder (the validation context's "base"); files that must exist are
checked here, model specs are parsed (never loaded), so a project that validates can run.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ..train.distill.config import DistillConfig
from ..train.finetune.config import FinetuneConfig
from ..train.merge.config import MergeConfiguration
from ..train.merge.search.config import MergeSearchConfig

QAMetric = Literal["acc", "f1", "em", "judge"]
SQLMetric = Literal["ex", "judge"]
Metric = Literal["acc", "f1", "em", "ex", "judge"]
SQLITE_HEADER = b"SQLite format 3\x00"
_GLOB_CHARS = set("*?[")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def base_folder(info: ValidationInfo) -> Path:
    """The folder relative paths resolve against: the project file's (the current folder without a context)."""
    context = info.context or {}
    return Path(context.get("base") or ".")


def resolve(value: str | Path, info: ValidationInfo) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base_folder(info) / path).resolve()


def existing_file(value: Path, info: ValidationInfo) -> Path:
    path = resolve(value, info)
    if not path.is_file():
        raise ValueError(f"{'is a folder' if path.is_dir() else 'no such file'}: {path}; give an existing file "
                         "(relative paths start at the project file's folder)")
    return path


def sqlite_file(value: Path, info: ValidationInfo) -> Path:
    path = existing_file(value, info)
    with path.open("rb") as handle:
        if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise ValueError(f"{path} is not a SQLite database (no 'SQLite format 3' header); give a .sqlite file")
    return path


def model_spec(value: str) -> str:
    from ..errors import ModelSpecError
    from ..models.spec import parse_spec

    try:
        parse_spec(value)
    except ModelSpecError as exc:
        raise ValueError(str(exc)) from None
    return value


def document_path(value: str, info: ValidationInfo) -> str:
    """A file, folder or glob (recursive `**` allowed), absolute after validation; one matching nothing is refused."""
    path = resolve(value, info)
    if _GLOB_CHARS & set(str(value)):
        if not glob.glob(str(path), recursive=True):
            raise ValueError(f"{value!r} matches no file under {base_folder(info).resolve()}; fix the glob")
    elif not path.exists():
        raise ValueError(f"no such file or folder: {path}; fix the path (relative paths start at the project "
                         "file's folder)")
    return str(path)


DocumentPath = Annotated[str, AfterValidator(document_path)]
ExistingFile = Annotated[Path, AfterValidator(existing_file)]
SQLiteFile = Annotated[Path, AfterValidator(sqlite_file)]
ModelSpecText = Annotated[str, AfterValidator(model_spec)]


class Documents(_Strict):
    paths: list[DocumentPath] = Field(..., min_length=1, description="Files, folders (walked recursively) or globs "
                                      "('docs/**/*.pdf') to ingest; each must match something.")
    index: str | None = Field(None, validate_default=True, description="The index: a name (under "
                              "LLMOPT_HOME/indexes), a folder, or milvus://HOST:PORT/COLLECTION; default: named "
                              "after the project's folder. "
                              "Ingestion is incremental: unchanged files are not read again.")

    @field_validator("index")
    @classmethod
    def _index(cls, value: str | None, info: ValidationInfo) -> str:
        if value is None:
            return base_folder(info).resolve().name or "project"
        if "://" in value or "/" not in value:  # a URI or a plain name
            return value
        return str(resolve(value, info))


class _Task(_Strict):
    judge: ModelSpecText | None = Field(None, description="Model spec of the LLM judge; needed when metric is judge.")

    @model_validator(mode="after")
    def _judge(self):
        if self.metric == "judge" and not self.judge:
            raise ValueError("metric judge needs a judge model: add `judge: SPEC` (e.g. openai:MODEL@URL) to the task")
        return self


class Generate(_Strict):
    """Questions generated from the documents (llmopt.datagen) when the task has too few of its own."""

    model: ModelSpecText = Field("default", description="The generator model (the embedded default is tiny: its "
                                 "questions are for smoke tests; use a bigger model or an endpoint).")
    count: int = Field(40, ge=4, description="Questions to keep, eval and demonstration pools together.")
    min_questions: int = Field(20, ge=1, description="Generate when `questions` is not given or holds fewer usable "
                               "questions than this.")


class QATask(_Task):
    questions: ExistingFile | None = Field(None, description="Questions file: the generic JSONL (question, answers, "
                                           "evidence optional) or any format `llmopt eval qa` reads; optional with "
                                           "`generate`.")
    generate: Generate | None = Field(None, description="Generate questions from the documents when there are too "
                                      "few (see `llmopt data generate`).")
    format: str = Field("auto", description="The questions file's format: auto (detected) or a format name of "
                        "`llmopt eval qa`.")
    metric: QAMetric = Field("acc", description="The metric that decides: acc, f1, em, or judge (an LLM judge, "
                             "for questions without gold answers).")
    demos: ExistingFile | None = Field(None, description="A demonstration pool (JSONL of question/answer rows, "
                                       "DRAG and IterDRAG read them); default: a few questions held out of "
                                       "`questions`.")

    @model_validator(mode="after")
    def _questions_or_generate(self):
        if self.questions is None and self.generate is None:
            raise ValueError("give `questions: FILE`, or `generate: {model: SPEC, count: N}` to generate them from "
                             "the documents")
        return self

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        from ..eval.datasets import FORMATS

        if value != "auto" and value not in FORMATS:
            raise ValueError(f"unknown questions format {value!r}; formats: auto, {', '.join(FORMATS)}")
        return value


class SQLTask(_Task):
    database: SQLiteFile = Field(..., description="The SQLite database questions are asked of.")
    questions: ExistingFile = Field(..., description="Questions file (Spider-style JSON or JSONL: question, with "
                                    "or without gold SQL in `query`).")
    metric: SQLMetric = Field("ex", description="The metric that decides: ex (execution accuracy against the gold "
                              "SQL) or judge (an LLM judge, for questions without gold SQL).")


class Tasks(_Strict):
    qa: QATask | None = Field(None, description="Question answering over the documents.")
    sql: SQLTask | None = Field(None, description="Text-to-SQL over a SQLite database.")

    @model_validator(mode="after")
    def _one(self):
        if self.qa is None and self.sql is None:
            raise ValueError("name at least one task: qa (questions file) and/or sql (database + questions)")
        return self

    def metrics(self) -> list[str]:
        return [task.metric for task in (self.qa, self.sql) if task is not None]


class Prices(_Strict):
    """Overrides of prices.yaml for one model, in its units."""

    input: float | None = Field(None, ge=0, description="USD per 1M prompt tokens (API models).")
    cached_input: float | None = Field(None, ge=0, description="USD per 1M cached prompt tokens (API models).")
    output: float | None = Field(None, ge=0, description="USD per 1M completion tokens (API models).")
    usd_per_gpu_hour: float | None = Field(None, ge=0, description="USD per GPU-hour (local engines on a GPU, or "
                                           "a self-hosted endpoint charged by wall time).")
    usd_per_cpu_hour: float | None = Field(None, ge=0, description="USD per CPU-hour (local engines on the CPU).")


class ModelCandidate(_Strict):
    spec: ModelSpecText = Field(..., description="Model spec: a pack name (default, qwen2.5-coder-1.5b@llamacpp), "
                                "hf:FOLDER|hub-id, llamacpp:FILE.gguf or openai:MODEL@URL.")
    prices: Prices | None = Field(None, description="Prices where yours differ from prices.yaml.")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"spec": value} if isinstance(value, str) else value


class _ProjectPaths(BaseModel):
    """Resolves a training config's paths against the project folder; its data files must exist."""

    @model_validator(mode="before")
    @classmethod
    def _default_out(cls, data: Any) -> Any:
        """The default output folder too lives in the project folder, not wherever llmopt was started."""
        if isinstance(data, dict) and "out" not in data:
            return {**data, "out": cls.model_fields["out"].default}
        return data

    @field_validator("data", "eval", "out", check_fields=False)
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        return existing_file(value, info) if info.field_name in ("data", "eval") else resolve(value, info)


class FinetuneRung(_ProjectPaths, FinetuneConfig):
    """`llmopt finetune` settings (every field of its config); the data defaults to the project's training pool."""

    data: Path | None = Field(None, description="Training data (JSONL); default: the training pool drawn from "
                              "the project's tasks.")
    with_context: bool = Field(False, description="Train on prompts with the documents retrieved for them from "
                               "the project's index (rag_index set to it).")

    @model_validator(mode="after")
    def _context(self):
        if self.with_context and self.rag_index:
            raise ValueError("give with_context (the project's index) or rag_index, not both")
        return self


class DistillRung(_ProjectPaths, DistillConfig):
    """`llmopt distill` settings (every field of its config); the data defaults to the project's training pool."""

    data: Path | None = Field(None, description="Training prompts (JSONL); default: the training pool drawn from "
                              "the project's tasks.")


class Training(_Strict):
    finetune: list[FinetuneRung] = Field(default_factory=list, description="Fine-tuning runs (LoRA or full, with "
                                         "or without retrieved context); each result is a candidate model.")
    distill: list[DistillRung] = Field(default_factory=list, description="Distillation runs from a named teacher; "
                                       "each student is a candidate model.")
    merge: list[MergeConfiguration] = Field(default_factory=list, description="Merges (mergekit's schema) whose "
                                            "model paths may be the `out` folders of the runs above; each merged "
                                            "model is a candidate.")
    merge_search: list[MergeSearchConfig] = Field(
        default_factory=list, description="Merge searches (`llmopt merge-search`'s schema: recipe, search, tasks, "
        "trials): CMA-ES over a recipe's weights/densities; tasks default to the training pool (f1); the best "
        "merge is a candidate.")


class Budget(_Strict):
    minutes: float | None = Field(None, gt=0, description="Wall-clock minutes the search may spend "
                                  "(`--search-minutes N` overrides it).")
    dollars: float | None = Field(None, gt=0, description="USD the search may spend on model calls.")


def _strategy(value: str) -> str:
    from ..rag.strategy import strategy_names

    if value not in strategy_names():
        raise ValueError(f"unknown strategy {value!r}; strategies: {', '.join(strategy_names())}")
    return value


def _prompt(value: str, info: ValidationInfo) -> str:
    from ..errors import ConfigError
    from ..rag.prompts import load_template

    path = resolve(value, info)
    name = str(path) if path.suffix in (".j2", ".jinja", ".jinja2") else value
    try:
        load_template(name)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return name


class Search(_Strict):
    strategies: list[Annotated[str, AfterValidator(_strategy)]] | None = Field(
        None, min_length=1, description="RAG strategies to try (none, rag, drag, iterdrag, ...); default: every one.")
    k: list[Annotated[int, Field(ge=1)]] = Field([1, 3, 5, 10], min_length=1, description="Retrieved chunks per "
                                                  "question.")
    m: list[Annotated[int, Field(ge=0)]] = Field([0, 1, 2], min_length=1, description="In-context demonstrations "
                                                 "(DRAG and IterDRAG).")
    n: list[Annotated[int, Field(ge=1)]] = Field([1, 2, 3], min_length=1, description="Retrieval/generation rounds "
                                                 "(IterDRAG).")
    samples: list[Annotated[int, Field(ge=1)]] = Field([1], min_length=1, description="Answers sampled per question "
                                                       "(majority vote above 1).")
    prompts: list[Annotated[str, AfterValidator(_prompt)]] = Field(
        ["basic"], min_length=1, description="Prompt templates: shipped names (basic, cot, decompose) or FILE.j2.")
    budget: Budget = Field(default_factory=Budget, description="The search's own budget: minutes and/or dollars.")
    first_questions: int = Field(5, ge=1, description="Questions every configuration answers at the first rung of "
                                 "successive halving.")
    eta: int = Field(3, ge=2, description="Successive halving's factor: the best 1/eta go on to eta times as many "
                     "questions.")
    finalists: int = Field(3, ge=1, description="Configurations that answer the whole evaluation split at the end "
                           "(the baseline without retrieval joins them).")
    storage: str | None = Field(None, description="Optuna storage several workers share (e.g. "
                                "postgresql://USER@HOST/DB); default: a journal file in the lab's output folder.")


class Constraints(_Strict):
    max_context: int | None = Field(None, ge=1, description="Most prompt tokens per model call.")
    p95_latency_s: float | None = Field(None, gt=0, description="95th-percentile seconds per question.")
    usd_per_1k_queries: float | None = Field(None, gt=0, description="Most USD per 1,000 questions.")


class Threshold(_Strict):
    metric: Metric = Field(..., description="acc, f1, em, ex or judge.")
    value: float = Field(..., ge=0, le=1, description="The score the CI lower bound (95%) must reach.")


class Objective(_Strict):
    maximize: Metric | None = Field(None, description="Highest score of this metric within the constraints.")
    cheapest_reaching: Threshold | None = Field(None, description="The cheapest configuration whose score's CI lower "
                                                "bound reaches the value, within the constraints.")

    @model_validator(mode="after")
    def _one_form(self):
        if (self.maximize is None) == (self.cheapest_reaching is None):
            raise ValueError("give exactly one of maximize: METRIC or cheapest_reaching: {metric: M, value: V}")
        return self

    @property
    def metric(self) -> str:
        return self.maximize or self.cheapest_reaching.metric


class Project(_Strict):
    documents: Documents | None = Field(None, description="The documents to retrieve from (none: closed-book or "
                                        "SQL only).")
    tasks: Tasks = Field(..., description="What is asked and the metric that decides: qa and/or sql.")
    models: list[ModelCandidate] = Field(default_factory=lambda: [ModelCandidate(spec="default")], min_length=1,
                                         description="Candidate model specs (with prices where yours differ).")
    training: Training | None = Field(None, description="Training rungs whose results enter the search as "
                                      "candidate models.")
    search: Search = Field(default_factory=Search, description="The search space and the search's own budget.")
    constraints: Constraints = Field(default_factory=Constraints, description="Limits every answer must keep.")
    objective: Objective | None = Field(None, description="What wins; default: maximize the first task's metric.")

    def goal(self) -> Objective:
        return self.objective or Objective(maximize=self.tasks.metrics()[0])
