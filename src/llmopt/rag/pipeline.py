"""`pipeline.yaml`: one deployable configuration -- the model, the strategy and every setting of `llmopt ask`, the
index, the demonstration pool and the prompt template -- with what it measured and where it came from. `llmopt lab`
writes the winner as one; `llmopt ask --pipeline`, `llmopt eval qa --pipeline` and `llmopt serve --pipeline` run it.

    write_pipeline("out/pipeline.yaml", Pipeline(name="support-bot", settings=AskConfig.make(strategy="drag", ...)))
    pipeline = load_pipeline("out/pipeline.yaml")        # FILE:LINE: key.path errors; missing files refused
    Asker(pipeline.ask_config(k=8))                      # the settings, with overrides on top

Relative paths inside (the index folder, the demonstrations, a FILE.j2 prompt, the question set) start at the
pipeline file's folder, so a folder holding the file, its index and its pools can be moved as a whole.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ..config import key_lines, line_of, load_config, read_yaml, validate
from ..errors import ConfigError
from .config import AskConfig

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
TEMPLATE_SUFFIXES = (".j2", ".jinja", ".jinja2")
HEADER = """\
# An llmopt pipeline: one configuration, ready to run (written by `llmopt lab`; edit it freely).
#   llmopt ask --pipeline {file} "your question"     command-line options override the settings
#   llmopt eval qa --pipeline {file} [QUESTIONS]      default question set: measured.questions
#   llmopt serve --pipeline {file}                    model name '{name}', also the server's default model
# Relative paths (settings.index as a folder, settings.demos, a settings.prompt FILE.j2, measured.questions)
# start at this file's folder. `measured` is what this configuration scored on the question set it names.
"""


class Measured(BaseModel):
    """What the pipeline scored, on which questions, at what cost."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(..., description="the metric that decided (acc, f1, em, judge)")
    value: float = Field(..., description="its mean over the question set")
    ci: list[float] | None = Field(None, min_length=2, max_length=2, description="95% bootstrap CI [low, high]")
    count: int = Field(..., ge=0, description="questions scored")
    latency_p50_s: float | None = Field(None, ge=0, description="median seconds per question")
    latency_p95_s: float | None = Field(None, ge=0, description="95th-percentile seconds per question")
    usd_per_1k_queries: float | None = Field(None, ge=0, description="USD per 1,000 questions")
    effective_context_mean: float | None = Field(None, ge=0, description="mean input tokens of every call per "
                                                 "question")
    questions: str | None = Field(None, description="the question set the numbers come from (a file or 'demo')")
    generated: bool = Field(False, description="true when the questions were generated from the documents, not "
                            "written by people")
    date: str = Field(..., description="when it was measured (ISO 8601)")


class Pipeline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="its serve preset name: lowercase letters, digits, '-' and '_'")
    description: str = Field("", description="what it is, for people (shown by `llmopt serve`)")
    settings: AskConfig = Field(..., description="exactly what `llmopt ask --config` accepts")
    measured: Measured | None = Field(None, description="what it scored, on which questions")
    source: dict[str, Any] = Field(default_factory=dict, description="where it came from (project file, search "
                                   "folder, configuration key)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        from .strategy import strategy_names

        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not a preset name: use 1-64 lowercase letters, digits, '-' or '_', "
                             "starting with a letter or digit (e.g. support-bot)")
        if value in strategy_names():
            raise ValueError(f"{value!r} is a strategy's name, which model names use for parameters "
                             f"({value}:k=5); pick another name")
        return value

    @model_validator(mode="after")
    def _resolve_paths(self, info: ValidationInfo) -> Pipeline:
        """Relative paths start at the pipeline file's folder (the context's "base"; none: leave them)."""
        base = (info.context or {}).get("base")
        if base is None:
            return self
        s = self.settings
        updates = {"index": _index_path(s.index, base), "demos": _path(s.demos, base),
                   "prompt": _path(s.prompt, base) if _is_template_file(s.prompt) else s.prompt}
        self.settings = s.model_copy(update=updates)
        if self.measured is not None and self.measured.questions and self.measured.questions != "demo":
            self.measured = self.measured.model_copy(update={"questions": _path(self.measured.questions, base)})
        return self

    def ask_config(self, **overrides: Any) -> AskConfig:
        """The settings with `overrides` (AskConfig fields, None = not given) on top, validated."""
        return load_config(AskConfig, base=self.settings, overrides=overrides, what="ask")

    def problems(self) -> list[tuple[tuple[str, ...], str]]:
        """What keeps the settings from running, by key path: a retrieval strategy with no index, demonstrations
        with no pool."""
        from .strategy import strategy_class

        s, found = self.settings, []
        declared = strategy_class(s.strategy)
        if declared.uses_retrieval and not s.index:
            found.append((("settings", "strategy"), f"strategy {s.strategy} retrieves documents: name the index "
                          "(settings.index: NAME, a folder or milvus://HOST:PORT/COLLECTION)"))
        wants_demos = (s.m or 0) > 0 or (s.m is None and declared.needs_demonstrations())
        if declared.uses_demonstrations and wants_demos and not s.demos:
            found.append((("settings", "strategy"), f"strategy {s.strategy} answers with demonstrations: name the "
                          "pool (settings.demos: FILE.jsonl) or set settings.m: 0"))
        return found

    def missing_files(self) -> list[tuple[tuple[str, ...], str]]:
        """Files and indexes the settings name that are not there, by key path (a milvus:// index is not checked:
        its server may be up only where the pipeline runs)."""
        s, found = self.settings, []
        if s.index and not _is_uri(s.index):
            from ..index.spec import parse_index_spec

            folder = parse_index_spec(s.index).folder
            if not (folder / "index.json").is_file():
                where = "" if str(folder) == s.index else f" (looked in {folder})"
                found.append((("settings", "index"), f"no index '{s.index}'{where}; build it with "
                              f"`llmopt ingest PATH --index {s.index}`"))
        if s.demos and not Path(s.demos).is_file():
            found.append((("settings", "demos"), f"demonstrations file not found: {s.demos}"))
        if s.prompt and _is_template_file(s.prompt) and not Path(s.prompt).is_file():
            found.append((("settings", "prompt"), f"prompt template file not found: {s.prompt}"))
        return found


