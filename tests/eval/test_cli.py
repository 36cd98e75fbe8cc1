"""`llmopt eval qa` and `llmopt allocate` as a user runs them: a subprocess, one JSON object on stdout with --json,
one-line errors."""

import json
import os
import subprocess
import sys

LLMOPT = [sys.executable, "-m", "llmopt.cli.main"]


def run(*args, check=True):
    proc = subprocess.run([*LLMOPT, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def test_eval_qa_json_and_resume(dataset_file, tmp_path):
    out = tmp_path / "out"
    args = ["eval", "qa", str(dataset_file), "--models", "fake:code7", "--strategies", "none", "--demo-size", "2",
            "--out", str(out), "--json"]
    summary = json.loads(run(*args).stdout)
    (entry,) = summary["configs"]
    assert entry["count"] == 12 and entry["model"] == "fake:code7" and summary["splits"]["demo"] == 2
    assert 0 < entry["acc"] < 1  # the fake always answers "code7": right on gadget 1 only (1 * 7 % 97 = 7)
    assert (out / "report.html").is_file() and len((out / "results.jsonl").read_text().splitlines()) == 12
    again = run(*args[:-1])  # a finished sweep re-runs nothing and prints the table
    assert "none basic fake:code7" in again.stdout and "Report:" in again.stdout
    assert len((out / "results.jsonl").read_text().splitlines()) == 12


def test_eval_qa_bad_input_is_one_line(tmp_path):
    proc = run("eval", "qa", str(tmp_path / "missing.jsonl"), check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "dataset not found" in proc.stderr
    proc = run("eval", "qa", str(tmp_path / "x.jsonl"), "--k", "one,two", check=False)
    assert proc.returncode == 1 and "--k" in proc.stderr


def test_allocate_json(tmp_path):
    configs = [{"model": "M", "prompt": "basic", "strategy": s, "k": k, "m": m, "n": 0, "samples": 1, "count": 40,
                "acc": a, "effective_context_mean": 100 + 150 * k + 200 * m, "budget_limited": 0.0}
               for s, k, m, a in [("none", 0, 0, 0.2), ("rag", 1, 0, 0.4), ("rag", 3, 0, 0.5), ("rag", 5, 0, 0.55),
                                  ("drag", 1, 1, 0.45), ("drag", 3, 2, 0.6)]]
    (tmp_path / "summary.json").write_text(json.dumps({"dataset": "d", "metric": "acc", "configs": configs}))
    choice = json.loads(run("allocate", "--from", str(tmp_path), "--budget", "800", "--json").stdout)
    assert choice["best"]["predicted_effective_context"] <= 800 and choice["measured_best"]["measured"] == 0.5
    text = run("allocate", "--from", str(tmp_path), "--budget", "800")
    assert "Best predicted within 800 tokens" in text.stdout
