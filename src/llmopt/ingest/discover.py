"""Which files an ingest run looks at: named files, and supported files under named folders (recursively,
in sorted order, so runs are deterministic)."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from .config import IngestConfig
from .loaders import format_of, supported_extensions
from .report import FileResult


def discover(paths: list[str | Path], config: IngestConfig) -> tuple[list[Path], list[FileResult]]:
    """(files to ingest, results for paths that cannot be: missing, unsupported, excluded)."""
    files: list[Path] = []
    problems: list[FileResult] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            problems.append(FileResult(str(path), "failed", "no such file or folder"))
        elif path.is_dir():
            walked, skipped = _walk(path, config)
            files += walked
            problems += skipped
        elif format_of(path) is None:
            problems.append(FileResult(str(path.resolve()), "failed", _unsupported(path)))
        else:
            files.append(path.resolve())
    unique = list(dict.fromkeys(files))  # a file named twice (or inside a named folder) is ingested once
    reported: dict[str, FileResult] = {}
    for problem in problems:  # a file both named and walked is reported once, as the named (failed) one
        if problem.path not in reported or problem.status == "failed":
            reported[problem.path] = problem
    return unique, list(reported.values())


def _unsupported(path: Path) -> str:
    return f"unsupported file type '{path.suffix or path.name}' (supported: {', '.join(supported_extensions())})"


def _walk(root: Path, config: IngestConfig) -> tuple[list[Path], list[FileResult]]:
    files, skipped = [], []
    for folder, dirs, names in os.walk(root, onerror=None):
        dirs[:] = sorted(d for d in dirs if not _excluded(d, config))
        for name in sorted(names):
            path = Path(folder) / name
            if _excluded(name, config):
                continue
            if format_of(path) is None:
                skipped.append(FileResult(str(path.resolve()), "skipped", _unsupported(path)))
            else:
                files.append(path.resolve())
    return files, skipped


def _excluded(name: str, config: IngestConfig) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in config.exclude)


def under(source: str, roots: list[Path]) -> bool:
    """Whether a source path is one of the roots or inside one of them (the scope of --prune)."""
    path = Path(source)
    return any(path == root or root in path.parents for root in roots)
