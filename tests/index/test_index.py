"""The index on a real Milvus Lite store (hash embedder: no weights, so these stay fast)."""

import json
import subprocess
import sys
import textwrap

import pytest

from llmopt.errors import ConfigError, InputError
from llmopt.index import IndexLockedError, open_index
from llmopt.index import failpoint as fp
from llmopt.retrieval import Retriever
from llmopt.types import Chunk

pytestmark = pytest.mark.integration

CHUNKS = [
    Chunk("", "Revenue grew to 48 million euros in 2024.", "report.pdf", page=2, type="table"),
    Chunk("", "The Tartu plant is managed by Jonas.", "report.pdf", page=3, type="text", section="Plants"),
    Chunk("", "A chart of units shipped by region.", "report.pdf", page=4, type="picture", method="ocr"),
    Chunk("", "Field notes about rain and potatoes.", "notes/nordics.md", type="text"),
]


def fresh(chunks=CHUNKS):
    return [Chunk(**{**c.__dict__, "metadata": dict(c.metadata)}) for c in chunks]


@pytest.fixture
def index(tmp_path):
    with open_index(str(tmp_path / "idx"), embedder="hash:64", create=True) as idx:
        yield idx


def rows(idx):
    return sorted((r["chunk_id"], r["version"], r["text"]) for r in idx.store.query_all())


def test_add_search_filter_and_provenance(index):
    assert isinstance(index, Retriever)
    stats = index.add_chunks(fresh())
    assert stats == {"sources": 2, "written": 2, "unchanged": 0, "chunks": 4}
    hits = index.search("who manages the Tartu plant", k=2)
    assert hits[0].chunk.text.startswith("The Tartu plant") and hits[0].rank == 1 and hits[0].score > 0
    top = hits[0].chunk
    assert top.page == 3 and top.section == "Plants" and top.content_hash and top.chunk_id
    assert {"dense_rank", "sparse_rank", "version"} <= set(top.metadata)
    assert [h.chunk.type for h in index.search("revenue chart plant", k=5, filters={"type": "table"})] == ["table"]
    assert {h.chunk.page for h in index.search("revenue chart plant", k=5, filters={"page": (3, 4)})} == {3, 4}
    assert {h.chunk.source for h in index.search("notes rain", k=5, filters={"source": "nordics.md"})} == {"notes/nordics.md"}
    assert index.search("potatoes", k=1, mode="sparse")[0].chunk.source == "notes/nordics.md"
    assert len(index.search("potatoes", k=3, mode="dense")) == 3
    with pytest.raises(ConfigError, match="unknown search mode"):
        index.search("x", mode="bm42")
    with pytest.raises(InputError, match="empty query"):
        index.search("  ")


def test_add_chunks_is_idempotent_and_replaces_per_source(index):
    index.add_chunks(fresh())
    assert index.add_chunks(fresh())["unchanged"] == 2
    old_version = index.manifest.get("notes/nordics.md").version
    index.add_chunks([Chunk("", "Only this now.", "notes/nordics.md"), Chunk("", "And this.", "notes/nordics.md")])
    assert [c.text for c in index.chunks("notes/nordics.md")] == ["Only this now.", "And this."]
    assert old_version not in {v for _, v, _ in rows(index)} and len(rows(index)) == 5
    index.add_chunks([Chunk("", "Only this now.", "notes/nordics.md")])
    info = index.info()
    assert info["chunks"] == 4 and info["by_type"] == {"picture": 1, "table": 1, "text": 2} and info["dirty"] == 0
    assert info["rows_in_store"] == 4 and info["embedder"] == "hash:64" and info["store"] == "milvus-lite"


def test_bad_chunks_are_refused(index):
    with pytest.raises(InputError, match="has no source"):
        index.add_chunks([Chunk("", "text", "")])
    with pytest.raises(InputError, match="duplicate chunk ids"):
        index.add_chunks([Chunk("a", "one", "s"), Chunk("a", "two", "s")])


def test_search_never_returns_an_uncommitted_version(index):
    index.add_chunks(fresh())
    entry = index.manifest.get("notes/nordics.md")
    index.manifest.begin("notes/nordics.md", "pending-v")  # as if a writer died between insert and commit
    from llmopt.index import bm25

    counts, length = bm25.term_counts("potatoes potatoes uncommitted")
    row = {**index.store.query_all(f'version == "{entry.version}"')[0], "pk": "x" * 32, "version": "pending-v",
           "text": "potatoes potatoes uncommitted", "dense": [0.125] * 64, "sparse": bm25.doc_vector(counts, length, 5)}
    index.store.insert([row])
    texts = [h.chunk.text for h in index.search("potatoes uncommitted", k=10)]
    assert "potatoes potatoes uncommitted" not in texts and "Field notes about rain and potatoes." in texts
    assert index.recover() == [("pending-v", "notes/nordics.md", "pending")]
    assert "pending-v" not in {v for _, v, _ in rows(index)}


