"""`llmopt ingest`, `llmopt search` and `llmopt index` as a user runs them (hash embedder: fast)."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def run(*args):
    return subprocess.run([sys.executable, "-m", "llmopt.cli.main", *args], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=600)


def test_ingest_search_info_list_remove(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plants.md").write_text("# Plants\n\nThe Tartu plant builds the Harvest-X.\n\n## Porto\n\nPorto makes sensors.")
    (docs / "bad.pdf").write_bytes(b"%PDF-1.4 broken")
    proc = run("ingest", str(docs), "--index", "cli-demo", "--embedder", "hash:64", "--json")
    assert proc.returncode == 1  # one file failed: the exit code says so
    report = json.loads(proc.stdout)
    assert report["summary"]["added"] == 1 and report["summary"]["failed"] == 1 and not report["ok"]
    assert any("corrupt or unreadable PDF" in f["reason"] for f in report["files"])

    proc = run("search", "which plant builds the Harvest-X", "--index", "cli-demo", "-k", "2", "--type", "text",
               "--json")
    data = json.loads(proc.stdout)
    first = data["results"][0]
    assert {"chunk_id", "score", "rank", "text", "source", "page", "type", "section", "bbox"} <= set(first)
    assert first["source"].endswith("plants.md") and "Tartu" in first["text"] and first["section"] == "Plants"
    assert all(r["type"] == "text" for r in data["results"])

    info = json.loads(run("index", "info", "cli-demo", "--json").stdout)
    assert info["files"] == 1 and info["embedder"] == "hash:64" and info["files_list"][0]["chunks"] == info["chunks"]
    assert run("index", "remove", "cli-demo", "--yes").returncode == 0
    missing = run("search", "x", "--index", "cli-demo")
    assert missing.returncode == 1 and missing.stdout == ""
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "no index 'cli-demo'" in lines[0] and "llmopt ingest PATH --index cli-demo" in lines[0]


def test_odd_file_names_are_reported_not_crashed_on(tmp_path):
    """Regression: a file name that is not UTF-8 made `--json` crash while printing the report."""
    docs = tmp_path / "docs"
    (docs / "[red]").mkdir(parents=True)  # a folder name that looks like console markup
    (docs / "[red]" / "ok.md").write_text("# Ok\n\nFine.")
    (docs / os.fsdecode(b"caf\xe9.md")).write_text("# Latin-1 name")
    (docs / "[red]" / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    proc = run("ingest", str(docs), "--index", str(tmp_path / "idx"), "--embedder", "hash:64", "--json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    reasons = {os.path.basename(f["path"]): f["reason"] for f in report["files"]}
    assert report["summary"] == {"added": 1, "updated": 0, "unchanged": 0, "removed": 0, "skipped": 0, "failed": 2}
    assert "not valid UTF-8; rename it" in reasons["caf\\xe9.md"]
    proc = run("ingest", str(docs), "--index", str(tmp_path / "idx"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"failed {docs}/[red]/broken.pdf: corrupt or unreadable PDF" in " ".join(proc.stderr.split())
