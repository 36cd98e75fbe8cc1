"""`llmopt lab --project llmopt.yaml`: the ladder climbed on the user's own problem.

    documents  -> ingested into the project's index (incremental: unchanged files are not read again)
    tasks.qa   -> a budgeted search over the RAG configurations (llmopt.search): successive halving on a few
                  questions, the finalists on the whole evaluation split with CIs and paired differences, the
                  choice by the objective within the constraints, and the winner written as pipeline.yaml
    tasks.sql  -> text-to-SQL strategies per candidate model on the project's database (lab.project_sql)

Everything lands under OUT: OUT/search/<settings>/ (every answer, the Optuna journal), OUT/pipeline.yaml, the
report. Run the same command again and nothing already answered is answered again; change the questions, the
index or the decoding settings and the answers go to a new folder beside the old.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..paths import atomic_write_text
from ..report import LadderRow, Section, Table, Verdict
from ..report.format import percent, seconds, usd_per_1k

Progress = Callable[[str, int, int], None]
Log = Callable[[str], None]
MIN_EVAL = 4  # fewer evaluation questions than this cannot rank anything


@dataclass
class ProjectOutcome:
    sections: list[Section] = field(default_factory=list)
    ladder: list[LadderRow] = field(default_factory=list)
    verdict: Verdict | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    pipeline: Path | None = None
    interrupted: bool = False  # Ctrl-C: the report is partial, and a re-run continues


def run_project(project, *, out_dir: Path, project_file: Path | None = None, search_minutes: float | None = None,
                storage: str | None = None, quick: bool = False, on_progress: Progress | None = None,
                on_log: Log | None = None) -> ProjectOutcome:
    """Run every task of a loaded Project (llmopt.project.Project); each task's failure is its section's, not
    the run's."""
    progress = on_progress or (lambda label, done, total: None)
    log = on_log or (lambda message: None)
    result = ProjectOutcome()
    index = None
    if project.documents is not None:
        index = _step(result, "documents", "ingest the project's documents into its index",
                      lambda: _ingest(project, progress, log))
    if project.tasks.qa is not None:
        _step(result, "qa", "budgeted search over RAG configurations on the project's questions",
              lambda: _qa(project, project_file, out_dir, index, search_minutes, storage, progress, log, result))
    if project.tasks.sql is not None:
        _step(result, "sql", "text-to-SQL strategies per candidate model on the project's database",
              lambda: _sql(project, out_dir, quick, progress, result))
    return result


def _has_training(project) -> bool:
    t = project.training
    return t is not None and bool(t.finetune or t.distill or t.merge or t.merge_search)


def _step(result: ProjectOutcome, name: str, description: str, run: Callable[[], Any]) -> Any:
    """Run one task; a failure is reported in its section and the other tasks still run."""
    import traceback

    from ..errors import LlmoptError

    started = time.perf_counter()
    section = Section(title=f"{name}: {description}")
    value = None
    try:
        value = run()
        if isinstance(value, Section):
            section, value = value, None
            section.title = section.title or f"{name}: {description}"
        elif isinstance(value, tuple) and value and isinstance(value[0], Section):
            section, value = value[0], value[1]
    except Exception as exc:  # one failing task must not lose the others
        section.status, section.error = "error", f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, LlmoptError):
            section.summary = "```\n" + traceback.format_exc(limit=6) + "\n```"
    section.seconds = time.perf_counter() - started
    result.sections.append(section)
    return value


# -- documents ---------------------------------------------------------------------------------------------------
def _ingest(project, progress: Progress, log: Log) -> tuple[Section, str]:
    from ..ingest import ingest

    docs = project.documents
    count = {"done": 0, "total": 0}

    def callback(event: str, info: dict) -> None:
        if event == "start":
            count["total"] = info["files"]
            progress("ingest", 0, count["total"])
        elif event == "file":
            count["done"] += 1
            progress(f"ingest: {Path(info['result'].path).name}", count["done"], max(count["total"], count["done"]))

    report = ingest(list(docs.paths), index=docs.index, callback=callback)
    statuses = sorted({f.status for f in report.files})
    counts = ", ".join(f"{report.count(s)} {s}" for s in statuses)
    rows = [(f.path, f.status, f.chunks, f.reason) for f in report.files]
    text = (f"{len(report.files)} files into index `{docs.index}` ({counts}; {report.chunks_written} chunks "
            f"written in {seconds(report.seconds)}).")
    if report.failures:
        text += " Files that failed are listed with their reason; the others were ingested."
        for f in report.failures:
            log(f"ingest failed: {f.path}: {f.reason}")
    return Section(title="documents: the project's documents in its index", summary=text,
                   tables=[Table(["file", "status", "chunks", "reason"], rows, "Ingestion per file")]), docs.index


