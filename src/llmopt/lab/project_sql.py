"""The project's text-to-SQL task (`llmopt lab --project`, `tasks.sql` of llmopt.yaml): the user's own database
and questions, climbed through the same three strategies as the lab's `sql` stage (zero-shot, few-shot with
DAIL-SQL selection, few-shot + self-consistency) for every candidate model.

    result = run_sql_task(project.tasks.sql, ["default", "openai:m@URL"], Path("lab-report"), quick=True)

The questions file (Spider-style JSON list or JSONL: `question`, gold SQL in `query`, `sql` or `gold_sql`,
optional `id`) is split once, by a seeded hash, into a few-shot example pool and the evaluation questions, so no
question is ever shown as an example of itself. Results are resumable: one folder per questions set, model and
strategy under OUT/sql/, each an `llmopt sql eval`-style run (config.json, results.jsonl, summary.json, report).

Metric `ex` compares executed results with the gold query's. Metric `judge` needs no gold query: the task's judge
model reads the schema, question, predicted query and its rows and says yes or no (llmopt.sql.judge); rows that
do carry gold SQL can still form the few-shot pool.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, InputError
from ..redact import redact
from ..sql.config import STRATEGIES
from ..sql.examples import ExamplePool, SQLExample
from ..sql.hardness import hardness
from ..sql.judge import judge_tasks
from ..sql.pipeline import MemoLLM
from ..sql.report import OVERVIEW_COLUMNS, overview_row, paired_table
from ..sql.runner import evaluate_tasks, read_results
from ..sql.spider import SQLTask
from .registry import LabContext, LadderRow, StageResult, Table
from .stages.sql import _ex, _ladder_row, _plots, _progress, _settings

if TYPE_CHECKING:
    from ..project.config import SQLTask as SQLTaskConfig

GOLD_KEYS = ("query", "sql", "gold_sql")  # where a row may hold its gold SQL (Spider's "sql" is its parsed form)
MIN_FOR_EXAMPLES = 6  # below this, every question is worth more as an evaluation question: zero-shot only
POOL_SHARE = 3  # one question in three becomes a few-shot example ...
POOL_MAX = 16  # ... up to this many (DAIL selection shows 5; more pool helps little, fewer eval questions hurt)
QUICK_QUESTIONS = 3  # quick mode: a first look in minutes, on the first evaluation questions
SPLIT_SEED = "llmopt-project-sql-v1"


@dataclass
class SQLQuestions:
    """The questions file read: usable tasks, and a `FILE:LINE: reason` for every row that was skipped."""

    tasks: list[SQLTask]
    skipped: list[str] = field(default_factory=list)


@dataclass
class SQLSplit:
    """Disjoint few-shot example pool and evaluation questions (pool empty: zero-shot only)."""

    pool: list[SQLTask]
    eval: list[SQLTask]

    def examples(self) -> list[SQLExample]:
        # The runner keeps a question's own database out of its examples (no question may see itself); here the
        # split already guarantees that, so the pool is labelled apart and selection may use all of it.
        return [SQLExample(t.question, t.gold_sql, f"{t.db_id} (example pool)") for t in self.pool]


# -- reading the questions ------------------------------------------------------------------------------------
def _rows(path: Path) -> list[tuple[str, str, Any]]:
    """(where, default id, row) for each row: a JSON list's items or a JSONL file's non-blank lines. A line that
    is not JSON is kept as its error message, so that it is reported and the rest of the file still loads."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read ({exc}); give a UTF-8 JSON or JSONL questions file") from None
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); fix it, or write one JSON object "
                             "per line (JSONL)") from None
        return [(f"{path.name}: item {n}", f"item-{n}", item) for n, item in enumerate(items, 1)]
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append((f"{path.name}:{number}", f"line-{number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                rows.append((f"{path.name}:{number}", "", ValueError(f"not JSON ({exc.msg})")))
    return rows


def _task(row: Any, default_id: str, database: Path, need_gold: bool) -> SQLTask:
    if isinstance(row, ValueError):
        raise row
    if not isinstance(row, dict):
        raise ValueError("not a JSON object; write {\"question\": ..., \"query\": ...}")
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("no \"question\" string")
    gold = next((row[k].strip() for k in GOLD_KEYS if isinstance(row.get(k), str) and row[k].strip()), None)
    if gold is None and need_gold:
        raise ValueError("no gold SQL: add it as \"query\" (or \"sql\", \"gold_sql\"); metric ex compares the "
                         "results of running it and the model's query")
    raw_id = row.get("id", default_id)
    if not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool) or not str(raw_id).strip():
        raise ValueError(f"\"id\" must be a non-empty string or an integer, not {raw_id!r}")
    parsed = row.get("sql") if isinstance(row.get("sql"), dict) else None  # Spider's parsed form, when given
    level = _hardness(gold, parsed) if gold else "unknown"
    return SQLTask(str(raw_id).strip(), database.stem, database, question.strip(), gold or "", level)


def _hardness(sql: str, parsed: dict | None) -> str:
    try:
        return hardness(sql, parsed)
    except Exception:  # a query the light tokenizer cannot place is still a question to ask; only its level is lost
        return "unknown"


def read_questions(path: str | Path, database: str | Path, *, need_gold: bool = True) -> SQLQuestions:
    """The questions of a Spider-style JSON list or JSONL file, as tasks over `database`. A bad row is skipped
    with `FILE:LINE: reason`; a file with no usable row at all is an InputError naming the fix. need_gold=False
    (the judge metric): a row without gold SQL is a task with gold_sql "" and hardness "unknown"."""
    path, database = Path(path), Path(database)
    tasks, skipped, first_seen = [], [], {}
    for where, default_id, row in _rows(path):
        try:
            task = _task(row, default_id, database, need_gold)
            if task.id in first_seen:
                raise ValueError(f"duplicate id {task.id!r} (first at {first_seen[task.id]}); give each row its "
                                 "own \"id\"")
        except ValueError as exc:
            skipped.append(f"{where}: {exc}")
            continue
        first_seen[task.id] = where
        tasks.append(task)
    if not tasks:
        why = f"{len(skipped)} row(s) skipped, e.g. {skipped[0]}" if skipped else "it holds no rows"
        fix = "and its gold SQL in \"query\"" if need_gold else "(gold SQL in \"query\" optional)"
        raise InputError(f"{path}: no usable questions ({why}); write one JSON object per line with \"question\" "
                         + fix)
    return SQLQuestions(tasks, skipped)


def split_questions(tasks: Sequence[SQLTask]) -> SQLSplit:
    """A third of the questions (at most POOL_MAX) as the few-shot pool, the rest for evaluation, chosen by a
    seeded hash of id and question (the same file gives the same split on every machine); both keep file order.
    Only questions with gold SQL can be examples. Fewer than MIN_FOR_EXAMPLES questions: no pool, every question
    is evaluated zero-shot."""
    with_gold = [t for t in tasks if t.gold_sql]
    if len(tasks) < MIN_FOR_EXAMPLES or not with_gold:
        return SQLSplit([], list(tasks))
    size = min(POOL_MAX, len(tasks) // POOL_SHARE)
    ranked = sorted(with_gold, key=lambda t: hashlib.sha256(f"{SPLIT_SEED}\n{t.id}\n{t.question}".encode()).hexdigest())
    pool_ids = {t.id for t in ranked[:size]}
    return SQLSplit([t for t in tasks if t.id in pool_ids], [t for t in tasks if t.id not in pool_ids])


# -- running ----------------------------------------------------------------------------------------------------
def _slug(text: str) -> str:
    """A folder name for a model spec or a question set: readable, secrets masked, unique by a short hash."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", redact(text)).strip("-.")[:40] or "x"
    return f"{readable}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _fingerprint(database: Path, split: SQLSplit) -> str:
    """Names the results folder after what was asked: an edited questions file starts fresh, never mixes."""
    content = json.dumps([str(database.resolve()), [t.to_dict() for t in split.pool],
                          [t.to_dict() for t in split.eval]], sort_keys=True)
    return f"{database.stem}-{hashlib.sha256(content.encode()).hexdigest()[:12]}"


def run_sql_task(task: SQLTaskConfig, models: list[str], out_dir: Path, *, quick: bool = False,
                 on_progress: Callable[[str, int, int], None] | None = None) -> StageResult:
    """Every model x strategy on the project's SQL questions: execution accuracy with CIs, latency and cost per
    question, paired differences, plots (under out_dir/plots) and ladder rows."""
    from ..models.registry import get_model

    models = list(dict.fromkeys(models))  # a spec named twice is evaluated once
    if not models:
        raise ConfigError("no models to evaluate on tasks.sql; name at least one under `models:`")
    out_dir = Path(out_dir)
    judged = task.metric == "judge"
    questions = read_questions(task.questions, task.database, need_gold=not judged)
    judge = get_model(task.judge) if judged else None
    split = split_questions(questions.tasks)
    evaluated = split.eval[:QUICK_QUESTIONS] if quick else split.eval
    strategies = STRATEGIES if split.pool else ("zero",)
    folder = out_dir / "sql" / _fingerprint(Path(task.database), split)
    if judged:
        folder = folder / f"judge-{_slug(task.judge)}"
    pool = None
    total = len(models) * len(strategies) * len(evaluated)
    runs, hits = {}, {}
    for m, spec in enumerate(models):
        ctx = LabContext(out_dir, quick=quick, model=spec, on_progress=on_progress)
        base = _settings(ctx)
        if split.pool and pool is None:
            pool = ExamplePool(split.examples(), embedder=base.embedder, skeleton_threshold=base.skeleton_threshold)
        llm = MemoLLM(get_model(spec))
        for s, strategy in enumerate(strategies):
            cfg = base.model_copy(update={"strategy": strategy})
            out = folder / _slug(spec) / ("quick" if quick else "full") / strategy
            report = _progress(ctx, f"sql {redact(spec)} {s + 1}/{len(strategies)}: {strategy}",
                               (m * len(strategies) + s) * len(evaluated), total)
            examples = pool if cfg.uses_examples else None
            summary = (judge_tasks(evaluated, cfg, examples, out, llm=llm, judge=judge, on_result=report) if judged
                       else evaluate_tasks(evaluated, cfg, examples, out, llm=llm, on_result=report))
            done = read_results(out / "results.jsonl")
            runs[spec, strategy] = (summary, [done[t.id] for t in evaluated if t.id in done])
        hits[spec] = llm.hits
    return _result(LabContext(out_dir, quick=quick), task, questions, split, evaluated, runs, hits)


# -- the result ---------------------------------------------------------------------------------------------------
def _label(spec: str, strategy: str, models: list[str]) -> str:
    return strategy if len(models) == 1 else f"{redact(spec)} {strategy}"


def _paired(runs: dict, models: list[str], strategies: list[str]) -> Table:
    """Each strategy against zero-shot on the same model, and each model against the first on the same strategy."""
    rows = []
    for spec in models:
        if len(strategies) > 1:
            rows += paired_table({_label(spec, s, models): runs[spec, s][1] for s in strategies},
                                 _label(spec, "zero", models)).rows
    for strategy in strategies:
        if len(models) > 1:
            rows += paired_table({_label(spec, strategy, models): runs[spec, strategy][1] for spec in models},
                                 _label(models[0], strategy, models)).rows
    table = paired_table({"zero": []}, "zero")  # the columns and caption the lab's sql stage uses
    return Table(table.columns, rows, table.caption)


def _ladder(spec: str, strategy: str, summary: dict, metric: str) -> LadderRow:
    row = _ladder_row(strategy, summary)  # its config names the model that answered (engine included)
    if summary["config"]["model"] != spec:
        row = replace(row, config=f"{row.config} [{redact(spec)}]")
    return row if metric == "ex" else replace(row, metric=metric)  # judged: the same fraction, a judge's verdicts


def _result(ctx: LabContext, task: SQLTaskConfig, questions: SQLQuestions, split: SQLSplit,
            evaluated: list[SQLTask], runs: dict, hits: dict) -> StageResult:
    models = list(dict.fromkeys(spec for spec, _ in runs))
    strategies = list(dict.fromkeys(strategy for _, strategy in runs))
    judged = task.metric == "judge"
    columns = [("judged %" if c == "EX %" else c) for c in OVERVIEW_COLUMNS] if judged else OVERVIEW_COLUMNS
    what = f"Questions judged correct by {redact(task.judge)}" if judged else "Execution accuracy"
    overview = Table(columns, [overview_row(summary["label"], summary) for summary, _ in runs.values()],
                     f"{what} on {Path(task.database).name} (95% bootstrap CI); latency and cost per question, every "
                     "call charged to each strategy that makes it" + (" (the judge's calls are not)." if judged
                                                                       else "."))
    tables = [overview]
    if len(runs) > 1:
        tables.append(_paired(runs, models, strategies))
    if questions.skipped:
        tables.append(Table(["skipped row"], [[line] for line in questions.skipped],
                            "Rows of the questions file that could not be used (the rest were)."))
    plots = _plots(ctx, {_label(spec, s, models): summary for (spec, s), (summary, _) in runs.items()})
    ladder = [_ladder(spec, s, summary, task.metric) for (spec, s), (summary, _) in runs.items()]
    metrics = {"database": str(task.database), "questions": str(task.questions), "metric": task.metric,
               "judge": redact(task.judge) if judged else None, "pool": len(split.pool),
               "eval": len(split.eval), "evaluated": len(evaluated), "skipped": questions.skipped,
               "runs": {redact(spec): {s: {k: runs[spec, s][0][k] for k in (
                   "count", "execution_accuracy", "execution_accuracy_ci", "by_hardness", "per_question",
                   "gold_errors")} | {k: runs[spec, s][0][k] for k in ("judge_usage", "no_verdict")
                                      if k in runs[spec, s][0]} for s in strategies} for spec in models}}
    return StageResult(_text(task, questions, split, evaluated, runs, hits, ctx.quick), tables, plots, ladder,
                       metrics)


def _text(task: SQLTaskConfig, questions: SQLQuestions, split: SQLSplit, evaluated: list[SQLTask], runs: dict,
          hits: dict, quick: bool) -> str:
    parts = [f"{len(evaluated)} questions evaluated on the database {Path(task.database).name} "
             f"({len(questions.tasks)} usable in {Path(task.questions).name}: {len(split.pool)} few-shot example "
             f"pool, {len(split.eval)} evaluation, disjoint by a seeded hash)."]
    judged = task.metric == "judge"
    if judged:
        parts.append(f"Metric judge: {redact(task.judge)} read each question, query and result rows and said "
                     "whether they answer it; its calls are not charged to the configurations.")
    if not split.pool:
        why = (f"with fewer than {MIN_FOR_EXAMPLES} questions" if len(questions.tasks) < MIN_FOR_EXAMPLES
               else "with no question carrying gold SQL")
        parts.append(f"There is no example pool {why}: zero-shot only; add questions with gold SQL in \"query\" "
                     "to compare few-shot and self-consistency.")
    for spec in dict.fromkeys(spec for spec, _ in runs):
        scores = ", ".join(f"{s} {_ex(summary):.1f}%" for (model, s), (summary, _) in runs.items() if model == spec)
        parts.append(f"{redact(spec)}: {'judged correct' if judged else 'execution accuracy'} {scores}; "
                     f"{hits[spec]} model calls were shared between strategies and computed once.")
    left_out = max(summary["gold_errors"] for summary, _ in runs.values())
    if left_out and judged:
        parts.append(f"{left_out} answer(s) got no yes/no verdict from the judge and were left out of the score "
                     "(results.jsonl has each reason).")
    elif left_out:
        parts.append(f"{left_out} gold queries failed to run and were left out of the accuracy; fix them in "
                     f"{Path(task.questions).name}.")
    if questions.skipped:
        parts.append(f"{len(questions.skipped)} row(s) skipped, e.g. {questions.skipped[0]}.")
    if quick:
        parts.append(f"Quick mode: the first {len(evaluated)} of {len(split.eval)} evaluation questions, short "
                     "answers, three self-consistency candidates, no self-correction round; run without --quick "
                     "for all of them.")
    return " ".join(parts)
