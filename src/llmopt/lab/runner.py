"""Run lab stages in ladder order and write one report; a failing stage is reported, not fatal to the rest."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, LlmoptError
from ..report import LadderRow, Section, write_report
from .registry import LabContext, Stage, get_stage, stages


@dataclass
class LabResult:
    out_dir: Path
    sections: list[Section]
    ladder: list[LadderRow]
    metrics: dict[str, dict] = field(default_factory=dict)
    target: dict | None = None
    paths: dict[str, Path | None] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return sections_ok(self.sections)


def sections_ok(sections: list[Section]) -> bool:
    """Whether every section finished (a skipped one is not a failure)."""
    return all(s.status in ("ok", "skipped") for s in sections)


def parse_target(text: str | None) -> tuple[str, float] | None:
    """'acc=0.6' -> ("acc", 0.6)."""
    if not text:
        return None
    metric, sep, value = text.partition("=")
    try:
        return metric.strip(), float(value)
    except ValueError:
        raise ConfigError(f"--target '{text}': write METRIC=VALUE, e.g. --target acc=0.6") from None


def cheapest_reaching(ladder: list[LadderRow], metric: str, value: float) -> LadderRow | None:
    """The cheapest configuration whose CI lower bound (or value, without a CI) reaches the target."""
    ok = [r for r in ladder if r.metric == metric and (r.ci_low if r.ci_low is not None else r.value) >= value]
    return min(ok, key=lambda r: (r.cost_usd if r.cost_usd is not None else float("inf"), r.latency_s or 0.0),
               default=None)


def select_stages(names: str | list[str] | None) -> list[Stage]:
    if not names:
        return stages()
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    chosen = [get_stage(n) for n in names]
    return sorted(chosen, key=lambda s: (s.order, s.name))


def _writable_folder(out_dir: Path) -> Path:
    """The report folder, made now: a bad --out must fail before the stages run for minutes, not after."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is a file; name a folder for the report (e.g. --out lab-report)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out_dir}: cannot create the report folder ({exc.strerror}); "
                          "name a folder you can write") from None
    return out_dir


DEMO_RUNGS = ("models", "sql", "finetune", "distill", "merge")  # beside the demo project's search, in quick form


def run_lab(stages: str | list[str] | None = None, *, out: str | Path = "lab-report", quick: bool = False,
            model: str = "default", target: str | None = None, on_stage=None, project: str | Path | None = None,
            search_minutes: float | None = None, storage: str | None = None, on_progress=None,
            on_log=None) -> LabResult:
    """Run the project (when given: its tasks, llmopt.lab.project) and then the chosen stages (all by default; none
    when a project is given and no stages are named), and write report.md / report.html under `out`."""
    out_dir = _writable_folder(Path(out))
    ctx = LabContext(out_dir=out_dir, quick=quick, model=model, on_progress=on_progress)
    wanted = parse_target(target)
    result = LabResult(out_dir, [], [])
    meta = {"mode": "quick" if quick else "full", "model": model}
    verdict = None
    if project is not None:
        from ..project import load_project
        from .project import run_project

        project_file = Path(project)
        loaded = load_project(project_file)  # refused before anything runs
        meta["project"] = str(project_file)
        if on_stage:
            on_stage(_ProjectStage, None)
        started = time.perf_counter()
        outcome = run_project(loaded, out_dir=out_dir, project_file=project_file, search_minutes=search_minutes,
                              storage=storage, quick=quick, on_progress=on_progress, on_log=on_log)
        result.sections += outcome.sections
        result.ladder += outcome.ladder
        result.metrics["project"] = outcome.metrics
        result.paths["pipeline"] = outcome.pipeline
        result.interrupted = outcome.interrupted
        verdict = outcome.verdict
        if on_stage:
            on_stage(_ProjectStage, _ProjectDone(outcome.sections, time.perf_counter() - started))
        if stages is None or outcome.interrupted:
            stages = []
    chosen = select_stages(stages) if stages != [] else []
    result.paths.update(write_report(out_dir, "llmopt lab", result.sections, result.ladder, meta, verdict=verdict))
    for stage in chosen:
        if on_stage:
            on_stage(stage, None)
        started = time.perf_counter()
        section = Section(title=f"{stage.name}: {stage.description}")
        try:
            outcome = stage.run(ctx)
            section.summary, section.tables, section.plots = outcome.summary, outcome.tables, outcome.plots
            for row in outcome.ladder:
                row.stage = row.stage or stage.name
            result.ladder += outcome.ladder
            result.metrics[stage.name] = outcome.metrics
        except Exception as exc:  # any failure, a bug included: one failing stage must not lose the others' results
            section.status, section.error = "error", f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, LlmoptError):  # a bug: show where it happened
                section.summary = "```\n" + traceback.format_exc(limit=6) + "\n```"
        section.seconds = time.perf_counter() - started
        result.sections.append(section)
        if wanted:
            best = cheapest_reaching(result.ladder, *wanted)
            result.target = {"metric": wanted[0], "value": wanted[1], "cheapest": best.__dict__ if best else None}
        result.paths.update(write_report(out_dir, "llmopt lab", result.sections, result.ladder,
                                         {**meta, **({"target": target} if target else {})}, verdict=verdict))
        if on_stage:
            on_stage(stage, section)
    return result


@dataclass(frozen=True)
class _Named:
    name: str
    description: str


_ProjectStage = _Named("project", "the project's tasks: documents, budgeted search, text-to-SQL")


@dataclass
class _ProjectDone:
    sections: list[Section]
    seconds: float

    @property
    def status(self) -> str:
        return "ok" if sections_ok(self.sections) else "error"

    @property
    def error(self) -> str | None:
        return "; ".join(f"{s.title.split(':')[0]}: {s.error}" for s in self.sections if s.error) or None
