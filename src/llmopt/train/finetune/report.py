"""The fine-tuning report: OUT/report/report.{md,html,json} (data quality, training, before/after) and
OUT/finetune_result.json (the machine-readable summary)."""

from __future__ import annotations

import json
from pathlib import Path

from ...paths import atomic_write_text
from ...report import Section, Table, pyplot, save_plot, write_report


def before_after_table(before, after) -> Table:
    rows = [["eval loss", before.loss, after.loss], ["perplexity", before.perplexity, after.perplexity]]
    for name in sorted(set(before.scores) | set(after.scores)):
        b, a = before.scores.get(name), after.scores.get(name)
        rows.append([f"{name} (95% CI)", str(b) if b else None, str(a) if a else None])
    return Table(["metric", "before", "after"], rows,
                 f"Evaluation on {after.examples} held-out examples ({after.tokens} answer tokens).")


def loss_plot(path: Path, history: list[dict]) -> Path | None:
    if len(history) < 2:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4), dpi=110)
    ax.plot([h["step"] for h in history], [h["loss"] for h in history], lw=1.2)
    return save_plot(fig, path, xlabel="optimizer step", ylabel="training loss (per answer token)", grid=True)


def write_finetune_report(result, settings) -> dict[str, Path]:
    out = Path(result.out)
    atomic_write_text(out / "finetune_result.json", json.dumps({**result.summary(), "history": result.history},
                                                                indent=2, default=str))
    training = Table(["setting", "value"], [
        ["method", result.method + (f" (r={settings.lora_r}, alpha={settings.lora_alpha})" if result.method == "lora" else "")],
        ["base model", result.base_model], ["optimizer steps", result.steps],
        ["trainable / total parameters", f"{result.trainable_params:,} / {result.total_params:,}"],
        ["training tokens (no padding)", result.train_tokens], ["tokens/s", round(result.tokens_per_s, 1)],
        ["training seconds", round(result.train_seconds, 1)], ["weights on disk (bytes)", result.size_bytes],
    ], "What ran.")
    plots = []
    plot = loss_plot(out / "report" / "loss.png", result.history)
    if plot:
        plots.append(("Training loss per step", plot))
    sections = [
        Section("Data", "; ".join(result.data.lines())),
        Section("Training", tables=[training], plots=plots),
        Section("Before / after", tables=[before_after_table(result.eval_before, result.eval_after)]),
    ]
    return write_report(out / "report", "llmopt finetune", sections, meta={"out": str(out)})
