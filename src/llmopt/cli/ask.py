"""`llmopt ask`: answer a question over an index with a strategy (none, rag, drag, iterdrag), sampling and
selection, under a context budget; prints the answer, its citations and usage."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import JSON_HELP, emit_json, err, out, table, usage_line
from .options import ConfigOptions, with_options


def _options():
    from ..rag.config import AskConfig

    return ConfigOptions(AskConfig, first=("index", "strategy", "k", "m", "n"), flags={
        "index": ("--index", "-i"), "strategy": ("--strategy", "-s"), "k": ("-k",), "m": ("-m",), "n": ("-n",),
        "model": ("--model", "-M"), "temperature": ("--temperature", "-t")})


def register(app: typer.Typer) -> None:
    @app.command()
    @with_options(_options())
    def ask(
        question: str = typer.Argument(..., help="The question."),
        config: Path = typer.Option(None, "--config", help="YAML file of ask settings; flags override it."),
        pipeline: Path = typer.Option(None, "--pipeline", help="pipeline.yaml (written by `llmopt lab`): its "
                                      "settings, index, demonstrations and prompt; flags override it."),
        steps: bool = typer.Option(False, "--steps", help="Also print every model call (IterDRAG's chain)."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        settings: dict | None = None,
    ) -> None:
        """Answer QUESTION from an index; `llmopt ask --help` lists strategies, sampling and budget options."""
        from ..rag.api import Asker

        asker = Asker(_settings(config, pipeline, settings))
        if asker.needs_chains:
            _prepare_chains(asker)
        answer = asker.ask(question)
        if json_out:
            emit_json(answer.to_dict())
            return
        render(answer, steps)


def _settings(config: Path | None, pipeline: Path | None, flags: dict):
    """The ask settings: from --config or --pipeline (not both), with the flags given on top."""
    from ..errors import ConfigError
    from ..rag.config import AskConfig

    if config and pipeline:
        raise ConfigError("give --config or --pipeline, not both (flags override either)")
    if pipeline:
        from ..rag.pipeline import load_pipeline

        return load_pipeline(pipeline).ask_config(**flags)
    return AskConfig.from_yaml(config, **flags) if config else AskConfig.make(**flags)


def _prepare_chains(asker) -> None:
    """IterDRAG demonstrations without a decomposition get one from the model first (once; cached)."""
    from .common import progress

    missing = len(asker.pool.demos) - asker.pool.with_chain_count
    with progress(transient=True) as bar:
        task = bar.add_task("writing IterDRAG chains for demonstrations", total=missing)
        stats = asker.prepare_chains(on_demo=lambda demo, kept: bar.advance(task))
    err.print(f"[dim]IterDRAG chains: kept {stats['kept']} of {stats['tried']} generated (final answer matched "
              f"the gold answer); {stats['had_chain']} came with the pool[/]", highlight=False)


def render(answer, steps: bool = False) -> None:
    out.print(answer.answer or "(no answer)", markup=False, highlight=False)
    if answer.citations:
        out.print(table("citations", ["#", "chunk", "source", "page", "type", "score", "supports"],
                        [(c.rank, c.chunk_id, c.source, c.page, c.type, c.score, "yes" if c.supports else "")
                         for c in answer.citations]))
    if steps:
        out.print(table("calls", ["kind", "sample", "query", "prompt", "cached", "reply"],
                        [(s.kind, s.sample, s.query, s.prompt_tokens, s.cached_prompt_tokens, s.text.strip()[:80])
                         for s in answer.steps]))
    usage = answer.usage.to_dict()
    err.print(f"[dim]{answer.strategy} · {answer.model} · {usage['calls']} call(s) · effective context "
              f"{usage['effective_context_tokens']} tokens · {usage_line(usage)}[/]", highlight=False)
    if answer.parse_failures:
        err.print(f"[yellow]{answer.parse_failures} reply(ies) broke the expected format; parsed leniently[/]")
    for note in answer.budget.notes if answer.budget else []:
        err.print(f"[yellow]budget: {note}[/]", highlight=False)
