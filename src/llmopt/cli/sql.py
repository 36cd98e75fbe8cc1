"""`llmopt sql ask|run|eval|schema`: text-to-SQL over a SQLite database, safe execution, Spider evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from ..errors import InputError
from .common import JSON_HELP, emit_json, err, out, progress, table, usage_line
from .options import ConfigOptions, with_options

SQL_FLAGS = {"strategy": ("--strategy", "-s"), "samples": ("--samples", "-n"), "shots": ("--shots", "-k"),
             "model": ("--model", "-M"), "temperature": ("--temperature", "-t"), "display_rows": ("--max-rows",),
             "timeout_s": ("--timeout",)}


def _options(*, skip: tuple[str, ...], shown_defaults: dict[str, str] | None = None):
    from ..sql.config import SQLConfig

    return ConfigOptions(SQLConfig, skip=skip, flags=SQL_FLAGS, shown_defaults=shown_defaults or {},
                         first=("strategy", "model", "shots", "samples", "repairs"))


def _config(config_file: str | None, settings: dict[str, Any]):
    from ..sql.config import make_config

    return make_config(None, config_file, **settings)


def _read_ids(path: str | None) -> list[str] | None:
    if not path:
        return None
    file = Path(path)
    if not file.is_file():
        raise InputError(f"--ids file not found: {file}")
    text = file.read_text(encoding="utf-8")
    data = json.loads(text) if text.lstrip().startswith(("[", "{")) else text.split()
    ids = data.get("ids") if isinstance(data, dict) else data
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InputError(f"{file}: expected a JSON list of question ids (or {{\"ids\": [...]}}), e.g. [\"dev-0001\"]")
    return ids


def _print_rows(columns: list[str], rows: list[list], truncated: bool, title: str) -> None:
    out.print(table(title, columns or ["(no columns)"], rows))
    if truncated:
        err.print(f"[dim]first {len(rows)} rows shown (more exist; --max-rows N shows more)[/]")


def _print_answer(answer) -> None:
    from rich.markup import escape
    from rich.syntax import Syntax

    out.print(Syntax(answer.sql or "-- no SQL", "sql", word_wrap=True))
    if answer.error:
        err.print(f"[red]the query did not run:[/] {answer.error}", highlight=False)
    else:
        _print_rows(answer.columns, answer.rows, answer.truncated, f"{len(answer.rows)} row(s)")
    if len(answer.candidates) > 1:
        out.print(table("Candidates (voted by result set)", ["#", "chosen", "votes", "rows", "repairs", "error", "sql"],
                        [(i, "✓" if c.chosen else "", c.votes, c.row_count, c.repairs, c.error or "", c.sql)
                         for i, c in enumerate(answer.candidates)]))
    if answer.examples:
        err.print(f"[dim]{len(answer.examples)} examples: " + "; ".join(
            f"{e.example.question} ({e.question_similarity:.2f})" for e in answer.examples) + "[/]", highlight=False)
    if answer.link is not None:  # names and values are the database's: escaped, never read as markup
        err.print("[dim]linked schema: " + escape("; ".join(f"{t}({', '.join(cs)})"
                                                             for t, cs in answer.link.columns.items())) + "[/]",
                  highlight=False)
    if answer.grounded:
        err.print("[dim]grounded values: " + escape("; ".join(m.filter_sql() for m in answer.grounded)) + "[/]",
                  highlight=False)
    err.print(f"[dim]{answer.model} · {answer.strategy} · {usage_line(answer.usage.to_dict())}[/]", highlight=False)


def register(app: typer.Typer) -> None:
    sql_app = typer.Typer(help="Text-to-SQL over SQLite databases: ask, run safely, evaluate on Spider.",
                          no_args_is_help=True)
    app.add_typer(sql_app, name="sql")

    @sql_app.command("ask")
    @with_options(_options(skip=("keep_distinct",),
                           shown_defaults={"strategy": "fewshot with --examples, zero without"}))
    def ask_cmd(
        question: str = typer.Argument(..., help="The question, in plain language."),
        db: str = typer.Option(..., "--db", help="The SQLite file (opened read-only)."),
        examples: str = typer.Option(None, "--examples", "-e", help="Example pool: JSON/JSONL question/query pairs "
                                     "from other databases (Spider's dev.json works)."),
        config_file: str = typer.Option(None, "--config", help="YAML file of settings (flags override it)."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        settings: dict | None = None,
    ) -> None:
        """Answer a question with SQL, run it read-only, and show the rows and what it cost."""
        from ..sql.pipeline import ask

        if "strategy" not in settings and examples is None and config_file is None:
            settings["strategy"] = "zero"  # without a pool there is nothing to pick examples from
        cfg = _config(config_file, settings)
        answer = ask(question, db, examples=examples, config=cfg)
        if json_out:
            data = answer.to_dict()
            emit_json({k: data[k] for k in ("sql", "columns", "rows", "truncated", "error", "usage", "candidates",
                                            "examples", "strategy", "model", "wall_s", "link", "grounded")})
            return
        _print_answer(answer)

    @sql_app.command("run")
    def run_cmd(
        sql: str = typer.Argument(..., help="One read-only statement (SELECT / WITH / read-only PRAGMA)."),
        db: str = typer.Option(..., "--db", help="The SQLite file (opened read-only)."),
        max_rows: int = typer.Option(20, "--max-rows", help="Rows shown."),
        timeout: float = typer.Option(10.0, "--timeout", help="Time limit in seconds."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Run a statement through the same safe executor as generated SQL (writes are refused)."""
        from ..sql.pipeline import run_sql

        result = run_sql(db, sql, max_rows=max_rows, timeout_s=timeout)
        if json_out:
            emit_json(result.to_dict())
            return
        _print_rows(result.columns, [list(r) for r in result.rows], result.truncated,
                    f"{len(result.rows)} row(s) · {result.elapsed_s * 1000:.1f} ms")

    @sql_app.command("schema")
    def schema_cmd(
        db: str = typer.Option(..., "--db", help="The SQLite file."),
        sample_values: int = typer.Option(3, "--sample-values", help="Sample values per column."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Print the schema the way prompts show it (CREATE TABLE with keys and sample values)."""
        from ..sql.schema import read_schema

        schema = read_schema(db, sample_values=sample_values)
        if json_out:
            emit_json({"db_id": schema.db_id, "sql": schema.to_sql(), "tables": schema.to_spider_tables()})
            return
        out.print(schema.to_sql(), markup=False, highlight=False)

    @sql_app.command("eval")
    @with_options(_options(skip=("display_rows",)))
    def eval_cmd(
        spider: str = typer.Option(..., "--spider", help="A Spider-layout folder (dev.json, database/)."),
        split: str = typer.Option("dev", "--split", help="Which <split>.json to read."),
        db_ids: str = typer.Option(None, "--db-ids", help="Only these databases (comma-separated)."),
        ids: str = typer.Option(None, "--ids", help="Only these question ids (a JSON list file, e.g. "
                                "bench/spider_ids.json)."),
        examples: str = typer.Option(None, "--examples", "-e", help="Example pool (default: the split's questions "
                                     "from the other databases)."),
        limit: int = typer.Option(None, "--limit", help="Only the first N questions."),
        out_dir: str = typer.Option("sql-eval", "--out", "-o", help="Folder for results.jsonl, summary.json, report.md "
                                    "(a rerun resumes)."),
        config_file: str = typer.Option(None, "--config", help="YAML file of settings (flags override it)."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        settings: dict | None = None,
    ) -> None:
        """Execution accuracy of a strategy on Spider (by hardness, with CIs, latency and cost); resumable."""
        from ..sql.runner import evaluate_spider

        cfg = _config(config_file, settings)
        with progress() as bar:
            task = bar.add_task(f"sql eval {cfg.describe()}", total=None)
            correct = [0, 0]

            def on_result(record: dict, done: int, total: int) -> None:
                correct[0] += bool(record["correct"])
                correct[1] += 1
                bar.update(task, completed=done, total=total,
                           description=f"sql eval {cfg.strategy} · EX {correct[0]}/{correct[1]} this run")

            summary = evaluate_spider(spider, out=out_dir, split=split, ids=_read_ids(ids), examples=examples,
                                      db_ids=[d.strip() for d in db_ids.split(",")] if db_ids else None,
                                      limit=limit, config=cfg, on_result=on_result)
        if json_out:
            emit_json({**summary, "out": out_dir})
            return
        _print_summary(summary, out_dir)


def _print_summary(summary: dict, out_dir: str) -> None:
    from ..sql.hardness import LEVELS

    def pct(acc: dict) -> str:
        if acc["execution_accuracy"] is None:
            return "–"
        low, high = acc["execution_accuracy_ci"]
        return f"{100 * acc['execution_accuracy']:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"

    rows = [("all", summary["count"], pct(summary))]
    rows += [(level, summary["by_hardness"][level]["count"], pct(summary["by_hardness"][level])) for level in LEVELS]
    out.print(table(f"Execution accuracy · {summary.get('label', '')}", ["hardness", "n", "EX (95% CI)"], rows))
    per = summary["per_question"]
    out.print(f"per question: {per['latency_s']:.2f} s · ${per['cost_usd']:.6f} · {per['calls']:.1f} calls · "
              f"{per['prompt_tokens'] + per['completion_tokens']:.0f} tokens; errors: {summary['errors']}")
    out.print(f"Report: {Path(out_dir) / 'report.md'}")
