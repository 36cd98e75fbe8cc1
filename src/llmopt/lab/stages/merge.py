"""Lab stage `merge`: one model from two fine-tuned variants of the lab's model (reading and text-to-SQL, from the
finetune stage, or trained here when it did not run), merged with llmopt.train.merge, and evaluated on both tasks
against each parent and the base: does the merge keep both skills?

Rows: fixed recipes (linear 0.5/0.5, task arithmetic, TIES), a linear merge whose weights `llmopt merge-search`
chose (CMA-ES, scored on dev questions that are not the evaluation questions), and a mixture of experts of the two
fine-tunes (hidden-state gates from each task's training prompts). "Skills kept": each task's score as a share of
the parent fine-tuned on that task.

Quick mode: a few training steps, linear and TIES, a 3-trial search, the MoE.
"""

from __future__ import annotations

import json
from pathlib import Path

from ...paths import atomic_write_text
from ...report import bar_chart, percent
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
# the searched recipe: linear, both weights in [0, 1] (normalized); its first trial is the 0.5/0.5 linear merge
SEARCH = {"models.*.parameters.weight": [0.0, 1.0]}
SEARCH_TRIALS = {True: 3, False: 12}  # quick, full
MOE_PROMPTS = 8  # training prompts per expert for its hidden-state gate
PARENTS = {"reading": "reading fine-tune", "sql": "sql fine-tune"}


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


def dev_and_test(tasks: dict, out: Path, quick: bool) -> tuple[dict, dict]:
    """({task: dev Task}, {task: test Task}) with no question in both. Reading: new questions about the evaluation
    entities (the evaluation set is kept whole); SQL: the evaluation questions split in two halves (the demo
    database has no others that were not trained on)."""
    from dataclasses import replace

    from ...train.finetune.tasks import CITIES, STEMS, reading_rows

    dev, test = {}, {}
    for name, task in tasks.items():
        rows = task.eval_rows()
        if name == "reading":
            seen = {r["prompt"] for r in rows}
            fresh = [r for r in reading_rows(2, CITIES[20:], STEMS[8:], 4 if quick else 48) if r["prompt"] not in seen]
            dev_rows, test_rows = list({r["prompt"]: r for r in fresh}.values())[: 4 if quick else 24], rows
        else:
            dev_rows, test_rows = rows[1::2], rows[0::2]
        dev[name] = replace(task, eval=_write(out / name / "dev.jsonl", dev_rows))
        test[name] = replace(task, eval=_write(out / name / "test.jsonl", test_rows))
    return dev, test


def _write(path: Path, rows: list[dict]) -> Path:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def searched_merge(ctx: LabContext, recipe: dict, dev: dict, out: Path, trials: int):
    """The recipe with the numbers `SEARCH` names chosen by merge-search on the dev tasks; the result (best model
    in out/best-model)."""
    from ...train.merge.search import run_merge_search

    config = {"recipe": recipe, "search": SEARCH, "trials": trials, "seed": 0,
              "tasks": [{"name": n, "data": str(t.eval), "metric": t.metric, "max_tokens": t.max_tokens}
                        for n, t in dev.items()]}

    def on_event(kind: str, info: dict) -> None:
        if kind == "start":
            ctx.progress(f"merge: search trial {info['trial'] + 1}/{trials}", info["done"], trials)

    return run_merge_search(config, out, save_model=True, overwrite=True, on_event=on_event)


def moe_config(base_folder: str, tuned: dict) -> dict:
    """A mixture of the fine-tunes' MLPs over the base's attention, gated by each task's training prompts."""
    experts = []
    for name in ("reading", "sql"):
        rows = [json.loads(line) for line in Path(tuned[name]["task"].train).read_text().splitlines() if line.strip()]
        experts.append({"source_model": tuned[name]["model"],
                        "positive_prompts": [r["prompt"] for r in rows[:MOE_PROMPTS]]})
    return {"base_model": base_folder, "gate_mode": "hidden", "dtype": "float32", "experts_per_token": 2,
            "experts": experts}


def skills_kept(scores: dict[str, dict[str, float]]) -> dict[str, dict[str, float | None]]:
    """{model: {task: its score / the score of the parent fine-tuned on that task, "both": the smaller}} for every
    model but the base and the parents (None where the parent scored 0)."""
    parent = {task: scores[label][task] for task, label in PARENTS.items()}
    kept = {}
    for label, by_task in scores.items():
        if label == "base" or label in PARENTS.values():
            continue
        shares = {task: (by_task[task] / parent[task] if parent[task] > 0 else None) for task in parent}
        known = [v for v in shares.values() if v is not None]
        kept[label] = {**shares, "both": min(known) if len(known) == len(shares) else None}
    return kept


