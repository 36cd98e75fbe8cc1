"""The ingest pipeline end to end on a real Milvus Lite index (hash embedder: fast, no weights)."""

import os
import time

import pytest

import llmopt
from llmopt.index import open_index
from llmopt.ingest import IngestConfig, ingest

pytestmark = pytest.mark.integration


@pytest.fixture
def folder(tmp_path):
    from tests.ingest.test_pdf import write_pdf

    docs = tmp_path / "docs"
    (docs / "nested").mkdir(parents=True)
    (docs / "a.md").write_text("# Alpha\n\nThe alpha plant builds drones.\n\n| k | v |\n|---|---|\n| cap | 1200 |\n")
    (docs / "b.txt").write_text("Bravo notes about rain.\n\nSecond paragraph on potatoes.")
    (docs / "c.html").write_text("<h1>Charlie</h1><p>Charlie handbook text.</p>")
    (docs / "nested" / "d.md").write_text("# Delta\n\nDelta is nested deeper.")
    (docs / "nested" / ".hidden.md").write_text("# Hidden\n\nnever read")
    (docs / "notes.xyz").write_text("unknown format")
    (docs / "empty.pdf").write_bytes(b"")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\n%garbage that is not a pdf at all")
    write_pdf(docs / "locked.pdf", pages=1, encrypt="pw")
    return docs


def statuses(report):
    return {os.path.basename(f.path): (f.status, f.reason) for f in report.files}


def test_bad_files_are_reported_and_the_rest_ingested(folder, tmp_path):
    index = str(tmp_path / "idx")
    report = ingest([folder, folder / "notes.xyz", tmp_path / "missing.md"], index, embedder="hash:64")
    got = statuses(report)
    assert not report.ok and report.count("added") == 4
    assert {k for k, (s, _) in got.items() if s == "added"} == {"a.md", "b.txt", "c.html", "d.md"}
    assert got["empty.pdf"] == ("failed", "empty file (0 bytes)")
    assert got["broken.pdf"][0] == "failed" and "corrupt or unreadable PDF" in got["broken.pdf"][1]
    assert got["locked.pdf"][0] == "failed" and "encrypted" in got["locked.pdf"][1]
    assert got["notes.xyz"][0] == "failed" and "unsupported file type '.xyz'" in got["notes.xyz"][1]
    assert got["missing.md"] == ("failed", "no such file or folder")
    assert ".hidden.md" not in got
    assert sum(f.status == "skipped" for f in report.files) == 0  # notes.xyz was named, so it counts as failed
    with open_index(index) as idx:
        assert idx.info()["files"] == 4
        hit = idx.search("which plant builds drones", k=1)[0].chunk
        assert hit.source == str(folder / "a.md") and hit.section == "Alpha"
        table = idx.search("cap", k=5, filters={"type": "table"})[0].chunk
        assert "| cap | 1200 |" in table.text


def test_incremental_runs(folder, tmp_path):
    index = str(tmp_path / "idx")
    good = [folder / "a.md", folder / "b.txt", folder / "c.html", folder / "nested"]
    first = ingest(good, index, embedder="hash:64")
    assert first.ok and first.count("added") == 4
    again = ingest(good, index)
    assert again.summary()["unchanged"] == 4 and again.chunks_written == 0 and not any(again.timings.values())
    time.sleep(0.01)
    os.utime(folder / "b.txt")  # touched, same bytes: no work
    assert ingest(good, index).summary()["unchanged"] == 4
    (folder / "b.txt").write_text("Bravo notes rewritten about sunshine.")
    changed = ingest(good, index)
    assert statuses(changed)["b.txt"][0] == "updated" and changed.count("unchanged") == 3
    with open_index(index) as idx:
        texts = [c.text for c in idx.chunks(str(folder / "b.txt"))]
        assert texts == ["Bravo notes rewritten about sunshine."]
        assert idx.info()["rows_in_store"] == idx.info()["chunks"]  # the old version's rows are gone
    (folder / "nested" / "d.md").unlink()
    pruned = ingest(good, index, prune=True)
    assert statuses(pruned)["d.md"][0] == "removed"
    with open_index(index) as idx:
        assert str(folder / "nested" / "d.md") not in {e.source for e in idx.sources()}
    assert ingest(good, index, force=True).count("updated") == 3


def test_a_failing_new_version_keeps_the_old_one(folder, tmp_path):
    index = str(tmp_path / "idx")
    ingest([folder / "b.txt"], index, embedder="hash:64")
    (folder / "b.txt").write_bytes(b"\x00\x00 now binary")
    report = ingest([folder / "b.txt"], index)
    assert not report.ok and "binary content" in report.failures[0].reason
    with open_index(index) as idx:
        assert idx.search("potatoes", k=1)[0].chunk.source == str(folder / "b.txt")


def test_size_limit_and_settings_changes(folder, tmp_path):
    index = str(tmp_path / "idx")
    report = ingest([folder / "a.md"], index, embedder="hash:64", config=IngestConfig(max_file_mb=0.00001))
    assert "over the 1e-05 MB limit; raise it with --max-file-mb" in report.failures[0].reason
    ingest([folder / "a.md"], index)
    # chunking settings are part of a file's version: changing them re-ingests unchanged files
    assert ingest([folder / "a.md"], index, config=IngestConfig(chunk_tokens=64, overlap_tokens=8)).count("updated") == 1


def test_public_api_names():
    assert callable(llmopt.ingest) and llmopt.open_index is open_index and callable(llmopt.search)
    import llmopt.ingest as package  # the package shadows the function on the parent: it must still be callable

    assert callable(package) and llmopt.ingest.IngestConfig is IngestConfig


def test_chunks_larger_than_the_embedder_reads_are_refused(folder, tmp_path):
    from llmopt.errors import ConfigError

    with pytest.raises(ConfigError, match="more than the embedder reads .* lower --chunk-tokens"):
        ingest([folder / "a.md"], str(tmp_path / "idx"), embedder="hash:64",
               config=IngestConfig(chunk_tokens=1000, overlap_tokens=10))
