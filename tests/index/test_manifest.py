from llmopt.index.manifest import Manifest, SourceEntry


def entry(source, version, chunks=2):
    return SourceEntry(source, version, chunks=chunks, by_type={"text": chunks})


def test_commit_supersedes_atomically(tmp_path):
    m = Manifest(tmp_path / "m.sqlite")
    m.begin("a.md", "v1")
    assert m.dirty() == [("v1", "a.md", "pending")] and m.get("a.md") is None
    assert m.commit(entry("a.md", "v1")) is None
    assert m.dirty() == [] and m.get("a.md").version == "v1"
    m.begin("a.md", "v2")
    assert m.get("a.md").version == "v1"  # still v1 until v2 commits
    assert m.commit(entry("a.md", "v2", 3)) == "v1"
    assert m.get("a.md").version == "v2" and m.get("a.md").chunks == 3
    assert m.dirty() == [("v1", "a.md", "superseded")]
    m.forget(["v1"])
    assert m.dirty_versions() == []


def test_redoing_the_committed_version_uncommits_it_first(tmp_path):
    m = Manifest(tmp_path / "m.sqlite")
    m.begin("a.md", "v1")
    m.commit(entry("a.md", "v1"))
    m.begin("a.md", "v1")  # --force: its rows are about to be deleted and rewritten
    assert m.get("a.md") is None and m.dirty_versions() == ["v1"]


def test_retire_touch_and_reopen(tmp_path):
    m = Manifest(tmp_path / "m.sqlite")
    m.begin("a.md", "v1")
    m.commit(entry("a.md", "v1"))
    m.touch("a.md", 123)
    assert m.get("a.md").mtime_ns == 123
    assert m.retire("a.md") == "v1" and m.get("a.md") is None and m.dirty_versions() == ["v1"]
    assert m.retire("missing.md") is None
    m.close()
    again = Manifest(tmp_path / "m.sqlite")
    assert again.dirty() == [("v1", "a.md", "superseded")]
    assert again.committed_versions(["a.md", "b.md"]) == {}
