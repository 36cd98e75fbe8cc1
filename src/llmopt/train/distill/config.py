"""Distillation configuration (pydantic, YAML-loadable; `llmopt distill` derives its flags from it)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from ..finetune.config import DataSettings, TrainSettings


class DistillConfig(DataSettings, TrainSettings):
    """`llmopt distill`: move a teacher's skill into a smaller student."""

    teacher: str = Field(..., description="Teacher model spec. seq accepts any backend (GGUF, OpenAI endpoint); fkl/rkl/jsd need its logits (an HF model).")
    student: str | None = Field(None, description="Student model spec (an HF model sharing the teacher's tokenizer for fkl/rkl/jsd).")
    student_from_teacher: str | None = Field(None, description="Build the student by depth-pruning the teacher: layers=0,2,4-6 | layers=every:2 | layers=first:N | layers=drop:LIST.")
    loss: Literal["seq", "fkl", "rkl", "jsd"] = Field("fkl", description="seq: fine-tune on the teacher's answers; fkl/rkl: forward/reverse KL to the teacher's next-token distribution; jsd: generalized Jensen-Shannon with beta (GKD).")
    temperature: float = Field(1.0, gt=0, description="Softmax temperature of teacher and student for token-level KD (the loss is scaled by T^2).")
    beta: float = Field(0.5, ge=0, le=1, description="jsd only: mixture weight of the teacher, M = beta*teacher + (1-beta)*student; 0 is forward KL, 1 reverse KL (as in GKD).")
    ce_weight: float = Field(0.0, ge=0, le=1, description="Mix in the cross-entropy on the gold/teacher answer: loss = (1-w)*KD + w*CE.")
    top_k: int = Field(64, ge=0, description="Keep the teacher's top-k probabilities per token (plus the rest of the mass as one bucket) and cache them on disk; 0 = full distributions computed online.")
    responses: Literal["auto", "gold", "teacher"] = Field("auto", description="Which answers token-level KD runs on: the gold answer (auto, when the row has one) or the teacher's own answer.")
    seq_min_score: float | None = Field(None, ge=0, le=1, description="seq only: keep a teacher answer only when its token F1 against the row's gold reaches this value.")
    teacher_max_new_tokens: int = Field(256, ge=1, description="Most tokens the teacher writes per answer.")
    teacher_batch_size: int = Field(8, ge=1, description="Prompts per teacher call (generation and logits).")
    speed_prompt_tokens: int = Field(256, ge=16, description="Prompt length for the prefill/decode speed measurement in the report.")
    speed_repeats: int = Field(2, ge=1, description="Repeats of the speed measurement (the median is reported).")
    out: Path = Field(Path("distilled"), description="Output folder: the student (an HF folder, `--model hf:OUT`), teacher caches, checkpoints and the report.")
    method: Literal["full", "lora"] = Field("full", description="How the student trains: full (default for distillation) or lora.")

    @model_validator(mode="after")
    def _student(self) -> "DistillConfig":
        if bool(self.student) == bool(self.student_from_teacher):
            raise ValueError("give exactly one of --student SPEC or --student-from-teacher layers=...")
        return self
