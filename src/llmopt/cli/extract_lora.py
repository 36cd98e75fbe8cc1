"""`llmopt extract-lora --model FINETUNED --base BASE --rank R --out DIR`: a fine-tuned model's difference to its
base as a PEFT LoRA adapter, with the reconstruction error of every module."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import JSON_HELP, emit_json, err, human_bytes, out, progress, table


def register(app: typer.Typer) -> None:
    @app.command("extract-lora")
    def extract_lora_cmd(
        model: Path = typer.Option(..., "--model", "-m", help="The fine-tuned model (an HF folder)."),
        base: Path = typer.Option(..., "--base", "-b", help="The model it was fine-tuned from (an HF folder)."),
        out_dir: Path = typer.Option(..., "--out", "-o", help="Output folder: a PEFT adapter "
                                                              "(adapter_config.json + adapter_model.safetensors)."),
        rank: int = typer.Option(16, "--rank", "-r", help="LoRA rank of each changed linear layer (lower where the "
                                                          "difference has lower rank); with --max-error, the most "
                                                          "any module gets."),
        max_error: float = typer.Option(None, "--max-error", help="Give each module the smallest rank (<= --rank) "
                                                                  "whose relative Frobenius error is at most this, "
                                                                  "e.g. 0.05."),
        include: list[str] = typer.Option([], "--include", "-i", help="Only linear layers whose name matches this "
                                                                      "regex (repeatable), e.g. 'self_attn'."),
        exclude: list[str] = typer.Option([], "--exclude", "-e", help="Leave out linear layers whose name matches "
                                                                      "this regex (repeatable)."),
        embeddings: str = typer.Option("save", "--embeddings", help="A changed embedding or lm_head: 'save' (copied "
                                                                    "in full, modules_to_save), 'lora' or 'skip'."),
        save_modules: list[str] = typer.Option([], "--save-module", help="Copy modules matching this regex in full "
                                                                         "(repeatable), e.g. 'norm' for changed "
                                                                         "norms."),
        dtype: str = typer.Option(None, "--dtype", help="dtype of the factors: float32, float16 or bfloat16 "
                                                        "(default: the fine-tuned weights')."),
        svd: str = typer.Option("exact", "--svd", help="'exact' (torch.linalg.svd) or 'lowrank' (randomized: "
                                                       "faster for ranks far below the layer size)."),
        device: str = typer.Option("cpu", "--device", help="Where the SVDs run: cpu or cuda."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
        show: int = typer.Option(20, "--show", help="Modules in the error table (worst first; 0: all)."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Extract a LoRA adapter (the low-rank difference between a fine-tuned model and its base) that
        peft.PeftModel.from_pretrained(base, OUT) loads; report each module's reconstruction error."""
        from ..train.merge.extract_lora import extract_lora

        with progress() as bar:
            task = bar.add_task("extracting", total=None)

            def advance(done: int, total: int, name: str) -> None:
                bar.update(task, completed=done, total=total, description=name[-40:])

            result = extract_lora(model, base, out_dir, rank=rank, max_error=max_error, include=include,
                                  exclude=exclude, embeddings=embeddings, save_modules=save_modules, dtype=dtype,
                                  svd=svd, device=device, overwrite=overwrite, progress=advance)
        for warning in result.warnings:
            err.print(f"[yellow]warning:[/] {warning}", highlight=False)
        if json_out:
            emit_json(result.to_dict())
            return
        worst = sorted(result.modules, key=lambda m: -m.rel_error)
        shown = worst if show <= 0 else worst[:show]
        title = f"Reconstruction error ({len(shown)} of {len(worst)} modules, worst first)"
        errors = table(title, ["module", "kind", "shape", "rank", "rel. error", "max abs error"],
                       [(m.name, m.kind, "×".join(map(str, m.shape)), m.rank, m.rel_error, m.max_abs_error)
                        for m in shown])
        if out.is_terminal:
            out.print(errors)
        else:  # piped or redirected: rich would assume 80 columns and fold the module names
            from rich.console import Console

            Console(width=180, soft_wrap=True).print(errors)
        out.print(f"extracted {len(result.modules)} modules (rank {result.rank}, {result.parameters:,} parameters, "
                  f"{human_bytes(result.bytes)}) into {result.out_dir} in {result.seconds:.1f} s; "
                  f"max relative error {result.max_rel_error:.2e}, {result.unchanged} unchanged module(s) left out",
                  highlight=False)
