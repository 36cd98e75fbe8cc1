"""`llmopt demo-data DIR`: write the project's own demo data (corpus, QA sets, databases), deterministically."""

from __future__ import annotations

import typer

from .common import JSON_HELP, emit_json, out, table


def register(app: typer.Typer) -> None:
    @app.command("demo-data")
    def demo_data_cmd(
        out_dir: str = typer.Argument(..., help="Folder to write into."),
        only: str = typer.Option(None, "--only", help="Comma-separated data sets (default: all)."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Write the demo corpus, QA sets and databases llmopt's demos and tests use."""
        from ..demo import write_demo_data

        written = write_demo_data(out_dir, [s.strip() for s in only.split(",")] if only else None)
        if json_out:
            emit_json({"out": out_dir, "sets": {k: [str(p) for p in v] for k, v in written.items()}})
            return
        out.print(table(f"Demo data in {out_dir}", ["set", "files"], [(k, len(v)) for k, v in written.items()]))
