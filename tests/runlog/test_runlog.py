import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

from llmopt.paths import runlog_path
from llmopt.runlog import RunLog, finish_run, recent_runs, start_run
from llmopt.runlog.db import MIGRATIONS
from llmopt.testing import FakeLLM


def test_migrations_bring_schema_to_latest(tmp_path):
    log = RunLog(tmp_path / "log.db")
    assert log.schema_version == len(MIGRATIONS)
    RunLog(tmp_path / "log.db")  # idempotent on an up-to-date file
    columns = {r[1] for r in sqlite3.connect(tmp_path / "log.db").execute("PRAGMA table_info(calls)")}
    assert {"run_id", "model", "engine", "prompt_hash", "prompt_tokens", "cached_prompt_tokens",
            "completion_tokens", "latency_s", "compute_s", "cost_usd", "error"} <= columns


def test_location_overridable(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMOPT_RUNLOG", str(tmp_path / "elsewhere" / "log.db"))
    FakeLLM(["x"]).generate("q")
    assert (tmp_path / "elsewhere" / "log.db").is_file()


def test_runs_group_calls():
    run = start_run("llmopt test")
    FakeLLM(["a", "b"]).generate("q1")
    finish_run("ok", run)
    row = [r for r in recent_runs() if r["run_id"] == run][0]
    assert row["calls"] == 1 and row["status"] == "ok"


def test_interrupt_leaves_log_consistent(tmp_path):
    """SIGINT a process that is writing calls in a loop: the file stays a valid database, every row whole."""
    script = textwrap.dedent("""
        import signal
        import sys
        from llmopt.testing import FakeLLM
        # a shell without job control starts background jobs with SIGINT ignored, and Python keeps an ignored
        # SIGINT: install the default handler so this process gets its KeyboardInterrupt wherever the suite runs
        signal.signal(signal.SIGINT, signal.default_int_handler)
        llm = FakeLLM(["answer"])
        print("ready", flush=True)
        while True:
            llm.generate("prompt " * 50)
    """)
    env = {**os.environ}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:  # never leave a writer spinning behind a failed test
            proc.kill()
            proc.wait()
    db = sqlite3.connect(runlog_path())
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = db.execute("SELECT prompt_tokens, completion_tokens, model FROM calls WHERE error IS NULL").fetchall()
    assert len(rows) > 5 and all(r == (100, 1, "fake:scripted") for r in rows)
