"""`finetune(config)`: data in, a trained HF folder and a report out."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...paths import atomic_write_text
from ...retrieval import Retriever
from .config import FinetuneConfig, TrainSettings, load_config
from .data import check_data_files
from .evaluate import EvalResult, evaluate
from .loss import token_loss_sum
from .modelio import add_lora, count_parameters, folder_size, load_model, load_tokenizer, model_folder, save_trained
from .packing import plan_steps
from .prepare import Prepared, prepare
from .quality import DataReport
from .template import Renderer
from .trainer import TrainOutcome, train

Progress = Callable[[str, dict[str, Any]], None]  # (event, info): "data", "eval", "step", "saved"


@dataclass
class FinetuneResult:
    out: Path
    method: str
    base_model: str
    steps: int
    train_tokens: int
    tokens_per_s: float
    train_seconds: float
    eval_before: EvalResult
    eval_after: EvalResult
    data: DataReport
    trainable_params: int
    total_params: int
    size_bytes: int
    history: list[dict] = field(default_factory=list)

    @property
    def eval_loss_before(self) -> float:
        return self.eval_before.loss

    @property
    def eval_loss_after(self) -> float:
        return self.eval_after.loss

    def summary(self) -> dict[str, Any]:
        """The `--json` object: the documented keys first, then the details."""
        return {"out": str(self.out), "steps": self.steps, "train_tokens": self.train_tokens,
                "tokens_per_s": self.tokens_per_s, "eval_loss_before": self.eval_loss_before,
                "eval_loss_after": self.eval_loss_after, "method": self.method, "base_model": self.base_model,
                "eval_before": self.eval_before.to_dict(), "eval_after": self.eval_after.to_dict(),
                "data": self.data.to_dict(), "trainable_params": self.trainable_params,
                "total_params": self.total_params, "size_bytes": self.size_bytes, "train_seconds": self.train_seconds}


def finetune(config: FinetuneConfig | dict | str | Path, *, retriever: Retriever | None = None,
             on_progress: Progress | None = None) -> FinetuneResult:
    """Fine-tune a model (full or LoRA) on JSONL data; see FinetuneConfig for every option."""
    cfg = _as_config(config)
    check_data_files(cfg)
    from .rag import open_retriever

    opened = retriever is None and cfg.rag_index
    if opened:
        retriever = open_retriever(cfg.rag_index)
    session = Session.start(cfg, cfg.model)
    try:
        prepared = prepare(cfg, session.renderer(cfg), retriever, rag_k=cfg.rag_k)
    finally:
        if opened and hasattr(retriever, "close"):
            retriever.close()  # an embedded index allows one open handle; the RAG pipeline opens it next
    _emit(on_progress, session, "data", {"lines": prepared.report.lines()})
    return session.run(cfg, prepared, session.ce_objective(cfg), on_progress)


def _as_config(config) -> FinetuneConfig:
    if isinstance(config, FinetuneConfig):
        return config
    if isinstance(config, (str, Path)):
        return load_config(FinetuneConfig, config)
    return load_config(FinetuneConfig, None, **config)


def _emit(on_progress: Progress | None, session: "Session", event: str, info: dict) -> None:
    if on_progress and session.accelerator.is_main_process:
        on_progress(event, info)


@dataclass
class Session:
    """A model being trained in this process (also used by distillation, which brings its own objective)."""

    accelerator: Any
    folder: str
    tokenizer: Any
    model: Any = None
    varlen: bool = True

    @staticmethod
    def make_accelerator(settings: TrainSettings):
        import torch
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        if settings.num_threads:
            torch.set_num_threads(settings.num_threads)
        # cpu=True on machines without a GPU: under torchrun-style launchers (`accelerate launch --multi_gpu`,
        # `torchrun`) accelerate then runs CPU data parallelism over gloo instead of independent copies
        accelerator = Accelerator(cpu=not (torch.cuda.is_available() or torch.backends.mps.is_available()))
        set_seed(settings.seed)
        random.seed(settings.seed)
        return accelerator

    @classmethod
    def start(cls, settings: TrainSettings, spec: str, accelerator=None) -> "Session":
        accelerator = accelerator or cls.make_accelerator(settings)
        folder = model_folder(spec)
        return cls(accelerator, folder, load_tokenizer(folder))

    def renderer(self, cfg: FinetuneConfig) -> Renderer:
        return Renderer(self.tokenizer, cfg.template, cfg.system_prompt, cfg.completion_only_loss)

    def load(self, settings: TrainSettings) -> None:
        self.model, self.varlen = load_model(self.folder)
        if settings.method == "lora":
            self.model = add_lora(self.model, r=settings.lora_r, alpha=settings.lora_alpha,
                                  dropout=settings.lora_dropout, target_modules=settings.lora_target_modules,
                                  seed=settings.seed)
        if settings.gradient_checkpointing:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if settings.method == "lora":
                self.model.enable_input_require_grads()
        self.model.train()

    def ce_objective(self, settings: TrainSettings):
        chunk = settings.loss_chunk_tokens

        def objective(model, batch):
            return token_loss_sum(model, batch, chunk, self.varlen)

        return objective

    def evaluate(self, settings: TrainSettings, renderer: Renderer, prepared: Prepared) -> EvalResult:
        return evaluate(self.model, self.tokenizer, renderer, prepared.evaluation, prepared.eval_rows,
                        batch_size=settings.batch_size, packing=settings.packing, chunk=settings.loss_chunk_tokens,
                        varlen=self.varlen, generate=settings.eval_generate,
                        max_new_tokens=settings.eval_max_new_tokens)

    def run(self, settings, prepared: Prepared, objective, on_progress: Progress | None,
            renderer: Renderer | None = None) -> FinetuneResult:
        renderer = renderer or self.renderer(settings)
        if self.model is None:
            self.load(settings)
        out = Path(settings.out)
        before = self._eval_before(settings, renderer, prepared, out, on_progress)
        plan = plan_steps(len(prepared.train_rows), batch_size=settings.batch_size, grad_accum=settings.grad_accum,
                          processes=self.accelerator.num_processes, epochs=settings.epochs,
                          max_steps=settings.max_steps, seed=settings.seed)
        outcome = train(self.model, prepared.train_rows, plan, objective, settings, accelerator=self.accelerator,
                        pad_id=self.tokenizer.pad_token_id, fingerprint=fingerprint(settings, prepared, self.folder),
                        out=out, varlen=self.varlen,
                        on_step=(lambda info: on_progress("step", info)) if on_progress else None)
        after = self._eval(settings, renderer, prepared, on_progress, "after")
        return self._finish(settings, prepared, outcome, before, after, on_progress)

    def _eval(self, settings, renderer, prepared, on_progress, when: str) -> EvalResult:
        _emit(on_progress, self, "eval", {"when": when, "examples": len(prepared.eval_rows)})
        result = self.evaluate(settings, renderer, prepared)
        _emit(on_progress, self, "eval_done", {"when": when, **result.to_dict()})
        return result

    def _eval_before(self, settings, renderer, prepared, out: Path, on_progress) -> EvalResult:
        """Evaluated once per output folder: a resumed run reuses the base model's score."""
        saved = out / "eval_before.json"
        if settings.resume and saved.is_file():
            return _eval_from_dict(json.loads(saved.read_text()))
        result = self._eval(settings, renderer, prepared, on_progress, "before")
        if self.accelerator.is_main_process:
            atomic_write_text(saved, json.dumps(result.to_dict(), indent=2))
        return result

    def _finish(self, settings, prepared, outcome: TrainOutcome, before, after, on_progress) -> FinetuneResult:
        out = Path(settings.out)
        self.accelerator.wait_for_everyone()
        trainable, total = count_parameters(self.model)
        if self.accelerator.is_main_process:
            save_trained(self.model, self.tokenizer, out, method=settings.method, merge=settings.merge_lora,
                         base_folder=self.folder)
        result = FinetuneResult(out, settings.method, self.folder, outcome.steps, outcome.tokens,
                                outcome.tokens_per_s, outcome.seconds, before, after, prepared.report, trainable,
                                total, folder_size(out), outcome.history)
        if self.accelerator.is_main_process:
            from .report import write_finetune_report

            write_finetune_report(result, settings)
            _emit(on_progress, self, "saved", {"out": str(out)})
        self.accelerator.wait_for_everyone()
        return result


def fingerprint(settings: TrainSettings, prepared: Prepared, folder: str) -> str:
    """What a checkpoint must match to be resumed: the data order and every setting that shapes training."""
    fields = settings.model_dump(exclude={"resume", "out", "save_steps", "save_total_limit", "num_threads",
                                          "eval_generate", "eval_max_new_tokens", "eval_max_examples"}, mode="json")
    blob = json.dumps({"settings": fields, "rows": [r.key for r in prepared.train_rows], "model": folder},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _eval_from_dict(data: dict) -> EvalResult:
    from ...metrics import Score

    scores = {k: Score(**v) for k, v in data.get("scores", {}).items()}
    return EvalResult(data["loss"], data["perplexity"], data["tokens"], data["examples"], scores)


def result_dict(result: FinetuneResult) -> dict[str, Any]:
    data = result.summary()
    data["history"] = result.history
    return json.loads(json.dumps(data, default=str))


