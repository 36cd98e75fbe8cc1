"""`llmopt ask`: answer a question over an index with a strategy (none, rag, drag, iterdrag), sampling and
selection, under a context budget; prints the answer, its citations and usage."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import JSON_HELP, emit_json, err, out, table, usage_line


def _help(field: str) -> str:
    from rich.markup import escape

    from ..rag.config import AskConfig

    return escape(AskConfig.model_fields[field].description or "")


def register(app: typer.Typer) -> None:
    @app.command()
    def ask(
        question: str = typer.Argument(..., help="The question."),
        index: str = typer.Option(None, "--index", "-i", help=_help("index")),
        strategy: str = typer.Option(None, "--strategy", "-s", help=_help("strategy") + " (default rag)"),
        k: int = typer.Option(None, "-k", help=_help("k") + " (default 5)"),
        m: int = typer.Option(None, "-m", help=_help("m")),
        n: int = typer.Option(None, "-n", help=_help("n") + " (default 3)"),
        samples: int = typer.Option(None, "--samples", help=_help("samples")),
        select: str = typer.Option(None, "--select", help=_help("select")),
        prompt: str = typer.Option(None, "--prompt", help=_help("prompt")),
        max_context: int = typer.Option(None, "--max-context", help=_help("max_context")),
        demos: str = typer.Option(None, "--demos", help=_help("demos")),
        demo_selection: str = typer.Option(None, "--demo-selection", help=_help("demo_selection")),
        model: str = typer.Option(None, "--model", "-M", help=_help("model")),
        judge_model: str = typer.Option(None, "--judge-model", help=_help("judge_model")),
        max_tokens: int = typer.Option(None, "--max-tokens", help=_help("max_tokens")),
        temperature: float = typer.Option(None, "--temperature", "-t", help=_help("temperature")),
        seed: int = typer.Option(None, "--seed", help=_help("seed")),
        no_prefix_cache: bool = typer.Option(False, "--no-prefix-cache", help="Do not keep prefix states."),
        config: Path = typer.Option(None, "--config", help="YAML file of ask settings; flags override it."),
        steps: bool = typer.Option(False, "--steps", help="Also print every model call (IterDRAG's chain)."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Answer QUESTION from an index; `llmopt ask --help` lists strategies, sampling and budget options."""
        from ..rag.api import Asker
        from ..rag.config import AskConfig

        flags = dict(index=index, strategy=strategy, k=k, m=m, n=n, samples=samples, select=select, prompt=prompt,
                     max_context=max_context, demos=demos, demo_selection=demo_selection, model=model,
                     judge_model=judge_model, max_tokens=max_tokens, temperature=temperature, seed=seed,
                     prefix_cache=False if no_prefix_cache else None)
        settings = AskConfig.from_yaml(config, **flags) if config else AskConfig.make(**flags)
        asker = Asker(settings)
        if asker.needs_chains:
            _prepare_chains(asker)
        answer = asker.ask(question)
        if json_out:
            emit_json(answer.to_dict())
            return
        render(answer, steps)


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
