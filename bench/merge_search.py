"""Merge-search benchmark: does CMA-ES over a merge recipe's numbers beat the uniform linear merge of two skills?

Models: SmolLM2-135M-Instruct fine-tuned with LoRA (merged into the weights) on the lab's two demo tasks, exactly
as `llmopt lab` makes them (llmopt.lab.stages.finetune.tune, full-mode settings): `reading` (answer from three
documents with their exact words; token F1) and `sql` (text-to-SQL on the demo databases; execution accuracy).

Splits (llmopt.lab.stages.merge.dev_and_test): the search scores candidates on a dev split that shares no question
with the held-out split both merges are evaluated on (reading: new questions about the evaluation entities; sql:
the university questions split in halves).

Arms: `uniform` = linear 0.5/0.5 (the searched recipe's first trial), `searched` = linear with both weights in
[0, 1] chosen by `llmopt merge-search` (CMA-ES, --trials trials), and with --ties a TIES merge with weights and
densities searched. Reported: each arm's held-out score per task, the mean of the two tasks, and the searched -
uniform difference with paired bootstrap 95% CIs (llmopt.stats; for the mean, questions resampled within each
task).

Resumable: fine-tunes are trained once (their folders are reused), the searches resume from their SQLite storage,
every held-out evaluation is cached; results go to bench/results/merge_search/.

    python bench/merge_search.py                     # ~15 min on 2 cores
    python bench/merge_search.py --trials 4 --work /tmp/ms   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

for _key, _value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false")):
    os.environ.setdefault(_key, _value)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "merge_search"
LINEAR_SEARCH = {"models.*.parameters.weight": [0.0, 1.0]}
TIES_SEARCH = {"models.*.parameters.weight": [0.0, 1.0], "models.*.parameters.density": [0.1, 1.0]}


def fine_tunes(work: Path):
    """{task: (folder, Task)}: the lab's reading and sql LoRA fine-tunes, trained once."""
    from llmopt.lab.registry import LabContext
    from llmopt.lab.stages.finetune import hf_spec, tune
    from llmopt.train.finetune.tasks import build_tasks

    ctx = LabContext(out_dir=work, quick=False)
    base = hf_spec("default")
    tuned = {}
    for name, task in build_tasks(work / "data", ("reading", "sql"), quick=False).items():
        out = work / "finetune" / f"{name}-lora"
        if not (out / "finetune_result.json").is_file():
            started = time.perf_counter()
            tune(ctx, task, base)
            print(f"fine-tuned {name} in {time.perf_counter() - started:.0f} s", flush=True)
        tuned[name] = (out, task)
    return base, tuned


def search(name: str, recipe: dict, space: dict, dev: dict, out: Path, trials: int):
    from llmopt.train.merge.search import run_merge_search

    config = {"recipe": recipe, "search": space, "trials": trials, "seed": 0,
              "tasks": [{"name": n, "data": str(t.eval), "metric": t.metric, "max_tokens": t.max_tokens}
                        for n, t in dev.items()]}

    def event(kind: str, info: dict) -> None:
        if kind == "trial":
            print(f"  {name} trial {info['trial']}: {info['state']} {info.get('value')} {info['scores']} "
                  f"{ {k: round(v, 3) for k, v in info['params'].items()} }", flush=True)

    return run_merge_search(config, out, save_model=True, on_event=event)


def per_question(spec: str, task, cache: Path) -> list[float]:
    """Per-question held-out scores of a model (cached)."""
    from llmopt.metrics import METRICS
    from llmopt.train.finetune.tasks import evaluate_model, execution_accuracy

    if cache.is_file():
        return json.loads(cache.read_text())["values"]
    evaluation = evaluate_model(spec, task)
    rows = task.eval_rows()
    if task.metric == "execution_accuracy":
        values = [execution_accuracy([p], [r]).value for p, r in zip(evaluation.predictions, rows)]
    else:
        values = [METRICS[task.metric](p, [r["answer"]]) for p, r in zip(evaluation.predictions, rows)]
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"spec": spec, "values": values, "predictions": evaluation.predictions}))
    return values


