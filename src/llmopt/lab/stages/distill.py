"""Lab stage `distill`: the lab's model (or the reading model the finetune stage left) teaches a student made of
every other of its layers (depth pruning, initialised from its weights), by forward KL on its top-k next-token
distributions mixed with the cross-entropy on the gold answers. The report gives what users check: parameters,
size on disk, prefill and decode speed, the task score of teacher and student with CIs, and the share of the
teacher's score the student keeps. Quick mode: a few steps on a small split.
"""

from __future__ import annotations

from ...report import percent, seconds, usd_per_1k
from ...report.format import count, megabytes, score, times
from ..registry import LabContext, LadderRow, StageResult, Table, stage


def teacher_spec(ctx: LabContext) -> tuple[str, str]:
    """(teacher spec, what it is): the fine-tuned reading model when the finetune stage ran, else the base."""
    tuned = ctx.shared.get("finetuned", {}).get("reading")
    if tuned:
        return f"hf:{tuned['model']}", "the LoRA-tuned reading model (finetune stage)"
    from .finetune import hf_spec

    return hf_spec(ctx.model), "the base model"


def settings(ctx: LabContext, teacher: str, task) -> dict:
    size = {"max_steps": 2, "batch_size": 4, "eval_generate": 4, "eval_max_examples": 4, "speed_prompt_tokens": 64,
            "speed_repeats": 1} if ctx.quick else \
        {"epochs": 2.0, "batch_size": 8, "eval_generate": 40, "speed_prompt_tokens": 256, "speed_repeats": 2}
    return {"teacher": teacher, "student_from_teacher": "layers=every:2", "data": str(task.train),
            "eval": str(task.eval), "loss": "fkl", "top_k": 32, "ce_weight": 0.5, "temperature": 1.0,
            "method": "full", "learning_rate": 1e-4, "out": str(ctx.out_dir / "distill" / "student"),
            "save_steps": 0, "eval_max_new_tokens": task.max_tokens, **size}


def card_row(card) -> list:
    return [card.role.replace("_", " "), card.model_id, count(card.params), megabytes(card.size_bytes),
            _rate(card.prefill_tokens_per_s), _rate(card.decode_tokens_per_s), score(card.scores.get("f1")),
            seconds(card.mean_latency_s), usd_per_1k(card.cost_usd_per_question)]


def _rate(tokens_per_s: float | None) -> float | None:
    return None if tokens_per_s is None else round(tokens_per_s, 1)


@stage("distill", order=70, budget_s=1800,
       description="depth-pruned student (every other layer) distilled with forward KL: quality kept, size, speed")
def run(ctx: LabContext) -> StageResult:
    from ...train.distill import distill
    from ...train.finetune.tasks import build_tasks
    from .finetune import training_progress

    task = build_tasks(ctx.out_dir / "distill" / "data", ("reading",), ctx.quick)["reading"]
    teacher, about = teacher_spec(ctx)
    result = distill(settings(ctx, teacher, task), on_progress=training_progress(ctx, "distill"))
    summary = result.summary()
    table = Table(["model", "id", "parameters", "size", "prefill tok/s", "decode tok/s", "F1 (95% CI)", "latency",
                   "cost"], [card_row(c) for c in (result.teacher, result.student_before, result.student)],
                  f"Teacher: {about}. Same held-out reading questions, greedy, hf engine.")
    kept = Table(["", "value"], [["share of the teacher's F1 kept", percent(summary["kept_f1"])],
                                 ["size, share of the teacher's", percent(summary["size_ratio"])],
                                 ["decode speed-up", times(summary["decode_speedup"])],
                                 ["prefill speed-up", times(summary["prefill_speedup"])],
                                 ["training steps", result.training.steps],
                                 ["training tok/s", round(result.training.tokens_per_s, 1)]])
    ladder = []
    for rung, card in (("distillation teacher", result.teacher), ("distilled student", result.student)):
        f1 = card.scores.get("f1")
        if f1:
            ladder.append(LadderRow(rung, f"reading: {card.model_id}", "f1", f1.value, f1.ci_low, f1.ci_high,
                                    card.mean_latency_s, card.cost_usd_per_question, f1.n))
    text = (f"{about} distilled into {result.student.params:,} parameters (of {result.teacher.params:,}) by forward KL "
            f"on its top-32 distributions mixed 50/50 with the gold cross-entropy; the student keeps "
            f"{percent(summary['kept_f1'])} of the teacher's F1 at {percent(summary['size_ratio'])} of its size. "
            f"Full report: distill/student/report/report.html.")
    return StageResult(text, [table, kept], [], ladder, metrics={k: summary[k] for k in
                                                                 ("kept_f1", "size_ratio", "decode_speedup")})

