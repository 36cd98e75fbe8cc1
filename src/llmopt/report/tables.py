"""Report tables: a Table, the optimization ladder's rows, and their Markdown and HTML renderings."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .format import percent, seconds, significant, usd_per_1k


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class LadderRow:
    """One configuration on the optimization ladder, measured on a stated question set."""

    rung: str  # e.g. "baseline prompt", "RAG", "DRAG", "fine-tuned"
    config: str  # what exactly ran, e.g. "drag k=5 m=2 default@llamacpp"
    metric: str  # e.g. "acc", "f1", "execution_accuracy"
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    latency_s: float | None = None  # mean per question
    cost_usd: float | None = None  # mean per question
    n: int = 0
    stage: str = ""


def cell(value: Any) -> str:
    """A table cell as text: "–" for nothing, four significant digits for a float."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


LADDER_COLUMNS = ["stage", "rung", "configuration", "metric", "quality (95% CI)", "latency (mean)", "cost", "n"]


def quality(value: float | None, low: float | None = None, high: float | None = None) -> str:
    """A metric value for people: a fraction (accuracy, F1, hit rate) as a percentage with its CI; anything
    outside [0, 1] (a loss, a count) to two significant figures."""
    if value is None:
        return "–"
    if 0.0 <= value <= 1.0:
        return percent(value, (low, high))
    ci = f" (CI {significant(low)}–{significant(high)})" if low is not None and high is not None else ""
    return significant(value) + ci


def ladder_rows_for_people(rows: list[LadderRow]) -> list[tuple]:
    """The ladder's rows as text people read at a glance, in LADDER_COLUMNS order: "62% (CI 50–71%)", "1.3 s",
    "$0.42 per 1k queries". The report's ladder table and `llmopt lab`'s terminal table both show these."""
    return [(r.stage, r.rung, r.config, r.metric, quality(r.value, r.ci_low, r.ci_high), seconds(r.latency_s),
             usd_per_1k(r.cost_usd), r.n) for r in rows]


def ladder_table(rows: list[LadderRow]) -> Table:
    return Table(list(LADDER_COLUMNS), [list(r) for r in ladder_rows_for_people(rows)],
                 "The optimization ladder: every rung measured on the same questions; latency and cost are means "
                 "per question.")


def reformat(table: Table, formats: dict[str, tuple[str, Callable[[Any], str]]]) -> Table:
    """The table with the named columns renamed and their numbers written for people, e.g. {"cost $/q": ("cost",
    usd_per_1k), "Acc": ("accuracy", percent)}; other columns, and cells that are not numbers, unchanged."""
    chosen = {i: formats[c] for i, c in enumerate(table.columns) if c in formats}

    def write(i: int, value: Any) -> Any:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return chosen[i][1](value) if i in chosen and number else value

    return replace(table, columns=[chosen[i][0] if i in chosen else c for i, c in enumerate(table.columns)],
                   rows=[[write(i, v) for i, v in enumerate(row)] for row in table.rows])


def markdown_table(t: Table) -> str:
    lines = ["| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
    for row in t.rows:
        lines.append("| " + " | ".join(cell(v).replace("|", "\\|").replace("\n", " ") for v in row) + " |")
    if t.caption:
        lines.append(f"\n*{t.caption}*")
    return "\n".join(lines)


def html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in row) + "</tr>" for row in t.rows)
    caption = f"<caption>{html.escape(t.caption)}</caption>" if t.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
