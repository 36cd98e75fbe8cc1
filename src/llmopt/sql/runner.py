"""Execution-accuracy evaluation over a Spider-layout dataset: resumable, one JSON line per question.

    out/config.json     the settings (a rerun with different settings into the same folder is refused)
    out/results.jsonl   one record per question, appended as each finishes (a crash loses at most one)
    out/summary.json    {"count", "execution_accuracy", "execution_accuracy_ci", "by_hardness", "usage",
                         "link_recall" (schema linking), "grounding_hit_rate" (value grounding), ...}
    out/report.md       (+ report.html, report.json) tables by hardness, latency, cost and the errors

The example pool never holds questions from the database being asked about: every pool item carries its
db_id and the question's own db_id is excluded at selection time.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..concurrency import in_threads, width
from ..errors import ConfigError, EndpointError
from ..jsonl import append_jsonl, read_jsonl
from ..models.base import LLM
from ..paths import atomic_write_text
from ..stats import bootstrap_ci
from ..types import Usage
from .config import SQLConfig, make_config
from .evaluate import execution_match
from .examples import ExamplePool, load_examples
from .hardness import LEVELS
from .pipeline import SQLAnswer, TextToSQL
from .safe import SafeDatabase
from .grounding import grounding_hits
from .linking import link_recall
from .spider import SQLTask, database_path, load_spider, spider_examples

# settings that change no result: a resumed run may change them
_COSMETIC = {"display_rows", "concurrency"}


def evaluate_spider(spider_dir: str | Path, *, out: str | Path, split: str = "dev",
                    db_ids: Sequence[str] | None = None, ids: Sequence[str] | None = None,
                    examples: str | Path | None = None, limit: int | None = None, config: SQLConfig | None = None,
                    llm: LLM | None = None, on_result: Callable[[dict, int, int], None] | None = None,
                    **settings: Any) -> dict:
    """Evaluate a text-to-SQL configuration on a Spider-layout folder (the API under `llmopt sql eval`).
    The pool defaults to the split's own questions (each question sees only other databases' ones)."""
    cfg = make_config(config, **settings)
    tasks = load_spider(spider_dir, split=split, db_ids=db_ids, ids=ids)
    if limit is not None:
        tasks = tasks[:limit]
    pool = None
    if cfg.uses_examples:
        pool_items = load_examples(examples) if examples else spider_examples(spider_dir, split=split)
        pool = ExamplePool(pool_items, embedder=cfg.embedder, skeleton_threshold=cfg.skeleton_threshold,
                           schema_identifiers=_schema_identifiers(spider_dir))
    return evaluate_tasks(tasks, cfg, pool, out, llm=llm, on_result=on_result)


def _schema_identifiers(spider_dir: str | Path) -> Callable[[str], set[str]]:
    """An example's database names, read from the Spider folder when its database is there (for masking)."""
    from .schema import read_schema

    def identifiers(db_id: str) -> set[str]:
        path = database_path(Path(spider_dir).expanduser(), db_id)
        if not path.is_file():
            return set()
        schema = read_schema(path, sample_values=0)  # names as written: camelCase splits into words
        return {t.name for t in schema.tables} | {c.name for t in schema.tables for c in t.columns}

    return identifiers


def evaluate_tasks(tasks: Sequence[SQLTask], config: SQLConfig, pool: ExamplePool | None, out: str | Path, *,
                   llm: LLM | None = None, on_result: Callable[[dict, int, int], None] | None = None) -> dict:
    """Answer and score every task not yet in out/results.jsonl, then write the summary and the report."""
    out_dir = Path(out)
    if llm is not None and config.model != llm.model_id:  # results and reports name the model that answered
        config = config.model_copy(update={"model": llm.model_id})
    _check_pool(pool)
    _claim(out_dir, config)
    results_path = out_dir / "results.jsonl"
    done = read_results(results_path)
    asker = TextToSQL(config, pool, llm)
    todo = [t for t in tasks if t.id not in done]
    if pool is not None and todo:
        pool.vectors()  # embed the pool once up front, so no question's latency carries it
    written = threading.Lock()
    finished = [len(tasks) - len(todo)]

    def one(task: SQLTask) -> None:
        record = evaluate_one(asker, task)
        with written:  # questions answered side by side finish in any order; each is stored as it ends
            append_jsonl(results_path, record)
            done[task.id] = record
            finished[0] += 1
            if on_result:
                on_result(record, finished[0], len(tasks))

    in_threads(one, todo, config.concurrency or width(asker.llm) if todo else 1)
    return write_summary(out_dir, tasks, config)