@stage("merge", order=80, budget_s=1800,
       description="merge the reading and text-to-SQL fine-tunes (linear, task arithmetic, TIES, a searched linear "
                   "merge, a mixture of experts): both skills kept?")
def run(ctx: LabContext) -> StageResult:
    from ...train.finetune.modelio import model_folder
    from ...train.merge import run_merge
    from ...train.merge.moe import run_moe
    from .finetune import evaluated

    base, tuned = variants(ctx)
    base_folder = str(model_folder(base))
    reading, sql = tuned["reading"], tuned["sql"]
    dev, tasks = dev_and_test({"reading": reading["task"], "sql": sql["task"]}, ctx.out_dir / "merge" / "splits",
                              ctx.quick)
    candidates = {"base": base, PARENTS["reading"]: f"hf:{reading['model']}", PARENTS["sql"]: f"hf:{sql['model']}"}
    methods = ("linear", "ties") if ctx.quick else tuple(METHODS)
    for done, method in enumerate(methods):
        ctx.progress(f"merge: {method}", done, len(methods))
        out = ctx.out_dir / "merge" / method
        run_merge(METHODS[method](base_folder, reading["model"], sql["model"]), out, overwrite=True)
        candidates[f"merge: {method}"] = f"hf:{out}"
    trials = SEARCH_TRIALS[ctx.quick]
    search = searched_merge(ctx, METHODS["linear"](base_folder, reading["model"], sql["model"]), dev,
                            ctx.out_dir / "merge" / "search", trials)
    weights = [m["parameters"]["weight"] for m in search.recipe["models"]]
    searched_label = f"merge: linear, searched ({weights[0]:.2f}/{weights[1]:.2f})"
    candidates[searched_label] = f"hf:{search.model_dir}"
    ctx.progress("merge: mixture of experts", 0, 1)
    run_moe(moe_config(base_folder, tuned), ctx.out_dir / "merge" / "moe", overwrite=True)
    candidates["merge: MoE (2 experts, hidden gates)"] = f"hf:{ctx.out_dir / 'merge' / 'moe'}"
    total = len(candidates) * len(tasks)
    scores = {label: {name: evaluated(ctx, f"merge: {label} on {name}", i * len(tasks) + j, total, spec, task)
                      for j, (name, task) in enumerate(tasks.items())}
              for i, (label, spec) in enumerate(candidates.items())}
    values = {label: {n: by[n].score.value for n in tasks} for label, by in scores.items()}
    kept = skills_kept(values)
    rows, ladder = [], []
    for label, by_task in scores.items():
        rows.append([label] + [score(by_task[name].score) for name in tasks])
        if label.startswith("merge"):
            for name, evaluation in by_task.items():
                s = evaluation.score
                ladder.append(LadderRow("merged", f"{name}: {label} of reading + sql fine-tunes", s.metric, s.value,
                                        s.ci_low, s.ci_high, evaluation.latency_s, evaluation.cost_usd, s.n))
    plot = bar_chart(ctx.path("plots", "merge_scores.png"), list(scores),
                     {name: [values[label][name] for label in scores] for name in tasks},
                     "Each model on both tasks", "score")
    best = max(kept, key=lambda l: sum(values[l].values()))
    start = search.start.value if search.start else None
    summary = (f"Two LoRA fine-tunes of {base} merged with llmopt.train.merge. Best merge by the sum of both task "
               f"scores: {best}. A merge keeps a skill when its score on that task is close to the parent tuned on "
               f"it. The searched merge's weights were chosen by CMA-ES in {len(search.trials)} trials on "
               f"{sum(len(t.eval_rows()) for t in dev.values())} dev questions (dev objective "
               f"{search.best.value:.3f} vs {start:.3f} for 0.5/0.5), none of them an evaluation question.")
    tables = [Table(["model"] + [f"{n} ({tasks[n].metric}, 95% CI)" for n in tasks], rows,
                    "Every model on both held-out task sets, greedy, hf engine."),
              Table(["merge"] + [f"{n} kept" for n in tasks] + ["both (the smaller)"],
                    [[label] + [percent(share[n]) for n in tasks] + [percent(share["both"])]
                     for label, share in kept.items()],
                    "Skills kept: each task's score as a share of the score of the parent fine-tuned on that task "
                    "(100% = as good as the specialist; – where the parent scored 0).")]
    return StageResult(summary, tables, [("Each model on both tasks", plot)], ladder,
                       metrics={**values, "skills kept": kept,
                                "search": {"trials": len(search.trials), "weights": weights,
                                           "dev objective": search.best.value, "dev objective at 0.5/0.5": start}})
