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


def test_every_bad_path_is_a_failed_file_and_the_rest_is_ingested(tmp_path):
    """Regression: a symlink loop used to abort the whole run with a RuntimeError from discovery."""
    from tests.ingest.test_limits import bomb_docx

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nThe good file survives its neighbours.")
    (docs / "a.md").symlink_to(docs / "b.md")
    (docs / "b.md").symlink_to(docs / "a.md")
    (docs / "gone.md").symlink_to(docs / "nowhere.md")
    (docs / os.fsdecode(b"caf\xe9.md")).write_text("# Latin-1 name")
    os.mkfifo(docs / "pipe.txt")  # reading it would block the run forever
    bomb_docx(docs / "bomb.docx", mb=70)
    report = ingest([docs], str(tmp_path / "idx"), embedder="hash:64")
    got = statuses(report)
    assert got["good.md"] == ("added", "") and report.count("added") == 1
    assert got["a.md"] == got["b.md"] == ("failed", "symbolic link loop; fix or remove the link")
    assert got["gone.md"][1].startswith("broken symbolic link")
    assert "not valid UTF-8" in got["caf\\xe9.md"][1]
    assert got["pipe.txt"] == ("failed", "not a regular file (a pipe, a device or a socket); exclude it")
    assert "inflates to 70 MB of XML, over the 64 MB limit" in got["bomb.docx"][1]
    assert report.count("failed") == 6


def test_failures_while_reading_a_file_are_that_file_s(folder, tmp_path, monkeypatch):
    """Regression: a MemoryError used to escape the per-file handler (it read exc.strerror, which it lacks)."""
    from llmopt.ingest import pipeline

    real_load, real_sha = pipeline.load_document, pipeline._sha256

    def load(path, config):
        if path.name == "a.md":
            raise MemoryError()
        return real_load(path, config)

    def sha(path):
        if path.name == "c.html":
            raise PermissionError(13, "Permission denied")
        return real_sha(path)

    def vanish(event, info):  # a file deleted between discovery and reading
        if event == "start":
            (folder / "nested" / "d.md").unlink()

    monkeypatch.setattr(pipeline, "load_document", load)
    monkeypatch.setattr(pipeline, "_sha256", sha)
    good = [folder / "a.md", folder / "b.txt", folder / "c.html", folder / "nested"]
    report = ingest(good, str(tmp_path / "idx"), embedder="hash:64", callback=vanish)
    got = statuses(report)
    assert got["b.txt"] == ("added", "")
    assert got["a.md"] == ("failed", ("out of memory while ingesting it; lower the limits in the ingest config "
                                      "(max_file_mb, max_xml_mb, max_image_pixels)"))
    assert got["c.html"] == ("failed", "cannot read: Permission denied")
    assert got["d.md"] == ("failed", "cannot read: No such file or directory")


def test_a_bad_picture_costs_its_text_not_the_document(tmp_path):
    """Regression: an unreadable embedded picture used to fail the whole document it sits in."""
    from tests.ingest.test_limits import bomb_png

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (docs / "bomb.png").write_bytes(bomb_png(10_000, 9_000))  # 90 Mpx: just over the default limit
    (docs / "report.md").write_text("# Report\n\nQuarterly sensor output rose.\n\n![](broken.png)\n\n"
                                    "![Figure 2: the bomb](bomb.png)\n")
    config = IngestConfig(exclude=["*.png"])
    report = ingest([docs], str(tmp_path / "idx"), embedder="hash:64", config=config)
    result = report.files[0]
    assert report.ok and result.status == "added" and result.pictures == 2
    assert result.warnings[0].startswith("picture 1 left out: not a readable picture")
    assert result.warnings[1].startswith("picture 2 left out: picture is 10,000 x 9,000 pixels (90 Mpx), over the "
                                         "89 Mpx limit")
    with open_index(str(tmp_path / "idx")) as idx:
        texts = [c.text for c in idx.chunks()]
        assert any("Quarterly sensor output rose." in t for t in texts)
        assert any("Figure 2: the bomb" in t for t in texts)
