"""JSON Lines files: records appended one line at a time, so a crash loses at most the record being written.

    append_jsonl(path, row)       append (and fsync) one or more records; safe from several threads
    read_jsonl(path)              the records back; a last line cut short by a crash is dropped
    read_rows(path)               input data (a JSONL file or a JSON list); a bad line becomes a skipped row

A crash can leave the file ending in part of a line. The next append drops that part first (or, when it is a
whole record that only lacks its newline, ends it), so a new record is never glued onto it.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from pathlib import Path
from typing import Any, BinaryIO

from .errors import InputError

_append_lock = threading.Lock()
_BLOCK = 1 << 16


def append_jsonl(path: str | Path, *rows: dict, sync: bool = True) -> None:
    """Append `rows`, one JSON object per line; `sync` waits until they are on disk (fsync)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows).encode("utf-8")
    with _append_lock, open(path, "a+b") as handle:
        _end_last_line(handle)
        handle.write(data)
        handle.flush()
        if sync:
            os.fsync(handle.fileno())


def _end_last_line(handle: BinaryIO) -> None:
    """Make the file end with a newline: end a last record that lacks only its newline, drop a torn one."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return
    start = _last_line_start(handle, size)
    handle.seek(start)
    if _record(handle.read(size - start)) is not None:
        handle.write(b"\n")
    else:
        handle.truncate(start)


def _last_line_start(handle: BinaryIO, size: int) -> int:
    """The offset just after the last newline (0 when there is none)."""
    end = size
    while end > 0:
        begin = max(0, end - _BLOCK)
        handle.seek(begin)
        found = handle.read(end - begin).rfind(b"\n")
        if found >= 0:
            return begin + found + 1
        end = begin
    return 0


def _record(raw: bytes) -> dict | None:
    try:
        row = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return row if isinstance(row, dict) else None


def read_jsonl(path: str | Path) -> list[dict]:
    """The records of a file written by append_jsonl ([] when it does not exist yet). A last line cut short by a
    crash is dropped silently (its record is simply redone); any other line that is not a JSON object is
    skipped with a warning naming file:line, and the rest still load."""
    path = Path(path)
    if not path.is_file():
        return []
    lines = path.read_bytes().split(b"\n")
    rows = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        row = _record(raw)
        if row is not None:
            rows.append(row)
        elif number < len(lines):  # a complete line that is not a record; the last one is a torn write
            warnings.warn(f"{path}:{number} is not a JSON object; skipped (its record is redone)", stacklevel=2)
    return rows


def read_rows(path: str | Path) -> list[Any]:
    """Rows of an input file: a JSON list (or an object holding one under "data"), or one JSON value per line.
    A line that is not JSON becomes the string "FILE:LINE is not JSON (why)" in its place, so that the caller
    reports it as a skipped row and row numbers stay those of the file's records."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json" or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON ({exc}); write a JSON list or one JSON object per line") from None
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            return data["data"]
        return data if isinstance(data, list) else [data]
    rows: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                rows.append(f"{path.name}:{number} is not JSON ({exc.msg})")
    return rows

