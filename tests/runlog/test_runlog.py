import json
import os
import signal
import sqlite3
import stat
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


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmopt.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_a_corrupt_log_is_set_aside_and_the_command_runs(llmopt_home):
    """Random bytes in runlog.db used to stop every command with a traceback."""
    path = llmopt_home / "runlog.db"
    path.write_bytes(os.urandom(8192))
    done = _cli("runs", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["calls"] == 0
    assert done.stderr.count("warning") == 1 and str(path) in done.stderr and "Traceback" not in done.stderr
    kept = [p for p in llmopt_home.iterdir() if p.name.startswith("runlog.db.damaged-")]
    assert len(kept) == 1 and len(kept[0].read_bytes()) == 8192
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again = _cli("runs", "--json")
    assert again.returncode == 0 and "warning" not in again.stderr  # the new log is healthy


def test_a_locked_log_warns_once_and_calls_still_run(llmopt_home, monkeypatch, capsys):
    from llmopt.runlog import db

    RunLog(runlog_path())  # a log that exists
    holder = sqlite3.connect(runlog_path(), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a long write
    monkeypatch.setattr(db, "BUSY_TIMEOUT_S", 0.05)
    monkeypatch.setattr(db, "_logs", {})
    try:
        llm = FakeLLM(["a"])
        assert llm.generate("q1").text == "a" and llm.generate("q2").text == "a"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and str(runlog_path()) in err and "LLMOPT_RUNLOG" in err


def test_the_log_and_home_are_owner_only(tmp_path, monkeypatch):
    home = tmp_path / "fresh-home"
    monkeypatch.setenv("LLMOPT_HOME", str(home))
    FakeLLM(["x"]).generate("q")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "runlog.db").stat().st_mode) == 0o600
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in home.glob("runlog.db*"))


def test_secrets_are_not_stored():
    """`llmopt serve --api-key K` stored K in runs.command, shown by `llmopt runs --json`; a key in an endpoint
    URL reached the calls' model and error columns."""
    from llmopt.models.openai_http import OpenAIHTTP

    run = start_run("llmopt serve --index demo --api-key sekrit-K1 --port 8000")
    llm = OpenAIHTTP("m", "http://user:pa55word@127.0.0.1:9/v1?api_key=sekrit-K2", retries=0, timeout=1)
    try:
        llm.generate("q")
    except Exception:
        pass
    finish_run("error", run)
    stored = "\n".join(" ".join(map(str, row)) for table in ("runs", "calls")
                       for row in sqlite3.connect(runlog_path()).execute(f"SELECT * FROM {table}"))
    assert "--api-key ***" in stored and "openai:m@" in stored
    assert not any(secret in stored for secret in ("sekrit-K1", "sekrit-K2", "pa55word"))
    assert "sekrit" not in json.dumps(recent_runs())


def test_runs_json_masks_secrets_end_to_end():
    done = _cli("generate", "hi", "--model", "openai:m?retries=0&timeout=1@http://127.0.0.1:9/v1?key=sekrit-K3",
                "--max-tokens", "2")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    listed = _cli("runs", "--json")
    assert listed.returncode == 0 and "sekrit-K3" not in listed.stdout and "key=***" in listed.stdout


def test_a_quoted_secret_is_masked_whole():
    import pytest

    from llmopt.cli.main import main

    with pytest.raises(SystemExit):
        main(["runs", "--api-key", "sekrit with spaces"])  # an unknown option: the run is still recorded
    commands = [r["command"] for r in recent_runs()]
    assert any("--api-key '***'" in c for c in commands) and not any("sekrit" in c or "spaces" in c for c in commands)
