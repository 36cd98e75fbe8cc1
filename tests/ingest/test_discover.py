"""Discovery never raises: every path that cannot be ingested becomes a failed result, and the rest are listed."""

import errno
import os
from pathlib import Path

from llmopt.ingest.config import IngestConfig
from llmopt.ingest.discover import discover


def found(paths):
    files, problems = discover(paths, IngestConfig())
    return [p.name for p in files], {os.path.basename(r.path): (r.status, r.reason) for r in problems}


def test_a_symlink_loop_is_a_failed_file_not_an_aborted_run(tmp_path):
    (tmp_path / "good.md").write_text("# Good")
    (tmp_path / "a.md").symlink_to(tmp_path / "b.md")
    (tmp_path / "b.md").symlink_to(tmp_path / "a.md")
    files, problems = found([tmp_path])
    assert files == ["good.md"]
    assert problems["a.md"] == problems["b.md"] == ("failed", "symbolic link loop; fix or remove the link")
    files, problems = found([tmp_path / "a.md"])  # named, not walked
    assert files == [] and problems["a.md"][1].startswith("symbolic link loop")


def test_a_broken_symlink_names_its_target(tmp_path):
    (tmp_path / "gone.md").symlink_to(tmp_path / "nowhere.md")
    files, problems = found([tmp_path])
    assert files == [] and problems["gone.md"][0] == "failed"
    assert problems["gone.md"][1] == f"broken symbolic link (its target {tmp_path / 'nowhere.md'} does not exist)"


def test_a_file_name_that_is_not_utf8_is_reported_printably(tmp_path):
    name = os.fsdecode(b"caf\xe9.md")  # Latin-1 bytes: a lone surrogate once decoded
    (tmp_path / name).write_text("# Cafe")
    (tmp_path / "ok.md").write_text("# Ok")
    files, problems = found([tmp_path])
    assert files == ["ok.md"]
    status, reason = problems["caf\\xe9.md"]
    assert status == "failed" and "not valid UTF-8; rename it" in reason
    for result in discover([tmp_path], IngestConfig())[1]:
        result.path.encode("utf-8")  # printable and storable


def test_an_unreadable_folder_is_reported_not_skipped_silently(tmp_path, monkeypatch):
    (tmp_path / "open").mkdir()
    (tmp_path / "open" / "a.md").write_text("# A")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "b.md").write_text("# B")
    real = os.scandir

    def scandir(path="."):  # chmod 000 does not stop root, so refuse the folder here
        if os.fspath(path).endswith("locked"):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    files, problems = found([tmp_path])
    assert files == ["a.md"] and problems["locked"] == ("failed", "cannot read folder: Permission denied")


def test_a_named_file_that_cannot_be_looked_at_is_a_failed_file(tmp_path, monkeypatch):
    (tmp_path / "ok.md").write_text("# Ok")
    hidden = tmp_path / "locked" / "x.md"
    real = Path.stat

    def stat(self, **kwargs):
        if self == hidden:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    files, problems = found([hidden, tmp_path / "ok.md", "~no-such-user-here/y.md"])
    assert files == ["ok.md"] and problems["x.md"] == ("failed", "cannot read: Permission denied")
    assert problems["y.md"] == ("failed", "no such file or folder")


def test_a_linked_folder_is_reported_as_skipped_not_dropped_silently(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.md").write_text("# A")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("# B")
    (tmp_path / "docs" / "linked").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "docs" / "loop").symlink_to(tmp_path / "docs", target_is_directory=True)
    files, problems = found([tmp_path / "docs"])
    assert files == ["b.md"]
    why = "a symbolic link to a folder is not followed (it may loop); name its target to ingest it"
    assert problems["linked"] == problems["loop"] == ("skipped", why)
    assert found([tmp_path / "docs" / "linked"])[0] == ["a.md"]  # named, it is ingested