@pytest.mark.parametrize("point", ["begin", "mid_insert", "before_commit", "after_commit", "after_delete_old"])
def test_a_crash_at_any_point_keeps_search_consistent_and_the_next_run_completes(tmp_path, point, monkeypatch):
    spec = str(tmp_path / "idx")
    old = [Chunk(f"c{i}", f"old text number {i}", "doc.md") for i in range(260)]  # > one insert batch
    new = [Chunk(f"c{i}", f"new text number {i}", "doc.md") for i in range(260)]
    with open_index(spec, embedder="hash:64", create=True) as idx:
        idx.add_chunks(fresh(old))
        monkeypatch.setattr(fp, "raise_at", point)
        with pytest.raises(fp.SimulatedCrash):
            idx.add_chunks(fresh(new))
        monkeypatch.setattr(fp, "raise_at", None)
        hits = idx.search("text number 7", k=20)
        expected = "new" if point.startswith("after") else "old"  # committed before the crash, or not yet
        assert hits and {h.chunk.text.split()[0] for h in hits} == {expected}
        assert {h.chunk.metadata["version"] for h in hits} == {idx.manifest.get("doc.md").version}
    with open_index(spec) as idx:  # opening cleans up; adding again completes the job
        idx.add_chunks(fresh(new))
        state = rows(idx)
    with open_index(str(tmp_path / "clean"), embedder="hash:64", create=True) as clean:
        clean.add_chunks(fresh(old))
        clean.add_chunks(fresh(new))
        assert [(c, t) for c, _, t in state] == [(c, t) for c, _, t in rows(clean)]


def test_reopen_keeps_data_and_embedder(tmp_path):
    spec = str(tmp_path / "idx")
    with open_index(spec, embedder="hash:64", create=True) as idx:
        idx.add_chunks(fresh())
    with open_index(spec) as idx:
        assert idx.config["embedder"] == "hash:64" and idx.info()["chunks"] == 4
    with pytest.raises(ConfigError, match="was built with embedder 'hash:64'"):
        open_index(spec, embedder="hash:32")
    with pytest.raises(ConfigError, match="llmopt ingest PATH --index"):
        open_index(str(tmp_path / "nothing"))


def test_a_second_process_gets_a_clear_lock_error(tmp_path):
    spec = str(tmp_path / "idx")
    with open_index(spec, embedder="hash:64", create=True) as idx:
        idx.add_chunks(fresh())
        code = f"from llmopt.index import open_index\nopen_index({spec!r})"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "IndexLockedError" in proc.stderr and "llmopt index serve" in proc.stderr
    with open_index(spec) as idx:  # closed: the lock is free again in this process
        assert idx.info()["chunks"] == 4
    assert IndexLockedError.__mro__[1].__name__ == "LlmoptError"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int, proc, seconds: float = 60) -> None:
    import socket
    import time

    deadline = time.time() + seconds
    while time.time() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else "server exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("server did not start")


def test_the_milvus_uri_path_against_a_server_process(tmp_path):
    """The scale-out code path (milvus://HOST:PORT/COLLECTION) against a real gRPC Milvus server process."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(tmp_path / "srv"),
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(port, server)
        uri = f"milvus://127.0.0.1:{port}/docs"
        with open_index(uri, embedder="hash:64", create=True) as idx:
            idx.add_chunks(fresh())
            assert idx.info()["store"] == "milvus" and idx.info()["rows_in_store"] == 4
            assert idx.search("Tartu plant manager", k=1)[0].chunk.page == 3
        with open_index(uri) as idx:  # the collection describes its embedder: another client adopts it
            assert idx.config["embedder"] == "hash:64"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_index_serve_shares_a_lite_index_between_processes(tmp_path):
    spec = str(tmp_path / "idx")
    with open_index(spec, embedder="hash:64", create=True) as idx:
        idx.add_chunks(fresh())
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "llmopt.cli.main", "index", "serve", spec, "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(port, server)
        assert json.loads((tmp_path / "idx" / "server.json").read_text())["port"] == port
        code = textwrap.dedent(f"""
            from llmopt.index import open_index
            from llmopt.types import Chunk
            with open_index({spec!r}) as idx:
                idx.add_chunks([Chunk("", "Added through the server.", "other.md")])
                print(idx.info()["store"], idx.info()["chunks"])
        """)
        for _ in range(2):  # two processes one after the other, while the server holds the folder
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr[-2000:]
            assert proc.stdout.split()[:2] == ["milvus-lite", "(served"] and proc.stdout.split()[-1] == "5"
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not (tmp_path / "idx" / "server.json").exists()
    with open_index(spec) as idx:
        assert idx.info()["chunks"] == 5


def test_two_handles_in_one_process_share_the_store(tmp_path):
    spec = str(tmp_path / "idx")
    first = open_index(spec, embedder="hash:64", create=True)
    first.add_chunks(fresh())
    second = open_index(spec)
    second.close()  # closing one handle must not stop the store under the other
    assert first.search("Tartu plant", k=1)[0].chunk.page == 3
    first.close()
    code = f"from llmopt.index import open_index\nprint(open_index({spec!r}).info()['chunks'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "4", proc.stderr[-1500:]  # all closed: another process may open it
