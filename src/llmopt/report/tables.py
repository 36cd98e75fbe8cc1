"""Report tables: a Table, the optimization ladder's rows, and their Markdown and HTML renderings."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any


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


def ladder_table(rows: list[LadderRow]) -> Table:
    def ci(r: LadderRow) -> str:
        return f"[{cell(r.ci_low)}, {cell(r.ci_high)}]" if r.ci_low is not None else "–"

    return Table(
        ["stage", "rung", "configuration", "metric", "value", "95% CI", "latency s/q", "cost $/q", "n"],
        [[r.stage, r.rung, r.config, r.metric, r.value, ci(r), r.latency_s, r.cost_usd, r.n] for r in rows],
        "The optimization ladder: every rung measured on the same questions.",
    )


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
