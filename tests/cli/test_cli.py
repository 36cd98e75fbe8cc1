"""The CLI as a user runs it: a subprocess, JSON on stdout, one-line errors on stderr."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LLMOPT = [sys.executable, "-m", "llmopt.cli.main"]


def run(*args, check=True):
    proc = subprocess.run([*LLMOPT, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def test_generate_json_with_fake_model():
    proc = run("generate", "hello there", "--model", "fake:echo", "--json")
    data = json.loads(proc.stdout)
    assert set(data) >= {"text", "model", "usage"} and data["model"] == "fake:echo"
    assert set(data["usage"]) >= {"prompt_tokens", "cached_prompt_tokens", "completion_tokens", "latency_s", "cost_usd"}


def test_unknown_model_is_one_clean_line():
    proc = run("generate", "hi", "--model", "no-such-model", check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown model 'no-such-model'" in lines[0] and "default@llamacpp" in lines[0]


def test_runs_records_cli_invocations():
    run("generate", "x", "--model", "fake:ok", "--json")
    data = json.loads(run("runs", "--json").stdout)
    assert any(r["command"].startswith("llmopt generate") and r["calls"] == 1 and r["status"] == "ok"
               for r in data["runs"])
    assert data["totals"]["calls"] >= 1


def test_models_json_lists_the_default():
    data = json.loads(run("models", "--json").stdout)
    specs = {m["spec"]: m for m in data["models"]}
    assert "default@llamacpp" in specs and "default@hf" in specs
    assert any(m["default"] for m in data["models"]) and specs["default@hf"]["size_bytes"] > 50_000_000


def test_lab_lists_stages():
    data = json.loads(run("lab", "--list", "--json").stdout)
    assert "models" in [s["name"] for s in data["stages"]]


@pytest.mark.integration
def test_generate_with_the_embedded_model():
    data = json.loads(run("generate", "What is the capital of France?", "--max-tokens", "12", "--json").stdout)
    assert data["text"].strip() and data["model"].startswith("llamacpp:smollm2-135m")
    assert data["usage"]["completion_tokens"] > 0 and data["usage"]["cost_usd"] > 0


@pytest.mark.integration
def test_lab_quick_models_stage(tmp_path):
    data = json.loads(run("lab", "--quick", "--stages", "models", "--out", str(tmp_path / "lab"), "--json").stdout)
    assert data["ok"] and data["stages"][0]["status"] == "ok"
    report = (tmp_path / "lab" / "report.md").read_text()
    assert "prefill tok/s" in report and (tmp_path / "lab" / "plots" / "models_speed.png").is_file()
    assert Path(data["report"]["html"]).is_file()
