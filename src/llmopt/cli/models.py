"""`llmopt models`: what resolves on this machine."""

from __future__ import annotations

import typer

from .common import JSON_HELP, emit_json, human_bytes, out, table


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_cmd(json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """List the local models that resolve here (name, engine, size, path)."""
        from ..models.registry import DEFAULT_ENGINE, list_models
        from ..models.spec import __doc__ as grammar

        infos = list_models()
        if json_out:
            emit_json({"default_engine": DEFAULT_ENGINE, "models": [vars(i) for i in infos]})
            return
        out.print(table("Local models", ["spec", "engine", "size", "path", "description"],
                        [(i.spec + (" (default)" if i.default else ""), i.engine, human_bytes(i.size_bytes), i.path,
                          i.description) for i in infos]))
        out.print("[dim]Also: hf:FOLDER, llamacpp:FILE.gguf, openai:MODEL@URL. Grammar:[/]")
        out.print(grammar.strip(), markup=False, highlight=False)