def load_pipeline(path: str | Path, *, check_files: bool = True) -> Pipeline:
    """The pipeline file at `path`, validated: unknown keys, wrong types and settings that cannot run are one
    ConfigError line `FILE:LINE: key.path: problem`; with `check_files`, so are a missing index, demonstrations
    file or prompt template (every one of them, in the same line)."""
    path = Path(path).expanduser()
    data = read_yaml(path, what="pipeline")
    lines = key_lines(path)
    pipeline = validate(Pipeline, data, what="pipeline", file=path, lines=lines,
                        context={"base": path.resolve().parent})
    problems = pipeline.problems() + (pipeline.missing_files() if check_files else [])
    if problems:
        raise ConfigError(f"pipeline '{pipeline.name}' cannot run: " + "; ".join(
            f"{path}:{line_of(lines, where)}: {'.'.join(where)}: {problem}" for where, problem in problems))
    if check_files and pipeline.settings.prompt:
        _check_template(pipeline.settings.prompt, path, line_of(lines, ("settings", "prompt")))
    return pipeline


def write_pipeline(path: str | Path, pipeline: Pipeline) -> Path:
    """Write `pipeline` to `path` (atomically), under a comment saying how to use it. Relative paths in it are
    taken from the current folder; those inside the file's folder are written relative to it."""
    import yaml

    from ..paths import atomic_write_text

    path = Path(path).expanduser().resolve()
    data = pipeline.model_dump(mode="json")
    settings = {k: v for k, v in data["settings"].items() if v is not None}
    data["settings"] = {"model": settings.pop("model"), "strategy": settings.pop("strategy"), **settings}
    s, folder = data["settings"], path.parent
    for key in ("demos", "prompt", "index"):
        if key in s and _is_local_path(key, s[key]):
            s[key] = _relative(s[key], folder)
    if data.get("measured") and data["measured"].get("questions") not in (None, "demo"):
        data["measured"]["questions"] = _relative(data["measured"]["questions"], folder)
    text = HEADER.format(file=path.name, name=pipeline.name)
    text += yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None, width=110)
    atomic_write_text(path, text)
    return path


# -- paths ------------------------------------------------------------------------------------------------------
def _is_uri(index: str) -> bool:
    return "://" in index


def _is_template_file(prompt: str | None) -> bool:
    return bool(prompt) and Path(prompt).suffix in TEMPLATE_SUFFIXES


def _is_index_path(index: str | None) -> bool:
    """A folder, as llmopt.index.spec reads it (a bare name is an index under LLMOPT_HOME/indexes)."""
    return bool(index) and not _is_uri(index) and ("/" in index or "\\" in index or index.startswith((".", "~")))


def _is_local_path(key: str, value: str) -> bool:
    return {"demos": True, "prompt": _is_template_file(value), "index": _is_index_path(value)}[key]


def _path(value: str | None, base: str | Path) -> str | None:
    if not value:
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (Path(base) / path).resolve())


def _index_path(index: str | None, base: str | Path) -> str | None:
    return _path(index, base) if _is_index_path(index) else index


def _relative(value: str, folder: Path) -> str:
    path = Path(value).expanduser().resolve()
    try:
        relative = path.relative_to(folder)
    except ValueError:
        return str(path)
    return "./" + relative.as_posix() if relative.parts else "."


def _check_template(prompt: str, path: Path, line: int) -> None:
    from .prompts import load_template

    try:
        load_template(prompt)
    except ConfigError as exc:
        raise ConfigError(f"{path}:{line}: settings.prompt: {exc}") from None
