"""Lab stage `finetune`: LoRA fine-tuning of the lab's model on demo tasks with disjoint train and eval splits
(reading: answer from documents with their exact words; sql: text-to-SQL, trained on one demo database and
evaluated on the other), and retrieval-augmented fine-tuning evaluated inside the RAG pipeline against DRAG with
the base model.

Base and tuned models are evaluated on the same engine (hf), with the same greedy decoding, so quality, latency
and cost compare like with like. The tuned models (LoRA merged into plain HF folders) are left for the merge
stage in ctx.shared["finetuned"]. Quick mode: the reading task only, a few steps, 8 eval questions; retrieval-
augmented fine-tuning only when an earlier stage left an index.
"""

from __future__ import annotations

from pathlib import Path

from ...report import bar_chart, percent, seconds, usd_per_1k
from ...report.format import megabytes, score
from ..registry import LabContext, LadderRow, StageResult, Table, stage

LORA = {"method": "lora", "lora_r": 16, "lora_alpha": 32, "merge_lora": True}
FULL_EPOCHS = {"reading": 1.0, "sql": 4.0, "rag": 3.0}


def hf_spec(model: str) -> str:
    """The lab model on the hf engine (the engine fine-tuned models run on)."""
    from ...models.registry import resolve

    resolved = resolve(model)
    if resolved.engine == "hf":
        return model
    return f"{resolved.name}@hf"


def train_settings(ctx: LabContext, task, out: Path, base: str, **extra) -> dict:
    size = {"max_steps": 2, "batch_size": 4, "eval_max_examples": 4} if ctx.quick else \
        {"epochs": FULL_EPOCHS.get(task.name, 1.0), "batch_size": 8, "eval_max_examples": 48}
    return {"model": base, "data": str(task.train), "eval": str(task.eval), "out": str(out), "eval_generate": 0,
            "save_steps": 0, "max_seq_len": 768, **LORA, **size, **extra}


def training_progress(ctx: LabContext, label: str):
    """A finetune / distill on_progress callback reporting ctx.progress: optimizer steps (f"{label}: training",
    step, steps), the teacher's batches (f"{label}: teacher answers", done, total) and the phase in between."""
    last = {"done": 0, "total": 1}

    def callback(event: str, info: dict) -> None:
        if event == "step":
            last.update(done=info["step"], total=info["total"])
            ctx.progress(f"{label}: training (loss {info['loss']:.3f})", info["step"], info["total"])
        elif "done" in info and "total" in info:  # the teacher's answers / top-k, in batches
            ctx.progress(f"{label}: {event.replace('_', ' ')}", info["done"], info["total"])
        elif event in ("eval", "scoring"):
            what = info.get("when") or info.get("model", "")
            ctx.progress(f"{label}: evaluating {what}".rstrip(), last["done"], last["total"])

    return callback


def tune(ctx: LabContext, task, base: str, *, stage_name: str = "finetune", **extra):
    from ...train.finetune import finetune

    out = ctx.out_dir / "finetune" / f"{task.name}-lora"
    settings = train_settings(ctx, task, out, base, **extra)
    return finetune(settings, on_progress=training_progress(ctx, f"{stage_name} {task.name}")), out


def evaluated(ctx: LabContext, label: str, done: int, total: int, spec: str, task):
    """evaluate_model(spec, task), reported as ctx.progress (one unit per model evaluated)."""
    from ...train.finetune.tasks import evaluate_model

    ctx.progress(label, done, total)
    evaluation = evaluate_model(spec, task)
    ctx.progress(label, done + 1, total)
    return evaluation


def _ladder(rung: str, config: str, metric: str, evaluation) -> LadderRow:
    s = evaluation.score
    return LadderRow(rung, config, metric, s.value, s.ci_low, s.ci_high, evaluation.latency_s, evaluation.cost_usd, s.n)


@stage("finetune", order=60, budget_s=2400,
       description="LoRA fine-tuning on demo tasks (reading, text-to-SQL) and retrieval-augmented fine-tuning: "
                   "before/after quality, size, speed, cost")
