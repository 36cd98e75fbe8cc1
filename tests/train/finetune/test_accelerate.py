"""`accelerate launch` runs llmopt finetune unchanged (slow: subprocesses that each import torch)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from llmopt.train.finetune import finetune

ACCELERATE = str(Path(sys.executable).with_name("accelerate"))
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def launch(flags: list[str], args: list[str]) -> dict:
    proc = subprocess.run([ACCELERATE, "launch", *flags, "--num_machines", "1", "--mixed_precision", "no",
                           "--dynamo_backend", "no", "-m", "llmopt.cli.main", "finetune", *args, "--json"],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1  # one JSON object, from the main process only
    return json.loads(lines[0])


def common(tiny_model, train, evaluation, out) -> list[str]:
    return ["--model", f"hf:{tiny_model}", "--data", str(train), "--eval", str(evaluation), "--method", "full",
            "--max-steps", "2", "--learning-rate", "1e-3", "--eval-generate", "0", "--no-bf16", "--out", str(out)]


@pytest.mark.slow
def test_accelerate_launch_cpu_runs_finetune_unchanged(tiny_model, task_files, tmp_path):
    result = launch(["--cpu", "--num_processes", "2"], common(tiny_model, *task_files, tmp_path / "out"))
    assert result["steps"] == 2 and (tmp_path / "out" / "model.safetensors").is_file()


@pytest.mark.slow
def test_two_process_data_parallel_equals_one_process_with_the_whole_batch(tiny_model, task_files, tmp_path):
    # torchrun-style launch (what --multi_gpu does) gives two real CPU processes over gloo; each takes 4 examples
    two = launch(["--multi_gpu", "--num_processes", "2"],
                 common(tiny_model, *task_files, tmp_path / "ddp") + ["--batch-size", "4"])
    one = finetune({"model": f"hf:{tiny_model}", "data": str(task_files[0]), "eval": str(task_files[1]),
                    "method": "full", "max_steps": 2, "learning_rate": 1e-3, "eval_generate": 0, "batch_size": 8,
                    "bf16": False,
                    "out": str(tmp_path / "single")})
    assert two["train_tokens"] == one.train_tokens
    a, b = load_file(str(tmp_path / "ddp" / "model.safetensors")), load_file(str(tmp_path / "single" / "model.safetensors"))
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
