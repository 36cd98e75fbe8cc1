"""Training throughput: llmopt finetune vs TRL's SFTTrainer, side by side in one run.

Same model (SmolLM2-135M-Instruct, fp32 weights), same data (Spider dev questions -> SQL, ~134 tokens per
example with the chat template; ids in bench/train_speed_ids.json), completion-only loss everywhere, 8 examples
(~1,070 tokens) per optimizer step, full fine-tuning and LoRA (r=16, alpha=32, dropout 0.05, all linear layers):

  trl_default   SFTConfig defaults (bf16 autocast, gradient checkpointing, padding to the longest example)
  trl_packed    SFTConfig(packing=True, padding_free=True), 1 pack of up to 1,024 tokens per step (~8 examples)
  llmopt        llmopt finetune, fp32 (padding-free packing, chunked loss on the answer tokens only)
  llmopt_bf16   the same with --bf16 (bfloat16 autocast, like TRL's default)
  llmopt_gc     llmopt_bf16 with --gradient-checkpointing (TRL's default memory saving), for the memory trade-off

Every configuration runs in its own process (so peak memory is its own: the process's peak RSS at the end of
training, model loading included, final save excluded); tokens/s counts real (non-padding) tokens of the measured
steps, after `--warmup` steps. Results are appended per configuration to
bench/results/train_speed.jsonl (a finished configuration is skipped when the script is run again).

    python bench/train_speed.py                          # all runners, full + lora, 6 measured steps
    python bench/train_speed.py --steps 2 --warmup 1 --runners llmopt,trl_default --methods lora   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _key, _value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false")):
    os.environ.setdefault(_key, _value)  # nothing here may reach a model hub
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
RESULTS = HERE / "results" / "train_speed.jsonl"
RUNNERS = ("trl_default", "trl_packed", "llmopt", "llmopt_bf16", "llmopt_gc")
LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(tokens: list[int], seconds: list[float], warmup: int) -> dict:
    t, s = sum(tokens[warmup:]), sum(seconds[warmup:])
    return {"tokens": t, "seconds": s, "tokens_per_s": t / s if s else 0.0, "steps_measured": len(tokens[warmup:])}


def run_llmopt(method: str, bf16: bool, data: Path, steps: int, warmup: int, folder: str,
               checkpointing: bool = False) -> dict:
    from llmopt.train.finetune import finetune

    peak = {}

    def after_training(event: str, info: dict) -> None:  # peak memory of training, before the final save
        if event == "eval" and info["when"] == "after":
            peak["mb"] = peak_mb()

    with tempfile.TemporaryDirectory() as out:
        result = finetune({"model": f"hf:{folder}", "data": str(data), "method": method, "bf16": bf16,
                           "gradient_checkpointing": checkpointing,
                           "max_steps": warmup + steps, "batch_size": 8, "out": out, "eval_generate": 0,
                           "eval_max_examples": 4, "save_steps": 0, "dedup": False, "eval_overlap": "allow",
                           "lora_r": LORA["r"], "lora_alpha": LORA["lora_alpha"], "lora_dropout": LORA["lora_dropout"],
                           "lora_target_modules": LORA["target_modules"], "learning_rate": 2e-5},
                          on_progress=after_training)
    history = result.history
    return {**measured([h["tokens"] for h in history], [h["seconds"] for h in history], warmup),
            "peak_rss_mb": peak["mb"]}


def run_trl(method: str, packed: bool, data: Path, steps: int, warmup: int, folder: str) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    rows = [json.loads(line) for line in data.read_text().splitlines()]
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}],
                                  "completion": [{"role": "assistant", "content": r["completion"]}]} for r in rows])
    tokens: list[int] = []
    stamps: list[float] = []

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

    extra = {"packing": True, "padding_free": True, "per_device_train_batch_size": 1} if packed else {}
    with tempfile.TemporaryDirectory() as out:
        config = SFTConfig(output_dir=out, use_cpu=True, max_steps=warmup + steps, save_strategy="no",
                           report_to=[], logging_steps=1, learning_rate=2e-5, **extra)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        trainer = SFTTrainer(model=model, args=config, train_dataset=dataset,
                             processing_class=AutoTokenizer.from_pretrained(folder),
                             peft_config=LoraConfig(task_type="CAUSAL_LM", **LORA) if method == "lora" else None,
                             callbacks=[Clock()])
        collate = trainer.data_collator

        def counting(features):
            batch = collate(features)
            mask = batch.get("attention_mask")
            tokens.append(int(mask.sum()) if mask is not None else int(batch["input_ids"].numel()))
            return batch

        trainer.data_collator = counting
        trainer.train()
        peak = peak_mb()
    seconds = [b - a for a, b in zip(stamps, stamps[1:])]
    return {**measured(tokens[: len(seconds)], seconds, warmup), "peak_rss_mb": peak}


def worker(args) -> None:
    from llmopt.models.hf import converted_folder

    folder = str(converted_folder(args.model))
    runner, method = args.worker
    started = time.perf_counter()
    if runner.startswith("llmopt"):
        row = run_llmopt(method, runner != "llmopt", Path(args.data), args.steps, args.warmup, folder,
                         checkpointing=runner == "llmopt_gc")
    else:
        row = run_trl(method, runner == "trl_packed", Path(args.data), args.steps, args.warmup, folder)
    row.update(runner=runner, method=method, wall_s=time.perf_counter() - started,
               model=args.model, date=time.strftime("%Y-%m-%d"), cpu_threads=os.cpu_count())
    print("RESULT " + json.dumps(row), flush=True)


def done(results: Path, key: tuple) -> bool:
    if not results.is_file():
        return False
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return any((r["runner"], r["method"], r.get("round", 0), r.get("steps")) == key for r in rows)


def report(results: Path) -> str:
    """A markdown table: mean tokens/s per configuration, peak memory, and the ratio to each TRL setting."""
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    table: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        table.setdefault((row["method"], row["runner"]), []).append(row)
    lines = ["| method | runner | tokens/s | peak RSS MB | vs trl_default | vs trl_packed | runs |", "|---|---|---|---|---|---|---|"]
    mean = lambda key: sum(r["tokens_per_s"] for r in table[key]) / len(table[key])  # noqa: E731
    for (method, runner) in sorted(table, key=lambda k: (k[0], RUNNERS.index(k[1]))):
        speed = mean((method, runner))
        ratios = [f"{speed / mean((method, ref)):.2f}x" if (method, ref) in table else "–" for ref in RUNNERS[:2]]
        peak = table[(method, runner)][-1]["peak_rss_mb"]  # the latest run's (the measurement point was refined)
        lines.append(f"| {method} | {runner} | {speed:.1f} | {peak:.0f} | {ratios[0]} | {ratios[1]} | "
                     f"{len(table[(method, runner)])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runners", default=",".join(RUNNERS))
    parser.add_argument("--methods", default="full,lora")
    parser.add_argument("--steps", type=int, default=6, help="measured optimizer steps per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="steps run but not measured")
    parser.add_argument("--rounds", type=int, default=1, help="repeat everything (interleaved) to average out noise")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--report", action="store_true", help="print the results as a markdown table and exit")
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.report:
        print(report(Path(args.out)))
        return
    from train_data import write_subset

    results = Path(args.out)
    results.parent.mkdir(parents=True, exist_ok=True)
    data = write_subset(Path(tempfile.mkdtemp()) / "train.jsonl")
    for round_ in range(args.rounds):
        for method in args.methods.split(","):
            for runner in args.runners.split(","):
                if done(results, (runner, method, round_, args.steps)):
                    continue
                print(f"[round {round_}] {runner} {method} …", file=sys.stderr, flush=True)
                proc = subprocess.run([sys.executable, __file__, "--worker", runner, method, "--data", str(data),
                                       "--steps", str(args.steps), "--warmup", str(args.warmup), "--model", args.model],
                                      capture_output=True, text=True)
                lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
                if not lines:
                    print(proc.stderr[-3000:], file=sys.stderr)
                    continue  # one failed configuration never loses the others
                row = {**json.loads(lines[-1][7:]), "round": round_, "steps": args.steps}
                with open(results, "a") as handle:
                    handle.write(json.dumps(row) + "\n")
                print(f"  {row['tokens_per_s']:.1f} tok/s, peak {row['peak_rss_mb']:.0f} MB", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
