"""The distillation report: OUT/report/report.{md,html,json} and OUT/distill_result.json."""

from __future__ import annotations

import json
from pathlib import Path

from ...paths import atomic_write_text
from ...report import Section, Table, write_report
from ..finetune.report import before_after_table, loss_plot


def _score(card, metric: str) -> str | None:
    score = card.scores.get(metric) if card else None
    return str(score) if score else None


def cards_table(result) -> Table:
    rows = []
    for card in (result.teacher, result.student_before, result.student):
        rows.append([card.role, card.model_id, card.params, card.size_bytes, card.prefill_tokens_per_s,
                     card.decode_tokens_per_s, card.mean_latency_s, _score(card, "f1"), _score(card, "em")])
    return Table(["model", "id", "parameters", "bytes on disk", "prefill tok/s", "decode tok/s", "s/question",
                  "F1 (95% CI)", "EM (95% CI)"], rows,
                 "Teacher, student before distillation, distilled student: same questions, same greedy decoding.")


def kept_table(result) -> Table:
    summary = result.summary()
    rows = [["share of the teacher's F1 kept", summary["kept_f1"]], ["share of the teacher's EM kept", summary["kept_em"]],
            ["size ratio (student / teacher)", summary["size_ratio"]],
            ["parameter ratio", summary["params_ratio"]], ["decode speed-up", summary["decode_speedup"]],
            ["prefill speed-up", summary["prefill_speedup"]]]
    return Table(["", "value"], rows, "What the student keeps, and what it saves.")


def write_distill_report(result, cfg) -> dict[str, Path]:
    out = Path(result.out)
    atomic_write_text(out / "distill_result.json", json.dumps(result.summary(), indent=2, default=str))
    training = result.training
    plots = []
    plot = loss_plot(out / "report" / "loss.png", training.history)
    if plot:
        plots.append((f"Training loss ({cfg.loss}) per step", plot))
    how = {"seq": "sequence-level KD (fine-tuning on the teacher's answers)", "fkl": "forward KL",
           "rkl": "reverse KL", "jsd": f"generalized JSD (beta={cfg.beta})"}[cfg.loss]
    text = (f"{how}; temperature {cfg.temperature}; top-k {cfg.top_k or 'full'}; CE weight {cfg.ce_weight}; "
            f"{training.steps} steps, {training.train_tokens:,} tokens at {training.tokens_per_s:.1f} tok/s.")
    if result.teacher_answers_kept is not None:
        text += f" Teacher answers kept by the F1 >= {cfg.seq_min_score} filter: {result.teacher_answers_kept}."
    sections = [Section("Data", "; ".join(training.data.lines())),
                Section("Quality, size and speed", tables=[cards_table(result), kept_table(result)]),
                Section("Training", text, tables=[before_after_table(training.eval_before, training.eval_after)],
                        plots=plots)]
    return write_report(out / "report", "llmopt distill", sections, meta={"teacher": cfg.teacher, "out": str(out)})