def write_summary(out_dir: str | Path, tasks: Sequence[SQLTask], config: SQLConfig) -> dict:
    """Summarize the finished tasks in out/results.jsonl (unfinished ones are left out) into summary.json and
    the report; a run stopped early (a time budget, Ctrl-C) still gets a summary of what it did."""
    out_dir = Path(out_dir)
    done = read_results(out_dir / "results.jsonl")
    records = [done[t.id] for t in tasks if t.id in done]
    summary = summarize(records, config)
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2))
    write_eval_report(out_dir, summary, records)
    return summary


def _check_pool(pool: ExamplePool | None) -> None:
    if pool is not None and any(not e.db_id for e in pool.examples):
        raise ConfigError("every example in the pool needs a db_id for evaluation, so that a question's own "
                          "database can be kept out of its examples; add \"db_id\" to each item")


def _claim(out_dir: Path, config: SQLConfig) -> None:
    """Record the settings in out/config.json; refuse to mix results of different settings in one folder."""
    path = out_dir / "config.json"
    current = config.model_dump()
    if path.is_file():
        previous = json.loads(path.read_text(encoding="utf-8"))
        # a setting added since that run is recorded at its default, which is what the run did
        defaults = {k: f.default for k, f in SQLConfig.model_fields.items()}
        previous = {**{k: defaults[k] for k in current if k not in previous and k in defaults}, **previous}
        changed = sorted(k for k in set(current) | set(previous)
                         if k not in _COSMETIC and current.get(k) != previous.get(k))
        if changed:
            raise ConfigError(f"{out_dir} holds results of other settings ({', '.join(changed)} differ); pass "
                              "another --out, or delete the folder to start over")
    atomic_write_text(path, json.dumps(current, indent=2))


def read_results(path: Path) -> dict[str, dict]:
    """Finished records by id; a half-written last line (a crash mid-write) is ignored and redone."""
    return {record["id"]: record for record in read_jsonl(path)}


def answer_task(asker: TextToSQL, task: SQLTask) -> tuple[dict, SQLAnswer | None]:
    """Answer one task: its record (unscored) and the answer, or the record with the item's error and None. An
    unreachable endpoint is the run's failure and propagates, so that a re-run retries these questions."""
    record: dict[str, Any] = {**task.to_dict(), "pred_sql": "", "correct": False, "error": None,
                              "gold_error": None}
    started = time.perf_counter()
    try:
        answer = asker.ask(task.question, task.db_path, exclude_db=task.db_id)
    except EndpointError:
        raise
    except Exception as exc:  # anything else, a bug included, is this item's error: the batch goes on
        elapsed = time.perf_counter() - started
        record.update(error=f"{type(exc).__name__}: {exc}", usage=Usage().to_dict(), wall_s=elapsed,
                      latency_s=elapsed)
        return record, None
    record.update(_answer_fields(answer))
    return record, answer


def evaluate_one(asker: TextToSQL, task: SQLTask) -> dict:
    """Answer one task and score it; any failure is recorded on the item, never lost for the batch."""
    record, answer = answer_task(asker, task)
    if answer is None:
        return record
    with SafeDatabase(task.db_path, timeout_s=asker.config.timeout_s) as db:
        match = execution_match(db, task.gold_sql, answer.sql, keep_distinct=asker.config.keep_distinct,
                                row_cap=asker.config.row_cap)
        if answer.link is not None:
            record["link_recall"] = link_recall(answer.link, task.gold_sql, asker.database_schema(db))
    if asker.config.value_grounding:
        found, literals = grounding_hits(task.gold_sql, answer.grounded)
        record["grounding"] = {"found": found, "literals": literals}
    record.update(correct=match.match, error=record["error"] or match.error, gold_error=match.gold_error)
    return record


