"""`llmopt merge-moe CONFIG.yaml --out DIR`: assemble a mixture of experts from a mergekit-moe config."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import JSON_HELP, emit_json, err, human_bytes, out, progress


def register(app: typer.Typer) -> None:
    @app.command("merge-moe")
    def merge_moe_cmd(
        config: Path = typer.Argument(..., help="A mergekit-moe YAML config (base_model, gate_mode, experts, ...)."),
        out_dir: Path = typer.Option(..., "--out", "-o", help="Output folder (an HF model folder)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
        seed: int = typer.Option(0, "--seed", help="Seed of the random gate modes and of experts' noise_scale."),
        max_shard_size: str = typer.Option("5GB", "--max-shard-size", help="Largest output shard, e.g. 2GB."),
        threads: int = typer.Option(1, "--threads", help="torch threads for the gates' forward pass over the "
                                                         "prompts (short prompts: one is usually fastest)."),
        copy_tokenizer: bool = typer.Option(True, "--copy-tokenizer/--no-copy-tokenizer",
                                            help="Copy the base model's tokenizer files into the output."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Make each expert model's MLP one expert of every layer (Mixtral from Llama/Mistral experts, Qwen2-MoE
        from Qwen2 ones or with a shared expert), routers from the experts' prompts; tensor by tensor."""
        from ..train.merge.moe import run_moe

        with progress() as bar:
            task = bar.add_task("assembling", total=None)

            def advance(done: int, total: int, name: str) -> None:
                bar.update(task, completed=done, total=total, description=name[-40:])

            result = run_moe(config, out_dir, overwrite=overwrite, seed=seed, max_shard_size=max_shard_size,
                             copy_tokenizer=copy_tokenizer, threads=threads, progress=advance)
        for warning in result.warnings:
            err.print(f"[yellow]warning:[/] {warning}", highlight=False)
        if json_out:
            emit_json(result.to_dict())
            return
        shared = f" + {result.shared_experts} shared" if result.shared_experts else ""
        out.print(f"assembled {result.architecture} with {result.experts} experts{shared} "
                  f"({result.experts_per_token} per token, {result.gate_mode} gates): {result.parameters:,} "
                  f"parameters, {human_bytes(result.bytes)} in {result.out_dir} in {result.seconds:.1f} s")
