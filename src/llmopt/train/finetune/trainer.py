"""The training loop, shared by fine-tuning and distillation (which only swap the objective).

It runs under `accelerate launch` unchanged: `Accelerator()` reads the launcher's environment, wraps the model for
distributed data parallelism, and each process takes its own micro-batches from the same deterministic plan.
The loss of an optimizer step is the sum over every trained token of the step (all micro-batches, all
processes) divided by their count, so gradient accumulation and process count never change what is optimised.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import checkpoint
from .config import TrainSettings
from .packing import StepPlan, collate
from .template import Tokenized

Objective = Callable[[torch.nn.Module, "object"], tuple[torch.Tensor, int]]  # (model, Batch) -> (loss sum, tokens)


class _WithObjective(torch.nn.Module):
    """The model and its loss in one module, so a distributed wrapper sees the whole forward pass."""

    def __init__(self, model: torch.nn.Module, objective: Objective):
        super().__init__()
        self.model = model
        self.objective = objective

    def forward(self, batch):
        return self.objective(self.model, batch)


@dataclass
class TrainOutcome:
    steps: int  # optimizer steps done (in total, across resumes)
    tokens: int  # real tokens fed to the model (prompt and answer, no padding), all processes
    trained_tokens: int  # tokens that carried a loss
    seconds: float  # training time (evaluation and checkpoint writes excluded)
    resumed_from: int = 0
    history: list[dict] = field(default_factory=list)  # per step: step, loss, lr, tokens_per_s

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def make_optimizer(model: torch.nn.Module, settings: TrainSettings, total_steps: int):
    from transformers import get_scheduler

    params = [p for p in model.parameters() if p.requires_grad]
    kwargs = {"lr": settings.lr(), "weight_decay": settings.weight_decay}
    try:
        optimizer = torch.optim.AdamW(params, fused=True, **kwargs)  # one kernel per step, CPU and GPU
    except (RuntimeError, TypeError):
        optimizer = torch.optim.AdamW(params, **kwargs)
    warmup = math.ceil(settings.warmup_ratio * total_steps)
    scheduler = get_scheduler(settings.lr_scheduler, optimizer, num_warmup_steps=warmup,
                              num_training_steps=total_steps)
    return optimizer, scheduler


def train(model, rows: list[Tokenized], plan: StepPlan, objective: Objective, settings: TrainSettings, *,
          accelerator, pad_id: int, fingerprint: str, out: Path, on_step: Callable[[dict], None] | None = None,
          varlen: bool = True) -> TrainOutcome:
    optimizer, scheduler = make_optimizer(model, settings, len(plan))
    state = {"step": 0, "tokens": 0, "trained_tokens": 0, "seconds": 0.0, "history": []}
    if settings.resume and (found := checkpoint.latest(out)) is not None:
        state.update(checkpoint.load(found, model, optimizer, scheduler, fingerprint))
    resumed_from = state["step"]
    wrapped, optimizer = accelerator.prepare(_WithObjective(model, objective), optimizer)
    wrapped.train()
    rank, world = accelerator.process_index, accelerator.num_processes
    autocast = _autocast(settings.bf16, accelerator.device.type)
    for step in range(state["step"], len(plan)):
        started = time.perf_counter()
        micro = plan.steps[step][rank]
        everyone = [rows[i] for share in plan.steps[step] for mb in share for i in mb]  # all processes' examples
        step_trained = sum(r.trained_tokens for r in everyone)
        loss_sum = 0.0
        for j, indices in enumerate(micro):
            batch = _to(collate([rows[i] for i in indices], settings.packing and varlen, pad_id), accelerator.device)
            sync = contextlib.nullcontext() if j == len(micro) - 1 else accelerator.no_sync(wrapped)
            with sync:
                with autocast:
                    loss, _ = wrapped(batch)
                # DDP averages gradients over processes; scaling by `world` makes the result a per-token mean
                accelerator.backward(loss * world / max(1, step_trained))
            loss_sum += float(loss.detach())
        if settings.max_grad_norm:
            accelerator.clip_grad_norm_(wrapped.parameters(), settings.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        seconds = time.perf_counter() - started
        if world > 1:  # the logged loss covers every process's tokens
            loss_sum = float(accelerator.reduce(torch.tensor(loss_sum, device=accelerator.device), reduction="sum"))
        _advance(state, step + 1, sum(len(r) for r in everyone), step_trained, seconds,
                 loss_sum / max(1, step_trained), scheduler.get_last_lr()[0])
        if on_step and accelerator.is_main_process:
            on_step({**state["history"][-1], "total": len(plan)})
        if settings.save_steps and (step + 1) % settings.save_steps == 0 and step + 1 < len(plan):
            _checkpoint(accelerator, wrapped, optimizer, scheduler, state, fingerprint, out, settings)
    return TrainOutcome(state["step"], state["tokens"], state["trained_tokens"], state["seconds"], resumed_from,
                        state["history"])


def _advance(state: dict, step: int, tokens: int, trained: int, seconds: float, loss: float, lr: float) -> None:
    state["step"] = step
    state["tokens"] += tokens
    state["trained_tokens"] += trained
    state["seconds"] += seconds
    state["history"].append({"step": step, "loss": loss, "lr": lr, "tokens": tokens, "seconds": seconds,
                             "tokens_per_s": tokens / seconds if seconds else 0.0})


def _checkpoint(accelerator, wrapped, optimizer, scheduler, state, fingerprint, out, settings) -> None:
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        inner = accelerator.unwrap_model(wrapped).model
        checkpoint.save(out, state["step"], inner, optimizer, scheduler, {**state, "fingerprint": fingerprint},
                        settings.save_total_limit)
    accelerator.wait_for_everyone()


def _autocast(bf16: bool | None, device_type: str):
    if bf16 is None:
        bf16 = native_bf16(device_type)
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16)


def native_bf16(device_type: str) -> bool:
    """Whether bf16 matrix products run natively (and so faster than float32) on this device."""
    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device_type != "cpu":
        return False
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _to(batch, device):
    if device.type == "cpu":
        return batch
    for name in ("input_ids", "position_ids", "attention_mask", "targets", "cu_seqlens"):
        value = getattr(batch, name)
        if value is not None:
            setattr(batch, name, value.to(device))
    return batch
