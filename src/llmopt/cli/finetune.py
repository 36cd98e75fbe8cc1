"""`llmopt finetune`: fine-tune a model (full or LoRA, optionally retrieval-augmented) and report before/after.

Every option is a field of FinetuneConfig; flags are derived from it, and `--config run.yaml` sets any of them.
Multi-GPU / multi-node: run the same command under `accelerate launch` (e.g. `accelerate launch
--num_processes 8 -m llmopt.cli.main finetune ...`); each process trains on its own micro-batches (the result is
the same as one process with the whole batch) and only the main process writes the model, the report and the JSON.
On CPUs, `accelerate launch --cpu --num_processes 2` runs one process (accelerate needs MPI for more); use
`accelerate launch --multi_gpu --num_processes 2` or `torchrun --nproc_per_node 2` for CPU data parallelism.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from .common import JSON_HELP, emit_json, err, out, progress, table
from .options import ConfigOptions, config_command


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _target_modules(text: str) -> list[str] | str:
    """'all-linear' as it is, anything else a comma-separated list of module names."""
    return text if text == "all-linear" else [v.strip() for v in text.split(",") if v.strip()]


def options(model_cls) -> ConfigOptions:
    """The flags of finetune and distill (distill's config shares the training and data fields)."""
    return ConfigOptions(
        model_cls,
        first=("teacher", "student", "student_from_teacher", "model", "data", "eval", "loss", "method", "out"),
        flags={"rag_index": ("--rag",), "model": ("--model", "-M"), "out": ("--out", "-o")},
        parsers={"lora_target_modules": _target_modules})


class StepProgress:
    """A progress bar over optimizer steps, plus one line per evaluation (all on stderr)."""

    def __init__(self):
        self.bar = progress()
        self.task = None

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        self.bar.__exit__(*exc)

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "data":
            err.print("data: " + "; ".join(info["lines"]), highlight=False)
        elif event == "eval":
            err.print(f"evaluating {info['when']} training on {info['examples']} examples…", highlight=False)
        elif event == "eval_done":
            scores = " ".join(f"{k} {v['value']:.3f}" for k, v in info.get("scores", {}).items())
            err.print(f"  eval {info['when']}: loss {info['loss']:.4f} · ppl {info['perplexity']:.2f} {scores}",
                      highlight=False)
        elif event == "step":
            if self.task is None:
                self.task = self.bar.add_task("training", total=info["total"], completed=info["step"] - 1)
            self.bar.update(self.task, completed=info["step"],
                            description=f"training · loss {info['loss']:.3f} · {info['tokens_per_s']:.0f} tok/s")
            if not err.is_terminal and (info["step"] % 10 == 0 or info["step"] == info["total"]):
                err.print(f"step {info['step']}/{info['total']} loss {info['loss']:.4f} "
                          f"{info['tokens_per_s']:.1f} tok/s", highlight=False)
        elif event == "saved":
            err.print(f"saved {info['out']}", highlight=False)


def render_result(result) -> None:
    b, a = result.eval_before, result.eval_after
    rows = [("eval loss", b.loss, a.loss), ("perplexity", b.perplexity, a.perplexity)]
    rows += [(name, b.scores[name].value if name in b.scores else None, a.scores[name].value)
             for name in a.scores]
    out.print(table("Before / after", ["metric", "before", "after"], rows))
    out.print(f"{result.method} · {result.steps} steps · {result.train_tokens:,} tokens · "
              f"{result.tokens_per_s:.1f} tok/s · model: hf:{result.out} · report: {Path(result.out) / 'report' / 'report.html'}",
              highlight=False)


def _run(config, json_out: bool) -> None:
    from ..train.finetune import finetune

    with StepProgress() as bar:
        result = finetune(config, on_progress=bar)
    if not is_main_process():
        return
    if json_out:
        emit_json(result.summary())
    else:
        render_result(result)


def register(app: typer.Typer) -> None:
    from ..train.finetune.config import FinetuneConfig

    config_command(app, "finetune", options(FinetuneConfig), _run,
                   "Fine-tune a model on JSONL data (full or LoRA, optionally with retrieved documents) and "
                   "report loss, perplexity and the task metric before and after.\n\n"
                   "Several GPUs or nodes: the same command under `accelerate launch -m llmopt.cli.main finetune "
                   "...` (data parallel; only the main process writes). Several CPU processes: `accelerate launch "
                   "--multi_gpu --num_processes N -m llmopt.cli.main finetune ...` or torchrun (accelerate's --cpu "
                   "launcher starts a single process unless MPI is configured).")

    @app.command("export-gguf")
    def export_gguf_cmd(
        folder: Path = typer.Argument(..., help="A trained HF folder (full or --merge-lora output)."),
        out_file: Path = typer.Option(None, "--out", "-o", help="GGUF file to write (default FOLDER/model-<outtype>.gguf)."),
        outtype: str = typer.Option("f16", "--outtype", help="f16 or f32 (quantize later with llamacpp:FILE?quant=q8_0)."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Export a trained model to GGUF for llama.cpp; kept only if llama-cpp-python gives the same greedy tokens
        as transformers on 3 prompts."""
        from ..train.export_gguf import export_gguf

        err.print(f"exporting {folder} to GGUF ({outtype}) and verifying it…", highlight=False)
        result = export_gguf(folder, out_file, outtype=outtype)
        if json_out:
            emit_json(result.to_dict())
        else:
            out.print(f"{result.path} · {result.size_bytes / 1e6:.1f} MB · same greedy tokens as transformers on "
                      f"{len(result.prompts)} prompts · serve it with --model llamacpp:{result.path}", highlight=False)
