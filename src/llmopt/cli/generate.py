"""`llmopt generate`: one completion, with its usage."""

from __future__ import annotations

import typer

from .common import JSON_HELP, emit_json, err, out, usage_line


def register(app: typer.Typer) -> None:
    @app.command()
    def generate(
        prompt: str = typer.Argument(..., help="The prompt (sent through the model's chat template unless --raw)."),
        model: str = typer.Option("default", "--model", "-M", help="Model spec, see `llmopt models`."),
        max_tokens: int = typer.Option(256, "--max-tokens", help="Most tokens to generate."),
        temperature: float = typer.Option(0.0, "--temperature", "-t", help="0 = greedy."),
        seed: int = typer.Option(0, "--seed", help="Sampling seed."),
        raw: bool = typer.Option(False, "--raw", help="Send the prompt as-is, without the chat template."),
        system: str = typer.Option(None, "--system", help="A system message."),
        stream: bool = typer.Option(False, "--stream", help="Print tokens as they arrive."),
        truncate: bool = typer.Option(False, "--truncate", help="Cut an over-long prompt from the left instead of failing."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Generate text with a model and print it with a usage line (tokens, latency, tok/s, cost)."""
        from ..api import generate as api_generate

        if stream and not json_out:
            from ..api import stream as api_stream

            handle = api_stream(prompt, model=model, max_tokens=max_tokens, temperature=temperature, seed=seed,
                                raw=raw, system=system, truncate=truncate)
            for delta in handle:
                out.print(delta, end="", markup=False, highlight=False)
            out.print()
            gen = handle.result
        else:
            gen = api_generate(prompt, model=model, max_tokens=max_tokens, temperature=temperature, seed=seed,
                               raw=raw, system=system, truncate=truncate)
        usage = gen.usage.to_dict()
        if json_out:
            emit_json({"text": gen.text, "model": gen.model, "finish_reason": gen.finish_reason, "usage": {
                k: usage[k] for k in ("prompt_tokens", "cached_prompt_tokens", "completion_tokens", "latency_s",
                                      "compute_s", "cost_usd")}})
            return
        if not stream:
            out.print(gen.text, markup=False, highlight=False)
        err.print(f"[dim]{gen.model} · {usage_line(usage)}[/]", highlight=False)
