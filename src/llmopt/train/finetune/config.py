"""Fine-tuning configuration: one validated pydantic model, loadable from YAML, with help text beside each field.

The CLI derives its flags from these fields (`llmopt finetune --help` shows the same text), and a YAML file
(`--config run.yaml`) can set any of them; flags given on the command line win over the file.

    model: default
    data: train.jsonl
    method: lora
    lora_r: 16
    max_steps: 200
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...config import load_config as shared_load_config

DEFAULT_LR = {"full": 2e-5, "lora": 2e-4}  # LoRA adapters start at zero and need a larger step


class TrainSettings(BaseModel):
    """How to train: shared by `llmopt finetune` and the student side of `llmopt distill`."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    method: Literal["full", "lora"] = Field("lora", description="full: update every weight; lora: train low-rank adapters (PEFT) on a frozen model.")
    out: Path = Field(Path("finetuned"), description="Output folder: the trained model (an HF folder, `--model hf:OUT`), checkpoints and the report.")
    max_seq_len: int = Field(1024, ge=16, description="Longest example in tokens; longer examples are dropped (and counted in the data report), never cut.")
    packing: bool = Field(True, description="Concatenate the examples of a batch into one padding-free row; attention and positions restart at every example, so examples never see each other.")
    batch_size: int = Field(8, ge=1, description="Examples per micro-batch on each process.")
    grad_accum: int = Field(1, ge=1, description="Micro-batches per optimizer step (effective batch = batch_size x grad_accum x processes).")
    epochs: float = Field(1.0, gt=0, description="Passes over the training data (ignored when max_steps is set).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps (short runs, smoke tests).")
    learning_rate: float | None = Field(None, gt=0, description="Peak learning rate (default 2e-4 for LoRA, 2e-5 for full fine-tuning).")
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = Field("linear", description="Learning-rate schedule after warmup (transformers' schedulers).")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Share of the steps spent warming the learning rate up from 0.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, ge=0, description="Clip the gradient norm to this value (0 = no clipping).")
    seed: int = Field(42, description="Seed for the data order, adapter initialisation and dropout.")
    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator (the update is scaled by alpha / r).")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    lora_target_modules: list[str] | str = Field("all-linear", description="Modules that get adapters: 'all-linear' or a list such as [q_proj, v_proj].")
    merge_lora: bool = Field(False, description="Merge the trained adapter into the base weights and save a plain HF model (the adapter is kept under OUT/adapter).")
    save_steps: int = Field(50, ge=0, description="Write a checkpoint every N optimizer steps (0 = only at the end).")
    save_total_limit: int = Field(2, ge=1, description="Checkpoints kept on disk (the oldest are deleted).")
    resume: bool = Field(False, description="Continue from the latest checkpoint in OUT (same data and settings).")
    bf16: bool | None = Field(None, description="bfloat16 autocast for matrix products; weights and optimizer stay float32. Default: on where the hardware computes bf16 natively (CPUs with AVX512-BF16/AMX, GPUs with bf16), as TRL does by default.")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in the backward pass: less memory, ~30% more compute.")
    loss_chunk_tokens: int = Field(1024, ge=16, description="Tokens per chunk of the output-layer loss; full-vocabulary logits are never built for all positions at once.")
    num_threads: int | None = Field(None, ge=1, description="CPU threads for PyTorch (default: all cores, or OMP_NUM_THREADS).")
    eval_generate: int = Field(50, ge=0, description="Eval examples answered by generation to score the task metric (0 = loss and perplexity only).")
    eval_max_new_tokens: int = Field(64, ge=1, description="Most tokens generated per eval answer.")
    eval_max_examples: int = Field(200, ge=1, description="Most eval examples used for the eval loss.")

    def lr(self) -> float:
        return self.learning_rate or DEFAULT_LR[self.method]


class DataSettings(BaseModel):
    """What to train on: shared by `llmopt finetune` and `llmopt distill`."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    data: Path = Field(..., description="Training data, JSONL: {\"messages\": [...]} or {\"prompt\": ..., \"completion\": ...} per line (an optional \"answer\" is the gold for the task metric).")
    eval: Path | None = Field(None, description="Evaluation data (same format); without it a held-out slice of the training data is used.")
    eval_fraction: float = Field(0.1, gt=0, lt=1, description="Share of the training data held out for evaluation when no eval file is given.")
    template: Literal["chat", "raw"] = Field("chat", description="chat: render through the model's chat template (as llmopt serves it); raw: prompt + completion + EOS as plain text.")
    system_prompt: str | None = Field(None, description="System message put before prompt/completion examples (chat template only).")
    completion_only_loss: bool = Field(True, description="Train on the answers only (assistant turns / completions), not on the prompts.")
    dedup: bool = Field(True, description="Drop exact and near-duplicate training examples.")
    near_dup_threshold: float = Field(0.9, gt=0, le=1, description="Jaccard similarity (character 5-grams of the normalised text) at or above which two examples count as near-duplicates.")
    eval_overlap: Literal["refuse", "drop", "allow"] = Field("refuse", description="Training examples that (nearly) match an eval example: refuse to train, drop them, or allow them.")

    @model_validator(mode="after")
    def _check_template(self):
        if self.template == "raw" and self.system_prompt:
            raise ValueError("system_prompt needs template=chat")
        return self


class FinetuneConfig(DataSettings, TrainSettings):
    """`llmopt finetune`: adapt a model to a task or a format."""

    model: str = Field("default", description="Model spec to fine-tune: default, hf:FOLDER, a pack name, or a hub id.")
    rag_index: str | None = Field(None, description="Retrieval-augmented fine-tuning: an index name/folder; each prompt gets the documents retrieved for it (documents, then the question).")
    rag_k: int = Field(4, ge=1, description="Documents retrieved per example with rag_index.")


C = TypeVar("C", bound=BaseModel)


def load_config(cls: type[C], path: str | Path | None = None, **overrides: Any) -> C:
    """Build a config from a YAML file (optional) and keyword overrides (None means 'not given')."""
    return shared_load_config(cls, path, overrides=overrides, what=_what(cls))


def _what(cls: type[BaseModel]) -> str:
    return cls.__name__.removesuffix("Config").lower()  # FinetuneConfig -> "bad finetune settings: ..."