def stratified_diff(treatment: dict[str, list[float]], control: dict[str, list[float]], resamples: int = 2000,
                    seed: int = 0) -> tuple[float, float, float]:
    """The difference of the two-task means, questions resampled (paired) within each task: (diff, low, high)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    diffs = {t: np.asarray(treatment[t]) - np.asarray(control[t]) for t in treatment}
    boot = np.mean([d[rng.integers(0, d.size, size=(resamples, d.size))].mean(axis=1) for d in diffs.values()],
                   axis=0)
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(np.mean([d.mean() for d in diffs.values()])), float(low), float(high)


def limit_threads(most: int) -> None:
    import torch

    setter = torch.set_num_threads
    torch.set_num_threads = lambda n: setter(max(1, min(n, most)))
    torch.set_num_threads(most)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("LLMOPT_HOME", "~/.llmopt")).expanduser()
                        / "bench" / "merge_search", help="fine-tunes, searches and cached evaluations")
    parser.add_argument("--trials", type=int, default=12, help="trials per search")
    parser.add_argument("--ties", action="store_true", help="also search a TIES merge (weights and densities)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads at most (the hf engine asks for every core; on a shared 2-core machine "
                             "one thread is several times faster, and the scores do not depend on it)")
    args = parser.parse_args()
    limit_threads(args.threads)
    from llmopt.lab.stages.merge import METHODS, dev_and_test
    from llmopt.stats import bootstrap_ci, paired_bootstrap_ci
    from llmopt.train.finetune.modelio import model_folder

    started = time.perf_counter()
    base, tuned = fine_tunes(args.work)
    base_folder = str(model_folder(base))
    dev, test = dev_and_test({n: task for n, (_, task) in tuned.items()}, args.work / "splits", quick=False)
    a, b = str(tuned["reading"][0]), str(tuned["sql"][0])
    searches = {"searched linear": search("linear", METHODS["linear"](base_folder, a, b), LINEAR_SEARCH, dev,
                                          args.work / "search-linear", args.trials)}
    if args.ties:
        searches["searched ties"] = search("ties", METHODS["ties"](base_folder, a, b), TIES_SEARCH, dev,
                                           args.work / "search-ties", args.trials)
    from llmopt.train.merge import run_merge

    uniform = args.work / "uniform-linear"
    if not (uniform / "config.json").is_file():
        run_merge(METHODS["linear"](base_folder, a, b), uniform, overwrite=True)
    arms = {"uniform linear 0.5/0.5": uniform, **{k: v.model_dir for k, v in searches.items()}}
    arms.update({"reading fine-tune": tuned["reading"][0], "sql fine-tune": tuned["sql"][0]})
    values = {arm: {n: per_question(f"hf:{folder}", task, args.work / "eval" / f"{arm}-{n}.json".replace(" ", "_"))
                    for n, task in test.items()} for arm, folder in arms.items()}
    report = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} CPUs", "trials": args.trials,
              "dev questions": {n: len(t.eval_rows()) for n, t in dev.items()},
              "test questions": {n: len(t.eval_rows()) for n, t in test.items()},
              "searches": {k: {"recipe": v.recipe, "dev objective": v.best.value,
                               "dev objective at the recipe as written": v.start.value, "trials": len(v.trials),
                               "best trial": v.best.number} for k, v in searches.items()},
              "held-out": {}, "vs uniform": {}, "seconds": None}
    for arm, by_task in values.items():
        row = {n: dict(zip(("value", "low", "high"), bootstrap_ci(v))) for n, v in by_task.items()}
        row["mean of tasks"] = sum(row[n]["value"] for n in by_task) / len(by_task)
        report["held-out"][arm] = row
    control = values["uniform linear 0.5/0.5"]
    for arm in searches:
        diff = {n: dict(zip(("diff", "low", "high"), paired_bootstrap_ci(values[arm][n], control[n]))) for n in control}
        diff["mean of tasks"] = dict(zip(("diff", "low", "high"), stratified_diff(values[arm], control)))
        report["vs uniform"][arm] = diff
    report["seconds"] = round(time.perf_counter() - started)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    for arm in searches:
        (RESULTS / f"{arm.replace(' ', '_')}.yaml").write_text(searches[arm].recipe_path.read_text()
                                                                .replace(str(args.work), "WORK"))
        trials = (args.work / f"search-{arm.split()[-1]}" / "trials.csv").read_text().replace(str(args.work), "WORK")
        (RESULTS / f"{arm.replace(' ', '_')}_trials.csv").write_text(trials)
    print(json.dumps({k: report[k] for k in ("held-out", "vs uniform", "searches")}, indent=1))


if __name__ == "__main__":
    main()
