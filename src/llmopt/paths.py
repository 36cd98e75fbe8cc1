"""Where llmopt keeps what it stores. Everything lives under LLMOPT_HOME (default ~/.llmopt)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The root folder for indexes, caches, converted models and the run log; created owner-only (0700), since
    the run log and caches may hold prompts and documents."""
    root = Path(os.environ.get("LLMOPT_HOME") or Path.home() / ".llmopt").expanduser()
    if not root.is_dir():
        root.parent.mkdir(parents=True, exist_ok=True)
        root.mkdir(mode=0o700, exist_ok=True)
    return root


def subdir(*parts: str) -> Path:
    path = home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    return subdir("models")


def indexes_dir() -> Path:
    return subdir("indexes")


def runlog_path() -> Path:
    """The SQLite run log; LLMOPT_RUNLOG overrides its location."""
    override = os.environ.get("LLMOPT_RUNLOG")
    if override:
        path = Path(override).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
    return home() / "runlog.db"


def create_private(path: Path) -> None:
    """Make `path` an owner-only (0600) file, creating it empty when missing: for files that may hold secrets
    or prompts (the run log; SQLite gives its -wal and -shm files the same mode)."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    if os.stat(path).st_mode & 0o077:
        try:  # an older file, made before llmopt created it private
            os.chmod(path, 0o600)
        except OSError:
            pass  # not ours to change (LLMOPT_RUNLOG naming someone else's file)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so that readers see either the old content or the new, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