def _answer_fields(answer: SQLAnswer) -> dict:
    return {
        "pred_sql": answer.sql, "error": answer.error, "usage": answer.usage.to_dict(), "wall_s": answer.wall_s,
        "latency_s": answer.latency_s,
        "model": answer.model, "preliminary_sql": answer.preliminary_sql,
        "examples": [{"question": e.example.question, "db_id": e.example.db_id,
                      "question_similarity": round(e.question_similarity, 4),
                      "query_similarity": e.query_similarity} for e in answer.examples],
        "candidates": [{"sql": c.sql, "temperature": c.temperature, "seed": c.seed, "error": c.error,
                        "repairs": c.repairs, "row_count": c.row_count, "votes": c.votes, "chosen": c.chosen,
                        **({"violations": c.violations, "logprob": c.logprob} if c.violations or c.logprob
                           is not None else {})}
                       for c in answer.candidates],
        **({"link": answer.link.to_dict()} if answer.link is not None else {}),
        **({"grounded": [m.to_dict() for m in answer.grounded]} if answer.grounded else {}),
    }


# -- the summary ------------------------------------------------------------------------------------------
def _accuracy(records: list[dict]) -> dict:
    mean, low, high = bootstrap_ci([1.0 if r["correct"] else 0.0 for r in records])
    return {"count": len(records), "execution_accuracy": mean if records else None,
            "execution_accuracy_ci": [low, high] if records else None}


def summarize(records: list[dict], config: SQLConfig | None = None) -> dict:
    """Execution accuracy with its 95% bootstrap CI, by hardness, and usage per question. Items whose gold
    query fails are reported (gold_errors) and left out of the accuracy."""
    scored = [r for r in records if not r.get("gold_error")]
    usage = Usage()
    for r in records:
        usage = usage + Usage(**r.get("usage", {}))
    n = max(1, len(records))
    summary = {
        **_accuracy(scored),
        "by_hardness": {level: _accuracy([r for r in scored if r["hardness"] == level]) for level in LEVELS},
        "usage": usage.to_dict(),
        "per_question": {"latency_s": sum(r.get("latency_s", r.get("wall_s", 0.0)) for r in records) / n,
                         "wall_s": sum(r.get("wall_s", 0.0) for r in records) / n,
                         "cost_usd": usage.cost_usd / n, "calls": usage.calls / n,
                         "prompt_tokens": usage.prompt_tokens / n, "completion_tokens": usage.completion_tokens / n},
        "errors": sum(1 for r in scored if r.get("error")),
        "error_types": dict(Counter(_error_type(r["error"]) for r in scored if r.get("error"))),
        "gold_errors": len(records) - len(scored),
        "models": sorted({r["model"] for r in records if r.get("model")}),
        "link_recall": _link_recall(records),
        "grounding_hit_rate": _grounding_rate(records),
    }
    if config is not None:
        summary["strategy"], summary["config"] = config.strategy, config.model_dump()
        summary["label"] = config.describe()
    return summary


def _link_recall(records: list[dict]) -> dict | None:
    """Mean share of the gold query's tables and columns that schema linking kept (None without linking)."""
    linked = [r["link_recall"] for r in records if r.get("link_recall")]
    if not linked:
        return None

    def mean(key: str) -> float | None:
        values = [v[key] for v in linked if v.get(key) is not None]
        return sum(values) / len(values) if values else None

    return {"tables": mean("tables"), "columns": mean("columns"), "count": len(linked),
            "all_tables": sum(1 for v in linked if v.get("tables") in (None, 1.0)) / len(linked)}


def _grounding_rate(records: list[dict]) -> dict | None:
    """Gold query string literals found among the grounded values, over all questions (None without grounding)."""
    grounded = [r["grounding"] for r in records if r.get("grounding")]
    if not grounded:
        return None
    found, literals = sum(g["found"] for g in grounded), sum(g["literals"] for g in grounded)
    return {"rate": found / literals if literals else None, "found": found, "literals": literals,
            "questions_with_literals": sum(1 for g in grounded if g["literals"])}


def _error_type(error: str) -> str:
    """A category for an error message: "syntax error", "no such column", "refused", "timeout", ..."""
    if error.startswith("refused"):
        return "refused (unsafe)"
    if "ran longer than" in error:
        return "timeout"
    if error.startswith("SQLite error: "):
        message = error[len("SQLite error: "):]
        if "syntax error" in message or "incomplete input" in message:
            return "syntax error"
        return message.split(":")[0].strip()[:40]
    return error.split(":")[0][:40]


def write_eval_report(out_dir: Path, summary: dict, records: list[dict]) -> None:
    from ..report import write_report
    from .report import eval_sections

    write_report(out_dir, "Text-to-SQL evaluation", eval_sections(summary, records),
                 meta={"configuration": summary.get("label", ""), "questions": len(records)})
