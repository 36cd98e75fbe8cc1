"""The project's training rungs: each fine-tune, distillation, merge and merge search it names is run (or found done)
model enters the search as one more candidate (`hf:OUT`), measured like any other.

Data: a rung without its own `data` trains on the project's training pool, the QA questions held out for training
(never an evaluation or demonstration question), written to OUT/training/train.jsonl as prompt/completion rows.
Resumable: a rung whose output folder already holds its result (finetune_result.json, distill_result.json, a
merged model) is not run again; a failing rung is reported and the others still run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..paths import atomic_write_text
from ..report import Section, Table
from ..report.format import seconds

Progress = Callable[[str, int, int], None]
Log = Callable[[str], None]


def training_pool(items, out_dir: Path) -> Path:
    """The training split's questions as prompt/completion rows (`answer` is the gold the task metric reads)."""
    path = out_dir / "training" / "train.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps({"prompt": i.question, "completion": i.answers[0],
                                                "answer": i.answers[0]}, ensure_ascii=False) + "\n"
                                    for i in items))
    return path


def run_training(training, *, out_dir: Path, pool: Path | None, index: str | None, progress: Progress,
                 log: Log) -> tuple[list[str], Section]:
    """Run every rung in order (fine-tunes, then distillations, then merges, which may name their outputs);
    return the candidate model specs and the report section."""
    import time

    candidates: list[str] = []
    rows: list[list[Any]] = []
    jobs = ([("finetune", r) for r in training.finetune] + [("distill", r) for r in training.distill]
            + [("merge", r) for r in training.merge] + [("merge_search", r) for r in training.merge_search])
    for number, (kind, rung) in enumerate(jobs):
        started = time.perf_counter()
        label = f"training {number + 1}/{len(jobs)}: {kind}"
        progress(label, number, len(jobs))
        try:
            def steps(event: str, info: dict, label=label, number=number) -> None:
                if event == "step":
                    progress(f"{label}: step {info.get('step', '?')}", number, len(jobs))

            out, reused = _RUNNERS[kind](rung, pool, index, steps, out_dir / "training" / f"{kind}-{number + 1}")
            candidates.append(f"hf:{out}")
            rows.append([kind, str(out), "reused" if reused else "trained", seconds(time.perf_counter() - started),
                         ""])
            log(f"{kind} -> hf:{out}" + (" (already done)" if reused else ""))
        except Exception as exc:  # one failing rung must not lose the others
            rows.append([kind, str(getattr(rung, "out", "")), "failed", seconds(time.perf_counter() - started),
                         f"{type(exc).__name__}: {exc}"])
            log(f"{kind} failed: {type(exc).__name__}: {exc}")
    progress("training", len(jobs), len(jobs))
    text = (f"{len(candidates)} of {len(jobs)} training rungs produced a model; each enters the search as a "
            "candidate (`hf:OUT`)." + (" Rungs without their own data trained on the project's training pool "
                                        f"({pool})." if pool else ""))
    return candidates, Section(title="training: the project's training rungs", summary=text,
                               status="ok" if all(r[2] != "failed" for r in rows) else "error",
                               error=next((r[4] for r in rows if r[2] == "failed"), None),
                               tables=[Table(["rung", "model", "status", "time", "error"], rows,
                                             "Training rungs (their models are candidates in the search)")])


def _data(rung, pool: Path | None) -> Path:
    if rung.data is not None:
        return rung.data
    if pool is None:
        from ..errors import ConfigError

        raise ConfigError("this training rung has no `data` and the project has no training pool (a qa task's "
                          "questions); give the rung `data: FILE.jsonl`")
    return pool


def _finetune(rung, pool, index, on_progress, default_out) -> tuple[Path, bool]:
    from ..train.finetune import FinetuneConfig, finetune

    out = Path(rung.out)
    if (out / "finetune_result.json").is_file():
        return out, True
    values = rung.model_dump(exclude={"with_context"})
    values.update(data=_data(rung, pool), rag_index=index if rung.with_context else rung.rag_index)
    finetune(FinetuneConfig(**values), on_progress=on_progress)
    return out, False


def _distill(rung, pool, index, on_progress, default_out) -> tuple[Path, bool]:
    from ..train.distill import DistillConfig, distill

    out = Path(rung.out)
    if (out / "distill_result.json").is_file():
        return out, True
    distill(DistillConfig(**{**rung.model_dump(), "data": _data(rung, pool)}), on_progress=on_progress)
    return out, False


def _merge(rung, pool, index, on_progress, default_out) -> tuple[Path, bool]:
    from ..train.merge import run_merge

    out = default_out  # mergekit's schema has no output folder: OUT/training/merge-N
    if (out / "model.safetensors").is_file() or any(out.glob("model-*.safetensors")):
        return out, True
    run_merge(rung.model_dump(exclude_none=True, exclude={"out"}), out, overwrite=True)
    return out, False


def _merge_search(rung, pool, index, on_progress, default_out) -> tuple[Path, bool]:
    """The best merge of the search (OUT/training/merge_search-N/best-model); without tasks of its own, scored by
    token F1 on the training pool (never an evaluation question). A finished search is not run again; a killed
    one resumes."""
    from ..train.merge.search import run_merge_search

    out = default_out
    best = out / "best-model"
    if (best / "config.json").is_file() and (out / "best.yaml").is_file():
        return best, True
    values = rung.model_dump()
    if not values["tasks"]:
        if pool is None:
            from ..errors import ConfigError

            raise ConfigError("this merge_search rung has no `tasks` and the project has no training pool (a qa "
                              "task's questions); give it tasks: [{data: DEV.jsonl, metric: f1}]")
        values["tasks"] = [{"data": pool, "metric": "f1", "name": "training pool"}]

    def progress(kind: str, info: dict) -> None:
        if kind == "start":
            on_progress("step", {"step": f"search trial {info['trial'] + 1}"})

    run_merge_search(values, out, save_model=True, on_event=progress)
    return best, False


_RUNNERS = {"finetune": _finetune, "distill": _distill, "merge": _merge, "merge_search": _merge_search}
