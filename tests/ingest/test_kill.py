"""Kill test: `llmopt ingest` in a subprocess is SIGKILLed in the middle of writing a changed file. Search must
never show the half-written version, and the next run must leave the index equal to a clean ingest, also when the
file was edited again before that run (then only Index.recover() can delete the half-written rows: the write path
deletes leftovers of the version it writes, and the new edit is another version)."""

import os
import shutil
import signal
import subprocess
import sys

import pytest

from llmopt.index import Index, open_index
from llmopt.ingest import IngestConfig, ingest

pytestmark = pytest.mark.integration

SETTINGS = ["--embedder", "hash:64", "--chunk-tokens", "32", "--overlap-tokens", "4"]
CONFIG = IngestConfig(chunk_tokens=32, overlap_tokens=4)


def big(version: str, n: int = 300) -> str:
    """n paragraphs of ~20 words: 300+ chunks at 32 tokens, more than one insert batch."""
    return "\n\n".join(f"{version} paragraph {i} " + " ".join(f"{version}word{(i * 7 + j) % 97}" for j in range(18))
                       for i in range(n))


def cli(*args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "llmopt.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=600)


def snapshot(spec):
    with open_index(spec, recover=False) as idx:
        return sorted((r["chunk_id"], r["source"], r["type"], r["page"], r["text"]) for r in idx.store.query_all())


def test_sigkill_mid_file_then_rerun_equals_a_clean_ingest(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nUnchanged first file.")
    (docs / "big.md").write_text(big("old"))
    (docs / "c.md").write_text("# C\n\nUnchanged last file.")
    index = str(tmp_path / "idx")
    assert ingest([docs], index, embedder="hash:64", config=CONFIG).ok

    (docs / "big.md").write_text(big("new"))  # changed: its new version replaces the old one
    (docs / "new.md").write_text("# New\n\nA file added before the crash.")
    killed = cli("ingest", str(docs), "--index", index, *SETTINGS, env_extra={"LLMOPT_FAILPOINT": "mid_insert:1"})
    assert killed.returncode == -signal.SIGKILL

    with open_index(index, recover=False) as idx:  # look at the wreckage before anything cleans it up
        committed = idx.manifest.get(str(docs / "big.md")).version
        pending = [v for v, source, state in idx.manifest.dirty() if state == "pending"]
        assert len(pending) == 1 and pending[0] != committed
        assert idx.store.count(f'version == "{pending[0]}"') > 0  # half of the new version is in Milvus
        hits = idx.search("new paragraph newword5 newword12", k=50)
        assert hits and all(h.chunk.text.startswith(("old", "#")) for h in hits if h.chunk.source.endswith("big.md"))
        assert all(h.chunk.metadata["version"] != pending[0] for h in hits)
        assert not any("newword" in h.chunk.text for h in hits)
        assert idx.manifest.get(str(docs / "new.md")) is None

    (docs / "big.md").write_text(big("newer"))  # edited again before the next run: yet another version
    unrecovered = str(tmp_path / "unrecovered")
    shutil.copytree(index, unrecovered)  # the same wreckage, for the control below

    report = ingest([docs], index, config=CONFIG)  # the next run, in this process: the killed one is gone
    assert report.ok and report.recovered == 1 and report.count("updated") == 1 and report.count("added") == 1
    clean = str(tmp_path / "clean")
    assert ingest([docs], clean, embedder="hash:64", config=CONFIG).ok
    assert snapshot(index) == snapshot(clean)
    with open_index(index) as idx:
        assert idx.manifest.dirty() == [] and idx.info()["rows_in_store"] == idx.info()["chunks"]
        assert not idx.store.count(f'version == "{pending[0]}"')

    # control: without recover()'s purge the same run leaves the half-written rows, so the checks above can fail
    monkeypatch.setattr(Index, "recover", lambda self: self.manifest.dirty())
    assert ingest([docs], unrecovered, config=CONFIG).ok
    with open_index(unrecovered, recover=False) as idx:
        assert idx.store.count(f'version == "{pending[0]}"') > 0
    assert snapshot(unrecovered) != snapshot(clean)
