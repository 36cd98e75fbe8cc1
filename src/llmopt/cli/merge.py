"""`llmopt merge CONFIG.yaml --out DIR`: merge models from a mergekit-compatible config."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import JSON_HELP, emit_json, err, fmt, human_bytes, out, progress, table


def register(app: typer.Typer) -> None:
    @app.command("merge")
    def merge_cmd(
        config: Path = typer.Argument(..., help="A mergekit-style YAML config (merge_method, models or slices, ...)."),
        out_dir: Path = typer.Option(None, "--out", "-o", help="Output folder (an HF model folder)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (tensors, shapes, sources, shards) "
                                                              "without reading any tensor data."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
        seed: int = typer.Option(0, "--seed", help="Seed of the random methods (dare_*, della*)."),
        max_shard_size: str = typer.Option("5GB", "--max-shard-size", help="Largest output shard, e.g. 2GB."),
        threads: int = typer.Option(1, "--threads", help="torch compute threads (the merge is memory-bound; one "
                                                         "compute thread plus a reader thread is usually fastest)."),
        copy_tokenizer: bool = typer.Option(True, "--copy-tokenizer/--no-copy-tokenizer",
                                            help="Copy the tokenizer files into the output."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Merge models (linear, slerp, task_arithmetic, ties, dare_*, breadcrumbs, model_stock, passthrough,
        ...) tensor by tensor, in bounded memory."""
        from ..errors import ConfigError
        from ..train.merge import run_merge

        if out_dir is None and not dry_run:
            raise ConfigError("pass --out DIR for the merged model (or --dry-run to only print the plan)")
        with progress() as bar:
            task = bar.add_task("merging", total=None)

            def advance(done: int, total: int, name: str) -> None:
                bar.update(task, completed=done, total=total, description=name[-40:])

            result = run_merge(config, out_dir, dry_run=dry_run, overwrite=overwrite, seed=seed,
                               max_shard_size=max_shard_size, copy_tokenizer=copy_tokenizer, threads=threads,
                               progress=advance)
        for warning in result.warnings:
            err.print(f"[yellow]warning:[/] {warning}", highlight=False)
        if json_out:
            emit_json(result.to_dict(include_plan=dry_run))
        elif dry_run:
            _print_plan(result.plan)
        else:
            resumed = f" ({result.resumed_shards} shard(s) reused from an interrupted run)" if result.resumed_shards else ""
            out.print(f"merged {result.tensors} tensors ({result.parameters:,} parameters, "
                      f"{human_bytes(result.bytes)}) with {result.method} into {result.out_dir} in "
                      f"{result.seconds:.1f} s{resumed}")


def _print_plan(plan) -> None:
    rows = []
    for task in plan.tasks:
        sources = ", ".join(f"{s.model}:{s.name}" if s.name != task.name else s.model for s in task.sources)
        params = ", ".join(f"{k}={fmt(v)}" for k, v in task.shared.items())
        shard = next(s.file for s in plan.shards if task.name in s.tensors)
        rows.append((task.name, "×".join(map(str, task.shape)), task.dtype, sources, params, shard))
    out.print(table(f"Merge plan: {plan.method.name}", ["tensor", "shape", "dtype", "sources", "parameters", "shard"],
                    rows))
    out.print(table("Output shards", ["file", "tensors", "size"],
                    [(s.file, len(s.tensors), human_bytes(s.nbytes)) for s in plan.shards]))
    out.print(f"{len(plan.tasks)} tensors, {plan.total_parameters:,} parameters, {human_bytes(plan.total_bytes)}; "
              f"working memory about {human_bytes(plan.peak_bytes_estimate)} (largest tensor group)")
