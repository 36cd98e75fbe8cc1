"""Distillation benchmark: does a student half the teacher's size keep its text-to-SQL skill?

Task: Spider dev (../shared/data/spider, read in place), split by database so no eval database is seen in
training; the fixed ids are in bench/distill_ids.json. Prompt: a compact schema of the tables the gold query
uses, the question; answer: the SQL. Metric: execution accuracy (llmopt.sql) with a 95% bootstrap CI.

Pairs (teacher and student share a tokenizer):
  smollm2   teacher = SmolLM2-135M-Instruct fine-tuned on the train split (full, 2 epochs);
            student = the teacher depth-pruned to every other layer (15 of 30), distilled with forward KL on the
            teacher's top-32 distributions + 0.5 x cross-entropy on the gold SQL (3 epochs)
  qwen      teacher = Qwen2.5-Coder-1.5B-Instruct; student = Qwen2.5-Coder-0.5B-Instruct with LoRA, forward KL
            (needs the optional packs: `make packs`)

Phases (teacher, student, scores) resume where they stopped: training checkpoints every 10 steps, the teacher's
distributions are cached, every score is appended to bench/results/distill.jsonl. A session stops by itself
before --session-minutes (default 55) and the next run continues:

    python bench/distill.py                   # run until done or the session ends; run again to continue
    python bench/distill.py --limit 16 --epochs 0.05 --work /tmp/d   # a quick check on a tiny subset
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _key, _value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false")):
    os.environ.setdefault(_key, _value)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
IDS = HERE / "distill_ids.json"
RESULTS = HERE / "results" / "distill.jsonl"
PAIRS = {"smollm2": {"base": "smollm2-135m", "student": None, "method": "full"},
         "qwen": {"base": "qwen2.5-coder-1.5b", "student": "hf:qwen2.5-coder-0.5b", "method": "lora"}}


class SessionOver(Exception):
    """The session's time is up; checkpoints let the next run continue."""


def write_split(work: Path, limit: int | None) -> tuple[Path, Path]:
    from train_data import SPIDER, spider_rows

    ids = json.loads(IDS.read_text())
    rows = spider_rows()
    for row in rows:
        row["db"] = str(SPIDER / "database" / row["db_id"] / f"{row['db_id']}.sqlite")
    paths = []
    for name in ("train", "eval"):
        chosen = [rows[i] for i in ids[name]][:limit]
        path = work / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in chosen))
        paths.append(path)
    return paths[0], paths[1]


def deadline_guard(deadline: float):
    def on_progress(event: str, info: dict) -> None:
        if event == "step" and time.time() > deadline:
            raise SessionOver()
    return on_progress


def train_teacher(pair: dict, train: Path, evaluation: Path, work: Path, epochs: float, deadline: float) -> str:
    if pair["student"]:  # an off-the-shelf teacher
        return f"hf:{pair['base']}"
    from llmopt.train.finetune import finetune

    out = work / "teacher"
    if not (out / "finetune_result.json").is_file():
        finetune({"model": pair["base"], "data": str(train), "eval": str(evaluation), "method": "full",
                  "epochs": 2 * epochs, "batch_size": 8, "learning_rate": 5e-5, "bf16": True, "save_steps": 10,
                  "resume": True, "eval_generate": 0, "dedup": False, "eval_overlap": "allow", "out": str(out)},
                 on_progress=deadline_guard(deadline))
    return f"hf:{out}"


def distill_student(pair: dict, teacher: str, train: Path, evaluation: Path, work: Path, epochs: float,
                    deadline: float) -> str:
    from llmopt.train.distill import distill

    out = work / "student"
    if not (out / "distill_result.json").is_file():
        student = {"student": pair["student"]} if pair["student"] else {"student_from_teacher": "layers=every:2"}
        distill({"teacher": teacher, **student, "data": str(train), "eval": str(evaluation), "loss": "fkl",
                 "top_k": 32, "ce_weight": 0.5, "method": pair["method"], "epochs": 3 * epochs, "batch_size": 8,
                 "learning_rate": 1e-4 if pair["method"] == "full" else 2e-4, "bf16": True, "save_steps": 10,
                 "resume": True, "eval_generate": 8, "speed_prompt_tokens": 512, "dedup": False,
                 "eval_overlap": "allow", "out": str(out)}, on_progress=deadline_guard(deadline))
    return f"hf:{out}"


def score(role: str, spec: str, evaluation: Path, results: Path, pair_name: str, deadline: float,
          limit: int | None) -> None:
    from llmopt.models.registry import get_model
    from llmopt.models.speed import measure_speed
    from llmopt.train.distill.evaluate import model_size, parameter_count
    from llmopt.train.finetune.tasks import Task, evaluate_model

    key = {"pair": pair_name, "role": role, "limit": limit}
    if results.is_file() and any(all(json.loads(l).get(k) == v for k, v in key.items())
                                 for l in results.read_text().splitlines() if l.strip()):
        return
    if time.time() > deadline:
        raise SessionOver()
    task = Task("spider", evaluation, evaluation, "execution_accuracy")
    result = evaluate_model(spec, task, max_tokens=128)
    llm = get_model(spec, cache=False)
    speed = measure_speed(llm, prompt_tokens=512, decode_tokens=64, repeats=2)
    row = {**key, "spec": spec, "model": llm.model_id, "params": parameter_count(llm), "size_bytes": model_size(spec),
           "execution_accuracy": result.score.to_dict(), "s_per_question": result.latency_s,
           "prefill_tokens_per_s": speed.prefill_tokens_per_s, "decode_tokens_per_s": speed.decode_tokens_per_s,
           "date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()}-core CPU"}
    llm.close()
    results.parent.mkdir(parents=True, exist_ok=True)
    with open(results, "a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(f"{role}: execution accuracy {result.score}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", choices=sorted(PAIRS), default="smollm2")
    parser.add_argument("--work", default=str(Path.home() / ".llmopt" / "bench" / "distill"),
                        help="models, checkpoints and caches (outside the repository)")
    parser.add_argument("--session-minutes", type=float, default=55)
    parser.add_argument("--limit", type=int, help="first N train and eval questions only (a quick check)")
    parser.add_argument("--epochs", type=float, default=1.0, help="scale every phase's epochs (quick checks)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    deadline = time.time() + 60 * args.session_minutes
    work = Path(args.work) / args.pair
    work.mkdir(parents=True, exist_ok=True)
    train, evaluation = write_split(work, args.limit)
    pair, results = PAIRS[args.pair], Path(args.out)
    try:
        teacher = train_teacher(pair, train, evaluation, work, args.epochs, deadline)
        student = distill_student(pair, teacher, train, evaluation, work, args.epochs, deadline)
        base = f"hf:{pair['base']}" if not pair["student"] else pair["student"]
        for role, spec in (("base", base), ("teacher", teacher), ("student", student)):
            score(role, spec, evaluation, results, args.pair, deadline, args.limit)
    except SessionOver:
        print("session time is up; run the same command again to continue", file=sys.stderr)
        sys.exit(3)
    print(f"done: {results}", file=sys.stderr)


if __name__ == "__main__":
    main()
