"""`llmopt ingest PATH... --index INDEX`: files and folders -> chunks -> a hybrid Milvus index."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from .common import JSON_HELP, emit_json, err, out, progress, table


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest_cmd(
        paths: list[Path] = typer.Argument(..., help="Files and folders (walked recursively)."),
        index: str = typer.Option(..., "--index", "-i", help="Index: a name (under LLMOPT_HOME/indexes), a folder "
                                  "path, or milvus://HOST:PORT/COLLECTION (token from MILVUS_TOKEN)."),
        embedder: str = typer.Option(None, "--embedder", help="For a new index: default (all-MiniLM-L6-v2), "
                                     "st:FOLDER or openai:MODEL@URL. An existing index keeps its own."),
        config: Path = typer.Option(None, "--config", help="YAML file with ingest settings (flags override it)."),
        chunk_tokens: int = typer.Option(None, "--chunk-tokens", help="Most tokens per chunk [200]."),
        overlap_tokens: int = typer.Option(None, "--overlap-tokens", help="Overlap when splitting [32]."),
        pictures: str = typer.Option(None, "--pictures", help="auto | ocr | vlm | vlm+ocr | caption | none "
                                     "(default auto: vlm when --vlm is set, else ocr)."),
        vlm: str = typer.Option(None, "--vlm", help="Vision-language model for pictures, e.g. "
                                "openai:granite3.2-vision@http://localhost:11434/v1."),
        converter: str = typer.Option(None, "--converter", help="native (default, offline) or docling."),
        max_file_mb: float = typer.Option(None, "--max-file-mb", help="Skip files larger than this [200]."),
        prune: bool = typer.Option(False, "--prune", help="Remove chunks of files under PATHS that no longer exist."),
        force: bool = typer.Option(False, "--force", help="Re-ingest files even when unchanged."),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="List every file, not only failures."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Ingest PDF, DOCX, PPTX, HTML, Markdown, text and image files into an index (incremental: unchanged
        files cost nothing; a bad file is reported and skipped; exit code 1 if any file failed)."""
        from ..ingest import ingest, load_config

        settings = load_config(config, chunk_tokens=chunk_tokens, overlap_tokens=overlap_tokens, pictures=pictures,
                               vlm=vlm, converter=converter, max_file_mb=max_file_mb)
        with progress() as bar:
            task = bar.add_task("ingesting", total=None)
            chunks = bar.add_task("embedding chunks", total=None)

            def on_event(event: str, info: dict) -> None:
                if event == "start":
                    bar.update(task, total=info["files"], description=f"files → {info['index']}")
                elif event == "embed":
                    bar.advance(chunks, info["n"])
                elif event == "file":
                    result = info["result"]
                    bar.advance(task)
                    if result.status == "failed" and not json_out:  # escaped: a file name may look like markup
                        err.print(f"[red]failed[/] {escape(result.path)}: {escape(result.reason)}", highlight=False)
                    for warning in [] if json_out else result.warnings:
                        err.print(f"[yellow]warning[/] {escape(result.path)}: {escape(warning)}", highlight=False)

            report = ingest([str(p) for p in paths], index, config=settings, embedder=embedder, prune=prune,
                            force=force, callback=on_event)
        if json_out:
            emit_json(report.to_dict())
        else:
            _render(report, verbose)
        if not report.ok:
            raise typer.Exit(1)


def _render(report, verbose: bool) -> None:
    shown = [f for f in report.files if verbose or f.status in ("failed", "removed")]
    if shown:
        out.print(table(None, ["file", "status", "chunks", "types", "pages", "s", "reason"],
                        [(escape(f.path), f.status, f.chunks, _types(f.by_type), f.pages, f.seconds, escape(f.reason))
                         for f in shown]))
    summary = report.summary()
    line = " · ".join(f"{n} {s}" for s, n in summary.items() if n)
    timings = " ".join(f"{k} {v:.1f}s" for k, v in report.timings.items() if v)
    out.print(f"[bold]{escape(report.index)}[/]: {line or 'nothing to do'} · {report.chunks_written} chunks "
              f"written · {report.seconds:.1f} s ({timings})", highlight=False)
    if report.recovered:
        out.print(f"[yellow]cleaned up {report.recovered} version(s) an interrupted run left behind[/]")


def _types(by_type: dict) -> str:
    return " ".join(f"{k}:{v}" for k, v in sorted(by_type.items()))