def run(ctx: LabContext) -> StageResult:
    from ...train.finetune.modelio import folder_size
    from ...train.finetune.tasks import build_tasks

    base = hf_spec(ctx.model)
    tasks = build_tasks(ctx.out_dir / "finetune" / "data", ("reading",) if ctx.quick else ("reading", "sql"), ctx.quick)
    rows, ladder, tuned, series, scores = [], [], {}, {"before": [], "after": []}, {}
    for task in tasks.values():
        result, out = tune(ctx, task, base)
        done = 2 * len(rows)
        before = evaluated(ctx, f"finetune {task.name}: evaluating {base}", done, 2 * len(tasks), base, task)
        after = evaluated(ctx, f"finetune {task.name}: evaluating the tuned model", done + 1, 2 * len(tasks),
                          f"hf:{out}", task)
        rows.append([task.name, task.metric, score(before.score), score(after.score), result.eval_loss_before,
                     result.eval_loss_after, result.steps, round(result.tokens_per_s, 1), seconds(result.train_seconds),
                     megabytes(folder_size(out / "adapter")), seconds(before.latency_s), seconds(after.latency_s)])
        scores[task.name] = {"before": str(before.score), "after": str(after.score)}
        config = f"{task.name}: lora r={LORA['lora_r']} {result.steps} steps on {base}"
        ladder += [_ladder("baseline prompt", f"{task.name}: {base}", task.metric, before),
                   _ladder("fine-tuned (LoRA)", config, task.metric, after)]
        series["before"].append(before.score.value)
        series["after"].append(after.score.value)
        tuned[task.name] = {"model": str(out), "task": task}
    ctx.shared["finetuned"] = tuned
    ctx.shared["finetune_base"] = base
    summary = (f"LoRA (r={LORA['lora_r']}) on {base}, merged into the base weights; every model answers the same "
               "held-out questions greedily on the hf engine.")
    tables = [Table(["task", "metric", "before (95% CI)", "after (95% CI)", "eval loss before", "eval loss after",
                     "steps", "train tok/s", "training time", "adapter size", "latency before", "latency after"],
                    rows, "Disjoint train and eval splits; the merged model has the base model's size and speed.")]
    plot = bar_chart(ctx.path("plots", "finetune_before_after.png"), list(tasks), series,
                     "Task metric before and after LoRA fine-tuning", "score")
    if not ctx.quick or ctx.shared.get("index"):
        rag_rows, rag_ladder = rag_finetune(ctx, base)
        ladder += rag_ladder
        tables.append(Table(["setting", "accuracy (95% CI)", "token F1", "latency", "cost"], rag_rows,
                            "The lab's demo questions inside the RAG pipeline: the base model with RAG and DRAG, "
                            "and the model fine-tuned on retrieved documents with plain RAG."))
    else:
        summary += " Retrieval-augmented fine-tuning needs the ingest stage's index; run without --quick or with ingest."
    return StageResult(summary, tables, [("Task metric before and after fine-tuning", plot)], ladder,
                       metrics=scores)


def rag_finetune(ctx: LabContext, base: str) -> tuple[list[list], list[LadderRow]]:
    """Fine-tune on corpus questions with their retrieved documents; compare with RAG and DRAG on the base."""
    from ...rag.api import Asker, close_retrievers
    from ...rag.config import AskConfig
    from ...train.finetune.tasks import rag_task
    from .ask import answer_all, demo_set, quality

    questions, pool, index = demo_set(ctx)
    k = 2 if ctx.quick else 3
    task = rag_task(ctx.out_dir / "finetune" / "data", questions)
    close_retrievers()
    result, out = tune(ctx, task, base, rag_index=str(index), rag_k=k, eval_overlap="drop")
    settings = [("RAG", base, {"strategy": "rag"}), ("DRAG", base, {"strategy": "drag", "m": 2, "demos": str(pool)}),
                ("RAG, fine-tuned with retrieval", f"hf:{out}", {"strategy": "rag"})]
    rows, ladder = [], []
    for number, (label, model, extra) in enumerate(settings):
        asker = Asker(AskConfig.make(model=model, index=str(index), k=k, max_tokens=32, **extra))
        answers = answer_all(ctx, f"finetune rag {number + 1}/{len(settings)}: {label}", asker, questions,
                             number * len(questions), len(settings) * len(questions))
        acc, token_f1, _ = quality(answers, questions)
        n = acc.n
        latency = sum(a.usage.latency_s for a in answers) / n
        cost = sum(a.usage.cost_usd for a in answers) / n
        rows.append([label, score(acc), percent(token_f1.value), seconds(latency), usd_per_1k(cost)])
        rung = "fine-tuned + RAG" if model != base else label
        ladder.append(LadderRow(rung, f"{extra['strategy']} k={k} {model}" + (f" ({result.steps} LoRA steps)" if model != base else ""),
                                "acc", acc.value, acc.ci_low, acc.ci_high, latency, cost, n))
    close_retrievers()
    return rows, ladder
