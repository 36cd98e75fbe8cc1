"""Run mergekit itself on the same configs, for equivalence checks (the slow test and bench/merge_vs_mergekit.py).

mergekit is installed from the package registry into a throwaway virtual environment of its own (with the
project's torch constraint), never imported into llmopt's environment and never copied.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

MERGEKIT_VERSION = "0.1.5"

# Runs inside mergekit's environment: one interpreter start for many merges (mergekit's import takes seconds).
_DRIVER = r"""
import json, sys, time, yaml
from mergekit.config import MergeConfiguration
from mergekit.merge import MergeOptions, run_merge
for job in json.loads(sys.argv[1]):
    config = MergeConfiguration.model_validate(yaml.safe_load(open(job["config"])))
    options = MergeOptions(random_seed=job.get("seed"), copy_tokenizer=True, write_model_card=False, quiet=True)
    started = time.perf_counter()
    run_merge(config, job["out"], options=options)
    print(json.dumps({"config": job["config"], "seconds": time.perf_counter() - started}), flush=True)
"""


def ensure_mergekit(venv: Path, constraints: Path | None = None, version: str = MERGEKIT_VERSION) -> Path:
    """The python of a virtual environment with mergekit installed (created on first use, then reused).
    Raises RuntimeError with pip's last words when it cannot be installed (offline, no wheel)."""
    venv = Path(venv)
    python = venv / "bin" / "python"
    marker = venv / f".mergekit-{version}-ok"
    if marker.is_file():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install at a time; the others reuse it
        if marker.is_file():
            return python
        _run([sys.executable, "-m", "venv", str(venv)], "create a virtual environment")
        pip = [str(python), "-m", "pip", "install", "-q", f"mergekit=={version}"]
        _run(pip + (["-c", str(constraints)] if constraints else []), f"install mergekit {version}")
        marker.write_text(version)
    return python


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"could not {what}: {' | '.join(tail)}")


def run_mergekit(python: Path, jobs: list[dict], timeout: float = 600) -> list[dict]:
    """Merge each {config, out, seed} job with mergekit (one process); return each job's seconds."""
    done = subprocess.run([str(python), "-c", _DRIVER, json.dumps(jobs)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"mergekit failed: {done.stderr.strip()[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


_MOE_DRIVER = r"""
import sys, yaml
from mergekit.merge import MergeOptions
from mergekit.moe.config import MoEMergeConfig
from mergekit.scripts.moe import build
config = MoEMergeConfig.model_validate(yaml.safe_load(open(sys.argv[1])))
build(config, sys.argv[2], MergeOptions(device="cpu", random_seed=0, copy_tokenizer=True, quiet=True))
"""


def run_mergekit_moe(python: Path, config: Path, out: Path, timeout: float = 600) -> None:
    """Assemble a mixture of experts with mergekit-moe (its `build`, on the CPU) from a config file into out."""
    done = subprocess.run([str(python), "-c", _MOE_DRIVER, str(config), str(out)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"mergekit-moe failed: {done.stderr.strip()[-2000:]}")


def load_tensors(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors model folder."""
    from safetensors.torch import load_file

    tensors: dict[str, torch.Tensor] = {}
    for file in sorted(Path(folder).glob("*.safetensors")):
        tensors.update(load_file(file))
    return tensors


def compare(ours: Path, theirs: Path, tied: bool = False) -> dict:
    """Max absolute difference per tensor between two model folders (names compared, tied heads resolved:
    mergekit writes lm_head.weight for tied-embedding models, llmopt keeps them tied)."""
    a, b = load_tensors(ours), load_tensors(theirs)
    if tied and "lm_head.weight" in b and "lm_head.weight" not in a:
        a["lm_head.weight"] = a["model.embed_tokens.weight"]  # what transformers ties it to
    diffs = {name: (a[name].double() - b[name].double()).abs().max().item()
             for name in a if name in b and a[name].shape == b[name].shape}
    return {"max_abs_diff": max(diffs.values(), default=float("inf")), "worst": max(diffs, key=diffs.get, default=None),
            "compared": len(diffs), "only_ours": sorted(set(a) - set(b)), "only_theirs": sorted(set(b) - set(a)),
            "shape_mismatch": sorted(n for n in a if n in b and a[n].shape != b[n].shape)}
