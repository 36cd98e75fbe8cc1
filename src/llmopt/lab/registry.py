"""The stage registry. A stage is a function `run(ctx: LabContext) -> StageResult` in a module under
llmopt/lab/stages/, registered with @stage; adding a rung to the lab is a one-file change.

    @stage("models", order=10, budget_s=120, description="local models: decode/prefill speed, cost per 1k tokens")
    def run(ctx: LabContext) -> StageResult: ...

`budget_s` documents how long the stage should take in full mode (quick mode should be a fraction of it);
`llmopt lab --list` shows it, and the report gives each stage's measured seconds beside its title.

A stage that loops reports how far it is with `ctx.progress(label, done, total)` (e.g. "eval: rag k=3 m=1",
12, 40): the label names what is running now, done/total count the stage's units of work (questions, files,
optimizer steps), so a display can show a bar and a time left. Without an `on_progress` callback it does nothing.

Tables and ladder rows are the report package's (llmopt.report), re-exported here because they are what a stage
returns.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..report import LadderRow, Table

__all__ = ["LabContext", "LadderRow", "Stage", "StageResult", "Table", "get_stage", "stage", "stages"]


@dataclass
class StageResult:
    """What a stage reports: prose, tables, plots (PNG files under the output folder), ladder rows, metrics."""

    summary: str = ""
    tables: list[Table] = field(default_factory=list)
    plots: list[tuple[str, Path]] = field(default_factory=list)  # (caption, path)
    ladder: list[LadderRow] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class LabContext:
    """What a stage gets: where to write, how thorough to be, and what earlier stages left for later ones."""

    out_dir: Path
    quick: bool = False
    model: str = "default"
    shared: dict[str, Any] = field(default_factory=dict)  # e.g. the ingest stage leaves its index name here
    on_progress: Callable[[str, int, int], None] | None = None  # (label, done, total), e.g. a progress bar

    def progress(self, label: str, done: int, total: int) -> None:
        """Report how far the running stage is: `done` of `total` units of work, `label` saying what runs now."""
        if self.on_progress is not None:
            self.on_progress(label, done, total)

    def path(self, *parts: str) -> Path:
        path = self.out_dir.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[LabContext], StageResult]
    order: int
    budget_s: float
    description: str


_STAGES: dict[str, Stage] = {}
_loaded = False


def stage(name: str, *, order: int, budget_s: float, description: str):
    def decorator(func: Callable[[LabContext], StageResult]) -> Callable[[LabContext], StageResult]:
        _STAGES[name] = Stage(name, func, order, budget_s, description)
        return func

    return decorator


def _load() -> None:
    global _loaded
    if not _loaded:
        package = importlib.import_module("llmopt.lab.stages")
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"llmopt.lab.stages.{info.name}")
        _loaded = True


def stages() -> list[Stage]:
    """All registered stages, in ladder order."""
    _load()
    return sorted(_STAGES.values(), key=lambda s: (s.order, s.name))


def get_stage(name: str) -> Stage:
    _load()
    if name not in _STAGES:
        raise ConfigError(f"unknown lab stage '{name}'; stages: {', '.join(s.name for s in stages())}")
    return _STAGES[name]