# -- qa ----------------------------------------------------------------------------------------------------------
def _qa(project, project_file, out_dir: Path, index: str | None, search_minutes, storage, progress: Progress,
        log: Log, result: ProjectOutcome) -> Section:
    from ..eval.grid import SweepConfig
    from ..eval.splits import make_splits
    from ..rag.strategy import strategy_class, strategy_names
    from ..optimize import Budget, Limits, QAEvaluator, Space, choose, run_search
    from ..optimize.final import run_finalists
    from ..optimize.propose import allocation_proposer

    task, search = project.tasks.qa, project.search
    if task.metric == "judge":
        raise ConfigError("the judge metric is not built into the search yet: give the questions gold answers "
                          "and use metric: acc, f1 or em")
    dataset = _questions(task, index, out_dir, progress, log, result)
    demo = 0 if dataset.demos is not None else min(8, max(0, (len(dataset.items) - MIN_EVAL) // 3))
    train = max(4, len(dataset.items) // 4) if _has_training(project) and len(dataset.items) >= 16 else 0
    splits = make_splits(dataset, demo=demo, train=train, seed=0)
    if len(splits.eval) < MIN_EVAL:
        raise ConfigError(f"{dataset.path} leaves {len(splits.eval)} evaluation questions; write at least "
                          f"{MIN_EVAL + 3} (or generate some: `llmopt data generate`)")
    strategies = search.strategies or strategy_names()
    if index is None:
        strategies = [s for s in strategies if not strategy_class(s).uses_retrieval]
        if not strategies:
            raise ConfigError("every strategy in search.strategies retrieves, and the project has no documents; "
                              "add documents or the strategy none")
    m_values = sorted({m for m in search.m if m <= len(splits.demo)}) or [0]
    models = [c.spec for c in project.models]
    if _has_training(project):
        from .project_training import run_training, training_pool

        pool = training_pool(splits.train, out_dir) if splits.train else None
        trained, section = run_training(project.training, out_dir=out_dir, pool=pool, index=index,
                                        progress=progress, log=log)
        result.sections.append(section)
        models += [spec for spec in trained if spec not in models]
    space = Space.from_axes(models=models, prompts=search.prompts, strategies=strategies, k=search.k, m=m_values,
                            n=search.n, samples=search.samples, max_context=project.constraints.max_context)
    cfg = SweepConfig.make(dataset=dataset.path, format=task.format if task.questions else "auto", index=index,
                           models=models, prompts=search.prompts, strategies=strategies, metric=task.metric,
                           demo_size=demo, train_size=train, seed=0)
    work = _work_folder(out_dir, cfg, dataset, splits)
    log(f"{len(space)} configurations to search over {len(splits.eval)} questions "
        f"({len(splits.demo)} demonstrations held out); answers in {work}")
    prices = {c.spec: c.prices.model_dump(exclude_none=True) for c in project.models if c.prices}
    evaluator = QAEvaluator(cfg, dataset, splits, work / "results.jsonl", on_log=log, prices=prices)
    budget = Budget(minutes=search_minutes if search_minutes is not None else search.budget.minutes,
                    dollars=search.budget.dollars)
    baseline = [p for p in space.points if not strategy_class(p.strategy).uses_retrieval][:1]
    on_event = _search_events(progress, log, search.eta)
    outcome = run_search(space, splits.eval, evaluator,
                         storage=storage or search.storage or str(work / "search.journal"),
                         metric=task.metric, budget=budget, first=search.first_questions, eta=search.eta,
                         finalists=search.finalists, proposals=baseline, propose=allocation_proposer(space),
                         on_event=on_event)
    finalists = list(outcome.finalists)
    finalists += [b for b in baseline if b.key not in {f.key for f in finalists}]
    count = [0]

    def on_config(config) -> None:
        count[0] += 1
        progress(f"finalists · {config.label()}", count[0] - 1, len(finalists))

    if outcome.stopped == "interrupted":  # Ctrl-C: report what was screened; the finalists wait for the re-run
        result.interrupted = True
        finalists = []
    try:
        final = run_finalists(finalists, splits.eval, evaluator, task.metric, on_config=on_config)
    except KeyboardInterrupt:
        result.interrupted = True
        final = run_finalists([], splits.eval, evaluator, task.metric)
    progress("finalists", len(finalists), len(finalists))
    goal = project.goal()
    limits = Limits(project.constraints.max_context, project.constraints.p95_latency_s,
                    project.constraints.usd_per_1k_queries)
    threshold = goal.cheapest_reaching.value if goal.cheapest_reaching else None
    choice = choose(final.candidates, limits, threshold=threshold)
    grid = _grid_estimate(space, evaluator, len(splits.eval))
    generated = "generated" in result.metrics or any(i.metadata.get("generated") for i in dataset.items)
    pipeline = None
    if choice.chosen is not None:
        chosen = next(s for s in final.summaries if s.key == choice.chosen.key)
        pipeline = _write_pipeline(out_dir, project_file, chosen, task, index, splits, cfg, generated, work,
                                   dataset.path)
        result.pipeline = pipeline
    result.metrics["qa"] = {
        "space": len(space), "questions": len(splits.eval), "rungs": outcome.rungs, "stopped": outcome.stopped,
        "trials": [t.to_json() for t in outcome.trials], "finalists": [s.to_json() for s in final.summaries],
        "paired": [p.to_json() for p in final.paired], "chosen": choice.chosen.key if choice.chosen else None,
        "reason": choice.reason, "search": evaluator.touched.to_json(), "spent_now": evaluator.spent.to_json(),
        "grid": grid, "pipeline": str(pipeline) if pipeline else None}
    from .project_report import qa_ladder, qa_section, qa_verdict

    result.ladder += qa_ladder(final, task.metric)
    result.verdict = qa_verdict(out_dir, final, choice, outcome, evaluator, grid, task.metric, generated,
                                dataset, pipeline)
    section = qa_section(final, choice, outcome, space, evaluator, grid, task.metric, dataset, splits)
    made = result.metrics.get("generated")
    if made:
        section.summary += (f" The questions were generated from the documents ({made.get('quality', '')}); "
                            "a sample is below.")
        section.tables.insert(0, Table(["question", "answer", "kind", "evidence"],
                                       [[r.get("question"), r.get("answer"), r.get("kind"),
                                         ", ".join(map(str, r.get("evidence", [])))[:80]]
                                        for r in made.get("sample", [])],
                                       "Generated questions: a sample"))
    return section


def _questions(task, index: str | None, out_dir: Path, progress: Progress, log: Log, result: ProjectOutcome):
    """The task's questions (malformed rows reported and skipped), generated ones when there are too few, and
    its own demonstration pool when it names one."""
    from ..eval.datasets import load_dataset

    dataset = load_dataset(task.questions, format=task.format) if task.questions is not None else None
    if task.generate is not None and (dataset is None or len(dataset.items) < task.generate.min_questions):
        dataset = _generate(task, index, out_dir, progress, log, result)
    if task.demos is not None:
        dataset.demos, bad = _demonstrations(task.demos)
        dataset.skipped += [f"{task.demos.name} {line}" for line in bad]
    for line in dataset.skipped[:20]:
        log(f"skipped: {line}")
    return dataset


def _search_events(progress: Progress, log: Log, eta: int):
    """run_search's events as progress: one unit per configuration per rung (all of a bracket's configurations
    at the first rung, then the best 1/eta of those, ...); failures logged."""
    from ..optimize.halving import keep

    state = {"done": 0, "total": 0}

    def on_event(kind: str, info: dict) -> None:
        if kind == "rung":
            progress(f"search · {info['questions']} questions · {info['label']}", state["done"], state["total"])
            state["done"] += 1
        elif kind == "bracket":
            alive, units = info["configs"], 0
            for _ in info["rungs"]:
                units += alive
                alive = keep(alive, eta)
            state["total"] = state["done"] + units
        elif kind == "failed":
            log(f"failed: {info['config'].label()}: {info['error']}")

    return on_event


def _generate(task, index: str | None, out_dir: Path, progress: Progress, log: Log, result: ProjectOutcome):
    """Questions generated from the project's index (llmopt.datagen), resumable: its eval pool is the evaluation
    split and its demonstration pool the demonstrations."""
    from ..datagen import generate_questions
    from ..eval.datasets import load_dataset

    if index is None:
        raise ConfigError("tasks.qa.generate needs documents to generate from: add `documents:` to the project")
    settings = task.generate
    log(f"generating {settings.count} questions from the documents with {settings.model} (resumable)")
    count = max(4, settings.count)
    demos = min(8, count // 4)
    made = generate_questions(index=index, model=settings.model, out=str(out_dir / "generated"), count=count,
                              pools=(count - demos, demos, 0),
                              on_progress=lambda event, info: progress(
                                  f"generate questions · {info.get('accepted', 0)} kept", info.get("tried", 0),
                                  0) if event == "candidate" else None)
    result.metrics["generated"] = made.to_dict()
    log(f"generated: {sum(made.accepted.values())} kept of {made.tried} tried ({made.quality})")
    dataset = load_dataset(made.files["eval"])
    if made.files.get("demos") and Path(made.files["demos"]).is_file():
        dataset.demos, _ = _demonstrations(Path(made.files["demos"]))
    return dataset


def _demonstrations(path: Path):
    """A demonstration pool file (generic JSONL question/answer rows): its items and the rows skipped."""
    from ..eval.datasets import FORMATS, parse_rows
    from ..jsonl import read_rows

    return parse_rows(read_rows(path), FORMATS["jsonl"])


def _work_folder(out_dir: Path, cfg, dataset, splits) -> Path:
    """A folder per fixed settings (questions, index, decoding, demonstrations): answers made under other
    settings are never reused, and never lost either."""
    from ..eval.runner import fixed_settings

    fixed = fixed_settings(cfg, dataset, splits)
    digest = hashlib.sha256(json.dumps(fixed, sort_keys=True, default=str).encode()).hexdigest()[:10]
    work = out_dir / "search" / digest
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "settings.json").is_file():
        atomic_write_text(work / "settings.json", json.dumps(fixed, indent=1, default=str))
    return work


def _grid_estimate(space, evaluator, questions: int) -> dict[str, Any]:
    """What answering every configuration on every question would have cost: each tried configuration's mean
    compute per answer × the questions; an untried one at the mean of the tried (marked estimated)."""
    per: dict[str, list[float]] = {}
    for (key, _), record in evaluator.store.rows.items():
        per.setdefault(key, []).append(record.used("compute_s"))
    means = {k: sum(v) / len(v) for k, v in per.items() if v and space.get(k)}
    fallback = sum(means.values()) / len(means) if means else 0.0
    untried = [p.key for p in space.points if p.key not in means]
    compute = sum(means.get(p.key, fallback) * questions for p in space.points)
    return {"configs": len(space), "answers": len(space) * questions, "compute_s": compute,
            "estimated_configs": len(untried),
            "share": (evaluator.touched.compute_s / compute) if compute else None}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-")[:60] or "winner"


def _write_pipeline(out_dir: Path, project_file, chosen, task, index, splits, cfg, generated, work,
                    dataset_path: str) -> Path:
    from ..rag.config import AskConfig
    from ..rag.pipeline import Measured, Pipeline, write_pipeline
    from ..rag.strategy import strategy_class

    demos = None
    if strategy_class(chosen.strategy).uses_demonstrations and chosen.m > 0 and splits.demo:
        demos = out_dir / "demos.jsonl"
        atomic_write_text(demos, "".join(json.dumps(d.demo_row(), ensure_ascii=False) + "\n"
                                         for d in splits.demo[:chosen.m]))
    settings = AskConfig.make(model=chosen.model, strategy=chosen.strategy, k=chosen.k or 1, m=chosen.m,
                              n=chosen.n, samples=chosen.samples, prompt=chosen.prompt, max_context=chosen.max_context,
                              index=index if strategy_class(chosen.strategy).uses_retrieval else None,
                              demos=str(demos) if demos else None, max_tokens=cfg.max_tokens, seed=cfg.seed)
    value = chosen.metric(task.metric) or 0.0
    measured = Measured(metric=task.metric, value=value, ci=getattr(chosen, f"{task.metric}_ci"),
                        count=chosen.count, latency_p50_s=chosen.latency_p50_s, latency_p95_s=chosen.latency_p95_s,
                        usd_per_1k_queries=(chosen.cost_usd_mean or 0.0) * 1000,
                        effective_context_mean=chosen.effective_context_mean, questions=str(dataset_path),
                        generated=generated, date=time.strftime("%Y-%m-%dT%H:%M:%S"))
    pipeline = Pipeline(name=_slug(f"{chosen.strategy}-{chosen.model}"), description=f"{chosen.label}: the "
                        f"project's search winner", settings=settings, measured=measured,
                        source={"project": str(project_file) if project_file else None, "search": str(work),
                                "config": chosen.key})
    return write_pipeline(out_dir / "pipeline.yaml", pipeline)


# -- sql ---------------------------------------------------------------------------------------------------------
def _sql(project, out_dir: Path, quick: bool, progress: Progress, result: ProjectOutcome):
    from .project_sql import run_sql_task

    stage = run_sql_task(project.tasks.sql, [c.spec for c in project.models], out_dir, quick=quick,
                         on_progress=progress)
    result.ladder += stage.ladder
    result.metrics["sql"] = stage.metrics
    return Section(title="sql: text-to-SQL on the project's database", summary=stage.summary, tables=stage.tables,
                   plots=stage.plots), None
