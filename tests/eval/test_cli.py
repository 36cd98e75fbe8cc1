"""`llmopt eval qa` and `llmopt allocate`: once as a user runs it (a subprocess: one JSON object on stdout with
--json, one-line errors on stderr), the rest in-process through the same Typer app."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from llmopt.cli.eval import _list
from llmopt.cli.main import app
from llmopt.errors import ConfigError


def invoke(*args):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def test_eval_qa_as_a_user_runs_it(dataset_file, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "llmopt.cli.main", "eval", "qa", str(dataset_file), "--models", "fake:code7",
           "--strategies", "none", "--demo-size", "2", "--out", str(out), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (entry,) = json.loads(proc.stdout)["configs"]  # stdout is exactly one JSON object
    assert entry["count"] == 12 and entry["model"] == "fake:code7"
    assert 0 < entry["acc"] < 1  # the fake always answers "code7": right on gadget 1 only (1 * 7 % 97 = 7)
    missing = subprocess.run(cmd[:5] + [str(tmp_path / "missing.jsonl")], capture_output=True, text=True,
                             env=os.environ.copy(), timeout=300)
    assert missing.returncode == 1 and missing.stdout == ""
    assert len(missing.stderr.strip().splitlines()) == 1 and "dataset not found" in missing.stderr


def test_eval_qa_resumes_and_prints_a_table(dataset_file, tmp_path):
    args = ["eval", "qa", str(dataset_file), "--models", "fake:code7", "--strategies", "none", "--demo-size", "2",
            "--out", str(tmp_path / "out")]
    invoke(*args)
    again = invoke(*args)  # a finished sweep answers nothing more
    assert "none basic fake:code7" in again.output and "Report:" in again.output
    assert len((tmp_path / "out" / "results.jsonl").read_text().splitlines()) == 12


def test_list_flags():
    assert _list("1, 5,10", int, "--k") == [1, 5, 10] and _list("4000,none", int) == [4000, None]
    with pytest.raises(ConfigError, match="--k 'one'"):
        _list("one", int, "--k")


def test_allocate(tmp_path):
    configs = [{"model": "M", "prompt": "basic", "strategy": s, "k": k, "m": m, "n": 0, "samples": 1, "count": 40,
                "acc": a, "effective_context_mean": 100 + 150 * k + 200 * m, "budget_limited": 0.0}
               for s, k, m, a in [("none", 0, 0, 0.2), ("rag", 1, 0, 0.4), ("rag", 3, 0, 0.5), ("rag", 5, 0, 0.55),
                                  ("drag", 1, 1, 0.45), ("drag", 3, 2, 0.6)]]
    (tmp_path / "summary.json").write_text(json.dumps({"dataset": "d", "metric": "acc", "configs": configs}))
    choice = json.loads(invoke("allocate", "--from", str(tmp_path), "--budget", "800", "--json").stdout)
    assert choice["best"]["predicted_effective_context"] <= 800 and choice["measured_best"]["measured"] == 0.5
    assert "Best predicted within 800 tokens" in invoke("allocate", "--from", str(tmp_path), "--budget", "800").stdout
