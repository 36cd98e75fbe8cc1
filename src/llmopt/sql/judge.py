"""An LLM judge for text-to-SQL questions that have no gold query: a second model reads the schema, the question,
the predicted query and the rows it returned, and says whether they answer the question.

    record = judge_one(TextToSQL(config, pool, llm), judge_llm, task)    # like runner.evaluate_one, judged
    summary = judge_tasks(tasks, config, pool, out, llm=llm, judge=judge_llm)

A query that failed to run is wrong without asking. A judge reply that is not yes/no, or a judge call that fails,
gives no verdict: the question is left out of the accuracy and counted (its `gold_error` says why), never
scored against the model. The judge's calls are the measurement's cost, not the configuration's: they are kept
under each record's "judge" and summed apart (summary["judge_usage"]).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EndpointError
from ..jsonl import append_jsonl
from ..models.base import LLM
from ..paths import atomic_write_text
from ..types import Usage
from .config import SQLConfig
from .examples import ExamplePool
from .pipeline import SQLAnswer, TextToSQL
from .runner import _check_pool, _claim, answer_task, read_results, write_summary
from .safe import SafeDatabase
from .spider import SQLTask

JUDGE_ROWS = 20  # result rows shown to the judge; enough to see the answer's shape, short enough for any context
JUDGE_MAX_TOKENS = 4  # "yes" or "no"
INSTRUCTIONS = ("You check whether an SQL query answers a question about a database. Read the schema, the "
                "question, the query and the rows it returned. Say yes if the rows answer the question correctly "
                "and completely, no otherwise.")


@dataclass
class Verdict:
    correct: bool | None  # None: no verdict (an unreadable reply or a failed judge call)
    reason: str | None  # why it is wrong without asking, or why there is no verdict
    text: str
    usage: Usage

    def to_dict(self) -> dict[str, Any]:
        return {"correct": self.correct, "reason": self.reason, "text": self.text, "usage": self.usage.to_dict()}


def _cell(value: Any) -> str:
    text = value.hex() if isinstance(value, bytes) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def judge_prompt(schema_sql: str, question: str, answer: SQLAnswer) -> str:
    """The judge's user message: schema, question, query, and the first JUDGE_ROWS rows (pure)."""
    rows = answer.rows[:JUDGE_ROWS]
    more = len(answer.rows) > JUDGE_ROWS or answer.truncated
    shown = "\n".join(" | ".join(_cell(v) for v in row) for row in rows) if rows else "(no rows)"
    count = f"the first {len(rows)} rows" if more else f"{len(rows)} row{'s' * (len(rows) != 1)}"
    return (f"{INSTRUCTIONS}\n\nSchema:\n{schema_sql}\n\nQuestion: {question}\n\nQuery:\n{answer.sql}\n\n"
            f"Result ({count}; columns: {', '.join(answer.columns) or '-'}):\n{shown}\n\n"
            "Does the result answer the question? Reply with yes or no only.")


def parse_verdict(text: str) -> bool | None:
    """yes -> True, no -> False, anything else -> None (pure)."""
    word = re.match(r"\W*(\w+)", text or "")
    return {"yes": True, "no": False}.get(word.group(1).lower()) if word else None


def judge_answer(judge: LLM, schema_sql: str, question: str, answer: SQLAnswer) -> Verdict:
    if answer.error or not answer.sql:
        return Verdict(False, f"the query did not run: {answer.error or 'no query'}", "", Usage())
    messages = [{"role": "user", "content": judge_prompt(schema_sql, question, answer)}]
    try:
        gen = judge.chat(messages, max_tokens=JUDGE_MAX_TOKENS, temperature=0.0)
    except EndpointError:
        raise  # an unreachable judge stops the run, so that a rerun judges these questions
    except Exception as exc:  # e.g. a prompt too long for the judge: this question gets no verdict
        return Verdict(None, f"judge failed: {type(exc).__name__}: {exc}", "", Usage())
    correct = parse_verdict(gen.text)
    reason = None if correct is not None else f"judge reply is not yes/no: {gen.text.strip()[:80]!r}"
    return Verdict(correct, reason, gen.text, gen.usage)


def judge_one(asker: TextToSQL, judge: LLM, task: SQLTask) -> dict:
    """Answer one question and have the judge score it (a record shaped like runner.evaluate_one's)."""
    record, answer = answer_task(asker, task)
    if answer is None:
        return record
    with SafeDatabase(task.db_path, timeout_s=asker.config.timeout_s) as db:
        schema_sql, _ = asker.schema(db)
    verdict = judge_answer(judge, schema_sql, task.question, answer)
    record.update(correct=bool(verdict.correct), judge={**verdict.to_dict(), "model": judge.model_id})
    if verdict.correct is None:
        record["gold_error"] = verdict.reason  # no verdict: left out of the accuracy, counted, with the reason
    return record


def judge_tasks(tasks: Sequence[SQLTask], config: SQLConfig, pool: ExamplePool | None, out: str | Path, *,
                llm: LLM, judge: LLM, on_result: Callable[[dict, int, int], None] | None = None) -> dict:
    """Answer and judge every task not yet in out/results.jsonl (resumable like runner.evaluate_tasks; the
    judge is recorded in out/judge.json and a different one is refused), then write the summary."""
    out_dir = Path(out)
    if config.model != llm.model_id:
        config = config.model_copy(update={"model": llm.model_id})
    _check_pool(pool)
    _claim(out_dir, config)
    _claim_judge(out_dir, judge.model_id)
    results_path = out_dir / "results.jsonl"
    done = read_results(results_path)
    asker = TextToSQL(config, pool, llm)
    todo = [t for t in tasks if t.id not in done]
    for n, task in enumerate(todo, 1):
        record = judge_one(asker, judge, task)
        append_jsonl(results_path, record)
        if on_result:
            on_result(record, len(tasks) - len(todo) + n, len(tasks))
    summary = write_summary(out_dir, tasks, config)
    finished = read_results(results_path)
    usage = Usage()
    for task in tasks:
        usage = usage + Usage(**finished.get(task.id, {}).get("judge", {}).get("usage", {}))
    summary.update(judge=judge.model_id, judge_usage=usage.to_dict(), no_verdict=summary["gold_errors"])
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2))
    return summary


def _claim_judge(out_dir: Path, judge_id: str) -> None:
    from ..errors import ConfigError

    path = out_dir / "judge.json"
    if path.is_file() and json.loads(path.read_text(encoding="utf-8")).get("judge") != judge_id:
        raise ConfigError(f"{out_dir} holds verdicts of another judge; pass another --out, or delete the folder to "
                          "start over")
    atomic_write_text(path, json.dumps({"judge": judge_id}))
