"""`llmopt distill`: a smaller student learns a teacher's skill; the report says how much of the teacher's score it
keeps, at what size and speed. Flags come from DistillConfig (`--config run.yaml` sets any of them)."""

from __future__ import annotations

import typer

from .common import emit_json, err, fmt, out, table
from .finetune import StepProgress, is_main_process, options
from .options import config_command


class DistillProgress(StepProgress):
    def __call__(self, event: str, info: dict) -> None:
        if event in ("teacher_answers", "teacher_topk"):
            what = "teacher answers" if event == "teacher_answers" else "teacher top-k distributions"
            key = f"_{event}"
            if not hasattr(self, key):
                setattr(self, key, self.bar.add_task(what, total=info["total"]))
            self.bar.update(getattr(self, key), completed=info["done"])
        elif event == "scoring":
            err.print(f"scoring the {info['model'].replace('_', ' ')} on {info['examples']} questions…", highlight=False)
        else:
            super().__call__(event, info)


def render_result(result) -> None:
    rows = []
    for card in (result.teacher, result.student_before, result.student):
        f1 = card.scores.get("f1")
        rows.append((card.role.replace("_", " "), card.model_id, card.params, card.size_bytes,
                     card.prefill_tokens_per_s, card.decode_tokens_per_s,
                     f"{f1.value:.3f} [{f1.ci_low:.3f}, {f1.ci_high:.3f}]" if f1 else None))
    out.print(table("Distillation", ["model", "id", "params", "bytes", "prefill tok/s", "decode tok/s", "F1 (95% CI)"],
                    rows))
    summary = result.summary()
    out.print(f"student keeps {fmt(summary['kept_f1'])} of the teacher's F1 at {fmt(summary['size_ratio'])}x its size, "
              f"{fmt(summary['decode_speedup'])}x its decode speed · model: hf:{result.out} · "
              f"report: {result.out / 'report' / 'report.html'}", highlight=False)


def _run(config, json_out: bool) -> None:
    from ..train.distill import distill

    with DistillProgress() as bar:
        result = distill(config, on_progress=bar)
    if not is_main_process():
        return
    if json_out:
        emit_json(result.summary())
    else:
        render_result(result)


def register(app: typer.Typer) -> None:
    from ..train.distill.config import DistillConfig

    config_command(app, "distill", options(DistillConfig), _run,
                   "Distill a teacher into a smaller student (sequence-level or forward/reverse KL / JSD on the "
                   "teacher's distributions; the student may be the teacher depth-pruned) and report quality kept, "
                   "size and speed.")
