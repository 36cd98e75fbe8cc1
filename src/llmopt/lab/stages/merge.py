"""Lab stage `merge`: one model from two fine-tuned variants of the lab's model (reading and text-to-SQL, from the
finetune stage, or trained here when it did not run), merged with llmopt.train.merge, and evaluated on both tasks
against each parent and the base: does the merge keep both skills?

Quick mode: the two variants are trained for a few steps and merged linearly and with TIES.
"""

from __future__ import annotations

from ...report import bar_chart
from ...report.format import score
from ..registry import LabContext, LadderRow, StageResult, Table, stage

METHODS = {
    "linear": lambda base, a, b: {"merge_method": "linear", "dtype": "float32",
                                  "models": [{"model": a, "parameters": {"weight": 0.5}},
                                             {"model": b, "parameters": {"weight": 0.5}}]},
    "task_arithmetic": lambda base, a, b: {"merge_method": "task_arithmetic", "base_model": base, "dtype": "float32",
                                           "models": [{"model": a, "parameters": {"weight": 1.0}},
                                                      {"model": b, "parameters": {"weight": 1.0}}]},
    "ties": lambda base, a, b: {"merge_method": "ties", "base_model": base, "dtype": "float32",
                                "parameters": {"normalize": True},
                                "models": [{"model": a, "parameters": {"weight": 1.0, "density": 0.5}},
                                           {"model": b, "parameters": {"weight": 1.0, "density": 0.5}}]},
}


def variants(ctx: LabContext) -> tuple[str, dict]:
    """(base spec, {task: {"model": folder, "task": Task}}): the finetune stage's, or trained now."""
    from .finetune import hf_spec, tune

    base = ctx.shared.get("finetune_base") or hf_spec(ctx.model)
    tuned = dict(ctx.shared.get("finetuned", {}))
    missing = [name for name in ("reading", "sql") if name not in tuned]
    if missing:
        from ...train.finetune.tasks import build_tasks

        for name, task in build_tasks(ctx.out_dir / "merge" / "data", tuple(missing), ctx.quick).items():
            _, out = tune(ctx, task, base, stage_name="merge")
            tuned[name] = {"model": str(out), "task": task}
    return base, tuned


@stage("merge", order=80, budget_s=1200,
       description="merge the reading and text-to-SQL fine-tunes (linear, task arithmetic, TIES): both skills kept?")
def run(ctx: LabContext) -> StageResult:
    from ...train.finetune.modelio import model_folder
    from ...train.merge import run_merge
    from .finetune import evaluated

    base, tuned = variants(ctx)
    base_folder = model_folder(base)
    reading, sql = tuned["reading"], tuned["sql"]
    candidates = {"base": base, "reading fine-tune": f"hf:{reading['model']}", "sql fine-tune": f"hf:{sql['model']}"}
    methods = ("linear", "ties") if ctx.quick else tuple(METHODS)
    for done, method in enumerate(methods):
        ctx.progress(f"merge: {method}", done, len(methods))
        out = ctx.out_dir / "merge" / method
        run_merge(METHODS[method](base_folder, reading["model"], sql["model"]), out, overwrite=True)
        candidates[f"merge: {method}"] = f"hf:{out}"
    tasks = {"reading": reading["task"], "sql": sql["task"]}
    total = len(candidates) * len(tasks)
    scores = {label: {name: evaluated(ctx, f"merge: {label} on {name}", i * len(tasks) + j, total, spec, task)
                      for j, (name, task) in enumerate(tasks.items())}
              for i, (label, spec) in enumerate(candidates.items())}
    rows, ladder = [], []
    for label, by_task in scores.items():
        rows.append([label] + [score(by_task[name].score) for name in tasks])
        if label.startswith("merge"):
            for name, evaluation in by_task.items():
                s = evaluation.score
                ladder.append(LadderRow("merged", f"{name}: {label} of reading + sql fine-tunes", s.metric, s.value,
                                        s.ci_low, s.ci_high, evaluation.latency_s, evaluation.cost_usd, s.n))
    plot = bar_chart(ctx.path("plots", "merge_scores.png"), list(scores),
                     {name: [scores[label][name].score.value for label in scores] for name in tasks},
                     "Each model on both tasks", "score")
    best = max((l for l in scores if l.startswith("merge")),
               key=lambda l: sum(scores[l][n].score.value for n in tasks))
    summary = (f"Two LoRA fine-tunes of {base} merged with llmopt.train.merge. Best merge by the sum of both task "
               f"scores: {best}. A merge keeps a skill when its score on that task is close to the parent tuned on it.")
    return StageResult(summary, [Table(["model"] + [f"{n} ({tasks[n].metric}, 95% CI)" for n in tasks], rows,
                                       "Every model on both held-out task sets, greedy, hf engine.")],
                       [("Each model on both tasks", plot)], ladder,
                       metrics={label: {n: by[n].score.value for n in tasks} for label, by in scores.items()})
