"""`llmopt search "QUERY" --index INDEX`: ranked chunks with scores and provenance."""

from __future__ import annotations

import typer

from .common import JSON_HELP, emit_json, out


def register(app: typer.Typer) -> None:
    @app.command("search")
    def search_cmd(
        query: str = typer.Argument(..., help="What to look for (a question works)."),
        index: str = typer.Option(..., "--index", "-i", help="Index name, folder path or milvus:// URI."),
        k: int = typer.Option(5, "-k", "--k", help="How many chunks."),
        type_: list[str] = typer.Option(None, "--type", help="Only this element type (text, table, picture); "
                                        "repeatable."),
        source: list[str] = typer.Option(None, "--source", help="Only this file (a path, a file name or a glob "
                                         "with *); repeatable."),
        page: str = typer.Option(None, "--page", help="Page or range: 3, 2-5, 4-."),
        mode: str = typer.Option("hybrid", "--mode", help="hybrid (dense + BM25, RRF), dense or sparse."),
        full: bool = typer.Option(False, "--full", help="Print whole chunks, not the first lines."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Search an index: dense + BM25 fused with reciprocal rank fusion, with metadata filters."""
        from ..index import open_index
        from ..index.filters import parse_page_range

        filters = {"type": type_ or None, "source": source or None, "page": parse_page_range(page)}
        filters = {key: value for key, value in filters.items() if value is not None}
        with open_index(index, recover=False) as idx:
            hits = idx.search(query, k=k, filters=filters or None, mode=mode)
        if json_out:
            emit_json({"query": query, "index": index, "mode": mode, "results": [h.to_dict() for h in hits]})
            return
        if not hits:
            out.print("[dim]no results[/]")
        for hit in hits:
            c = hit.chunk
            where = f"{c.source}" + (f" p.{c.page}" if c.page else "")
            extra = " · ".join(x for x in (c.section, c.method) if x)
            out.print(f"[bold]{hit.rank}.[/] {hit.score:.4f} [cyan]{c.type}[/] {where}"
                      + (f" [dim]({extra})[/]" if extra else ""), highlight=False)
            text = c.text if full else "\n".join(c.text.splitlines()[:6])[:600]
            out.print(text, markup=False, highlight=False)
            out.print()
