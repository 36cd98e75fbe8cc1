"""What every command shares: consoles (results on stdout, logs and progress on stderr), --json output,
progress bars."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

out = Console(soft_wrap=True)  # results
err = Console(stderr=True, soft_wrap=True)  # logs, progress, warnings (one error = one line)

JSON_HELP = "Print one machine-readable JSON object on stdout (logs go to stderr)."


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout, nothing else."""
    print(json.dumps(obj, default=_jsonable, ensure_ascii=False), flush=True)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def progress(transient: bool = False) -> Progress:
    """A progress bar on stderr (hidden when stderr is not a terminal, so logs stay clean)."""
    return Progress(
        SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=err, transient=transient, disable=not err.is_terminal,
    )


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    t = Table(title=title, header_style="bold")
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*[fmt(v) for v in row])
    return t


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) < 0.001:
            return f"{value:.2e}"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def usage_line(usage: dict[str, Any]) -> str:
    tps = usage["completion_tokens"] / usage["latency_s"] if usage.get("latency_s") else 0.0
    cached = f" ({usage['cached_prompt_tokens']} cached)" if usage.get("cached_prompt_tokens") else ""
    return (f"{usage['prompt_tokens']} prompt{cached} + {usage['completion_tokens']} completion tokens · "
            f"{usage['latency_s']:.2f} s · {tps:.1f} tok/s · ${usage['cost_usd']:.6f}")


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
