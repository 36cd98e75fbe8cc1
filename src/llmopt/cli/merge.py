"""`llmopt merge CONFIG.yaml --out DIR`: merge models from a mergekit-compatible config."""

from __future__ import annotations

import gc
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
        threads: int = typer.Option(1, "--threads", help="torch compute threads (the merge is memory-bound and reads "
                                                         "and writes on threads of their own: one is usually fastest)."),
        copy_tokenizer: bool = typer.Option(True, "--copy-tokenizer/--no-copy-tokenizer",
                                            help="Copy the tokenizer files into the output."),
        durable: bool = typer.Option(False, "--fsync", help="Flush shards to disk before publishing the output "
                                                            "(survives a power loss; slower)."),
        tie_order: str = typer.Option("mergekit", "--tie-order",
                                      help="Which of several equal magnitudes at a TIES/breadcrumbs cut survive: "
                                           "'mergekit' (the ones mergekit keeps: bit-identical output) or "
                                           "'position' (the earliest; saves a float32 copy of such a tensor)."),
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
                               durable=durable, tie_order=tie_order, progress=advance)
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
        # The output is published and nothing is left to clean up: spare the collector its final full pass
        # over torch's many objects, and (from the console script) skip interpreter teardown altogether,
        # ~0.6 s on 2 cores, a fifth of a small merge.
        gc.freeze()
        from .main import request_fast_exit

        request_fast_exit()


def _print_plan(plan) -> None:
    from rich.table import Table

    labels = {key: f"#{i}" for i, key in enumerate(plan.models)}
    out.print(f"[bold]Merge plan[/]: {plan.method.name} ({plan.method.description})")
    for key, label in labels.items():
        role = " (base)" if plan.config.base_model and key == str(plan.config.base_model) else ""
        out.print(f"  {label} {key}{role}", highlight=False)
    tensors = Table(header_style="bold")
    for column, wrap in (("tensor", False), ("shape", False), ("dtype", False), ("from", True),
                         ("parameters", True), ("shard", False)):
        tensors.add_column(column, no_wrap=not wrap, overflow="fold")
    shard_of = {name: str(i + 1) for i, s in enumerate(plan.shards) for name in s.tensors}
    for task in plan.tasks:
        sources = " ".join(labels[s.model] + ("" if s.name == task.name else f":{s.name}") for s in task.sources)
        tensors.add_row(task.name, "×".join(map(str, task.shape)), task.dtype, sources,
                        _parameters(plan.method, task), shard_of[task.name])
    if out.is_terminal:
        out.print(tensors)
    else:  # piped or redirected: rich would assume 80 columns and fold the tensor names
        from rich.console import Console

        Console(width=180, soft_wrap=True).print(tensors)
    out.print(table("Output shards", ["shard", "file", "tensors", "size"],
                    [(i + 1, s.file, len(s.tensors), human_bytes(s.nbytes)) for i, s in enumerate(plan.shards)]))
    out.print(f"{len(plan.tasks)} tensors, {plan.total_parameters:,} parameters, {human_bytes(plan.total_bytes)}; "
              f"working memory about {human_bytes(plan.peak_bytes_estimate)} (largest tensor group)")


def _parameters(method, task) -> str:
    """Shared values that differ from the method's defaults, then per-input values (base left out)."""
    parts = [f"{name}={fmt(value)}" for name, value in task.shared.items()
             if method.param(name) is None or method.param(name).default != value]
    names = dict.fromkeys(name for values in task.per_input for name in values)
    for name in names:
        values = [values[name] for values in task.per_input if name in values]
        if method.param(name) is not None and all(v == method.param(name).default for v in values):
            continue
        parts.append(f"{name}={'/'.join(fmt(v) for v in values)}")
    return " ".join(parts)
