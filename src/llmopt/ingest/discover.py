"""Which files an ingest run looks at: named files, and supported files under named folders (recursively,
in sorted order, so runs are deterministic). A path that cannot be ingested (missing, a broken or looping
symbolic link, an unreadable folder, a name that is not UTF-8) becomes a failed result; discovery never raises."""

from __future__ import annotations

import errno
import fnmatch
import os
from pathlib import Path

from .config import IngestConfig
from .loaders import format_of, supported_extensions
from .report import FileResult


def discover(paths: list[str | Path], config: IngestConfig) -> tuple[list[Path], list[FileResult]]:
    """(files to ingest, results for paths that cannot be: missing, unsupported, excluded, unreadable)."""
    files: list[Path] = []
    problems: list[FileResult] = []
    for raw in paths:
        path = expand(raw)
        try:
            is_dir = path.is_dir()
        except OSError as exc:  # e.g. a named file inside a folder we may not read
            problems.append(FileResult(shown(path), "failed", f"cannot read: {reason(exc)}"))
            continue
        if is_dir:
            walked, skipped = _walk(path, config)
            files += walked
            problems += skipped
        elif not os.path.lexists(path):
            problems.append(FileResult(shown(path), "failed", "no such file or folder"))
        elif format_of(path) is None:
            problems.append(FileResult(shown(absolute(path)), "failed", _unsupported(path)))
        else:
            _add(path, files, problems)
    unique = list(dict.fromkeys(files))  # a file named twice (or inside a named folder) is ingested once
    reported: dict[str, FileResult] = {}
    for problem in problems:  # a file both named and walked is reported once, as the named (failed) one
        if problem.path not in reported or problem.status == "failed":
            reported[problem.path] = problem
    return unique, list(reported.values())


def _add(path: Path, files: list[Path], problems: list[FileResult]) -> None:
    """Append the file's resolved path, or a failed result saying why it has none."""
    resolved, why = resolve(path)
    if why is None and not is_utf8(str(resolved)):
        why = "its name is not valid UTF-8; rename it (e.g. `convmv -f latin1 -t utf8 --notest FILE`)"
    if why is None:
        files.append(resolved)
    else:
        problems.append(FileResult(shown(absolute(path)), "failed", why))


def resolve(path: Path) -> tuple[Path, str | None]:
    """(the real path, None), or (path, why it has none): a symbolic link loop or a broken link."""
    try:
        resolved = path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a loop this way
        return path, "symbolic link loop; fix or remove the link"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return path, "symbolic link loop; fix or remove the link"
        if path.is_symlink() and exc.errno == errno.ENOENT:
            return path, f"broken symbolic link (its target {shown(Path(os.readlink(path)))} does not exist)"
        return path, f"cannot read: {reason(exc)}"
    return resolved, None


def expand(raw: str | Path) -> Path:
    """~ and ~user expanded; a ~user that names no user stays as written (and is then not found)."""
    try:
        return Path(raw).expanduser()
    except RuntimeError:
        return Path(raw)


def absolute(path: Path) -> Path:
    """The path made absolute without following links (which may loop)."""
    return Path(os.path.abspath(path))


def shown(path: Path | str) -> str:
    """A path as text that can always be printed and stored: bytes that are not UTF-8 appear as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in a name arrive as lone surrogates
        return False
    return True


def reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _unsupported(path: Path) -> str:
    return f"unsupported file type '{shown(path.suffix or path.name)}' (supported: {', '.join(supported_extensions())})"


def _walk(root: Path, config: IngestConfig) -> tuple[list[Path], list[FileResult]]:
    files: list[Path] = []
    skipped: list[FileResult] = []

    def unreadable(exc: OSError) -> None:  # a folder we may not list: say so instead of skipping it silently
        where = Path(exc.filename) if exc.filename else root
        skipped.append(FileResult(shown(absolute(where)), "failed", f"cannot read folder: {reason(exc)}"))

    for folder, dirs, names in os.walk(root, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not _excluded(d, config))
        for name in [d for d in dirs if os.path.islink(os.path.join(folder, d))]:  # os.walk does not follow them
            skipped.append(FileResult(shown(absolute(Path(folder) / name)), "skipped", "a symbolic link to a folder "
                                      "is not followed (it may loop); name its target to ingest it"))
        for name in sorted(names):
            path = Path(folder) / name
            if _excluded(name, config):
                continue
            if format_of(path) is None:
                skipped.append(FileResult(shown(absolute(path)), "skipped", _unsupported(path)))
            else:
                _add(path, files, skipped)
    return files, skipped


def _excluded(name: str, config: IngestConfig) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in config.exclude)


def under(source: str, roots: list[Path]) -> bool:
    """Whether a source path is one of the roots or inside one of them (the scope of --prune)."""
    path = Path(source)
    return any(path == root or root in path.parents for root in roots)
