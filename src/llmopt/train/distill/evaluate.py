"""A model card for the distillation report: task scores with CIs, parameters, size on disk, prefill and decode
speed. Teacher and student are measured the same way, through llmopt's own backends (every call is logged)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...metrics import Score, answer_scores
from ..finetune.data import Example
from ..finetune.modelio import folder_size
from .teacher import answer_batch


@dataclass
class ModelCard:
    role: str  # teacher | student_before | student
    spec: str
    model_id: str
    params: int | None
    size_bytes: int | None
    prefill_tokens_per_s: float | None
    decode_tokens_per_s: float | None
    mean_latency_s: float | None  # engine seconds per eval question (batched calls share their time)
    cost_usd_per_question: float | None
    scores: dict[str, Score] = field(default_factory=dict)
    predictions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["scores"] = {k: v.to_dict() for k, v in self.scores.items()}
        data.pop("predictions")
        return data


def model_size(spec: str) -> int | None:
    """Bytes of weights behind a spec: an HF folder's safetensors, a GGUF file; None for remote models."""
    from ...models.packs import PACKS, resolve_gguf
    from ...models.registry import resolve

    resolved = resolve(spec)
    if resolved.engine == "hf" and resolved.name not in PACKS:
        path = Path(resolved.name)
        return folder_size(path) if path.is_dir() else None
    if resolved.name in PACKS:
        return resolve_gguf(resolved.name).stat().st_size if resolved.engine == "llamacpp" else \
            folder_size(Path(_converted(resolved.name)))
    path = Path(resolved.name)
    return path.stat().st_size if path.is_file() else None


def _converted(pack: str) -> str:
    from ...models.hf import converted_folder

    return str(converted_folder(pack))


def parameter_count(llm) -> int | None:
    model = getattr(llm, "model", None)
    if model is not None and hasattr(model, "parameters"):
        return sum(p.numel() for p in model.parameters())
    return None


def _speed(llm, cfg) -> tuple[float | None, float | None]:
    """Median prefill and decode tokens/s; None for engines that spend no measurable time (the fake backend)."""
    from ...models.speed import measure_speed

    if llm.engine == "fake":
        return None, None
    speed = measure_speed(llm, prompt_tokens=cfg.speed_prompt_tokens, decode_tokens=32, repeats=cfg.speed_repeats)
    return speed.prefill_tokens_per_s, speed.decode_tokens_per_s


def measure_card(spec: str, role: str, examples: list[Example], renderer, cfg) -> ModelCard:
    from ...models.registry import get_model

    llm = get_model(spec, cache=False)
    try:
        prompts = [renderer.messages(e)[: len(renderer.messages(e)) - e.has_answer] for e in examples]
        gens = []
        for start in range(0, len(prompts), cfg.teacher_batch_size):
            gens += answer_batch(llm, prompts[start:start + cfg.teacher_batch_size], cfg.eval_max_new_tokens)
        texts = [g.text.strip() for g in gens]
        scores = answer_scores(texts, [e.golds for e in examples], ("em", "f1")) if examples else {}
        prefill, decode = _speed(llm, cfg)
        n = max(1, len(gens))
        return ModelCard(role, spec, llm.model_id, parameter_count(llm), model_size(spec), prefill, decode,
                         sum(g.compute_s or g.latency_s for g in gens) / n if gens else None,
                         sum(g.cost_usd for g in gens) / n if gens else None, scores, texts)
    finally:
        llm.close()
