"""The report writer: report.md and report.html (plots as PNG files beside them) plus report.json.

Any command that produces a report (lab, eval, sql eval, finetune, distill) builds a list of Sections and calls
write_report; the HTML is self-contained apart from the PNGs, so a report folder can be copied anywhere. Every
text that goes in (meta, summaries, table cells, errors) passes through llmopt.redact first: a model spec, a
command line or a traceback can carry an API key.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..paths import atomic_write_text
from ..redact import redact
from .tables import LadderRow, Table, html_table, ladder_table, markdown_table


@dataclass
class Section:
    title: str
    summary: str = ""
    tables: list[Table] = field(default_factory=list)
    plots: list[tuple[str, Path]] = field(default_factory=list)
    status: str = "ok"  # ok | error | skipped
    seconds: float | None = None
    error: str | None = None


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _scrub(value: Any) -> Any:
    """A value with every string in it redacted (numbers, None and paths unchanged)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v) for v in value)
    return value


def _scrub_table(t: Table) -> Table:
    return Table(_scrub(t.columns), [_scrub(row) for row in t.rows], redact(t.caption))


def _scrub_section(s: Section) -> Section:
    return replace(s, title=redact(s.title), summary=redact(s.summary), tables=[_scrub_table(t) for t in s.tables],
                   plots=[(redact(caption), path) for caption, path in s.plots],
                   error=redact(s.error) if s.error else s.error)


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}caption{caption-side:bottom;font-style:italic;color:#666;padding-top:4px}
img{max-width:100%;border:1px solid #eee}.error{color:#b00}.meta{color:#666;font-size:13px}"""


def write_report(out_dir: Path, title: str, sections: list[Section], ladder: list[LadderRow] | None = None,
                 meta: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write report.md, report.html and report.json under out_dir (atomically), secrets redacted; return their
    paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = redact(title)
    meta = _scrub({"generated": time.strftime("%Y-%m-%d %H:%M:%S"), **(meta or {})})
    sections = [_scrub_section(s) for s in sections]
    ladder = [replace(r, config=redact(r.config)) for r in ladder or []]
    md = [f"# {title}", "", " · ".join(f"{k}: {v}" for k, v in meta.items()), ""]
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p class='meta'>{html.escape(' · '.join(f'{k}: {v}' for k, v in meta.items()))}</p>"]
    if ladder:
        md += ["## Ladder", "", markdown_table(ladder_table(ladder)), ""]
        body += ["<h2>Ladder</h2>", html_table(ladder_table(ladder))]
    for s in sections:
        took = f" ({s.seconds:.1f} s)" if s.seconds is not None else ""
        md += [f"## {s.title}{took}", ""]
        body.append(f"<h2>{html.escape(s.title)}{html.escape(took)}</h2>")
        if s.status != "ok":
            md += [f"**{s.status}**: {s.error or ''}", ""]
            body.append(f"<p class='error'><b>{html.escape(s.status)}</b>: {html.escape(s.error or '')}</p>")
        if s.summary:
            md += [s.summary, ""]
            body.append("".join(f"<p>{html.escape(p)}</p>" for p in s.summary.split("\n\n")))
        for t in s.tables:
            md += [markdown_table(t), ""]
            body.append(html_table(t))
        for caption, path in s.plots:
            rel = _rel(path, out_dir)
            md += [f"![{caption}]({rel})", ""]
            body.append(f"<figure><img src='{html.escape(rel)}' alt='{html.escape(caption)}'>"
                        f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>")
    paths = {"md": out_dir / "report.md", "html": out_dir / "report.html", "json": out_dir / "report.json"}
    atomic_write_text(paths["md"], "\n".join(md))
    atomic_write_text(paths["html"], page)
    data = {"title": title, "meta": meta, "ladder": [asdict(r) for r in ladder],
            "sections": [{**asdict(s), "plots": [(c, _rel(p, out_dir)) for c, p in s.plots]} for s in sections]}
    atomic_write_text(paths["json"], json.dumps(data, indent=2, default=str))
    return paths
