"""The reports the web page lists: folders holding a report.json written by `llmopt lab` / `llmopt eval`
(llmopt.report), found under the configured folders. Files are served only from inside a found report's folder,
only with known suffixes, and never through a link that leads outside (paths are resolved before the check)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ApiError

MAX_DEPTH = 3  # report.json in a root, its children or grandchildren (e.g. eval-out/run-1/report.json)
MAX_REPORTS = 200
SERVED_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml",
                   ".gif": "image/gif", ".webp": "image/webp", ".json": "application/json",
                   ".md": "text/markdown; charset=utf-8", ".csv": "text/csv; charset=utf-8"}


@dataclass(frozen=True)
class Report:
    id: str
    folder: Path
    label: str  # root name + path inside it: never an absolute path


DEFAULT_FOLDERS = ("lab-report", "eval-*")  # where `llmopt lab` and `llmopt eval` write by default


class Reports:
    """roots: configured folders; default_base: a folder whose lab-report and eval-* folders are added, looked up
    again on every scan (so a report written while the server runs shows up)."""

    def __init__(self, roots: list[str | Path], default_base: str | Path | None = None):
        self.roots = [Path(r).expanduser().resolve() for r in roots]
        self.default_base = Path(default_base).resolve() if default_base is not None else None

    def _roots(self) -> list[Path]:
        roots = list(self.roots)
        if self.default_base is not None:
            for pattern in DEFAULT_FOLDERS:
                roots += [p.resolve() for p in sorted(self.default_base.glob(pattern)) if p.is_dir()]
        return list(dict.fromkeys(roots))

    def scan(self) -> dict[str, Report]:
        found: dict[str, Report] = {}
        for root in self._roots():
            if root.is_dir():
                for folder in _report_folders(root):
                    report_id = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
                    rel = folder.relative_to(root)
                    found[report_id] = Report(report_id, folder, root.name + ("" if rel == Path(".") else f"/{rel}"))
                    if len(found) >= MAX_REPORTS:
                        return found
        return found

    def list(self) -> list[dict[str, Any]]:
        items = []
        for report in self.scan().values():
            data = _read_json(report.folder / "report.json") or {}
            meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
            items.append({"id": report.id, "title": str(data.get("title") or report.label), "folder": report.label,
                          "generated": meta.get("generated"), "sections": len(data.get("sections") or []),
                          "ladder_rows": len(data.get("ladder") or []),
                          "modified": (report.folder / "report.json").stat().st_mtime})
        return sorted(items, key=lambda item: -item["modified"])

    def get(self, report_id: str) -> dict[str, Any]:
        report = self._find(report_id)
        data = _read_json(report.folder / "report.json")
        if not isinstance(data, dict):
            raise ApiError(422, f"report {report_id} ({report.label}) has an unreadable report.json; re-run the "
                           "command that wrote it", code="bad_report")
        return {"id": report.id, "folder": report.label, **data}

    def file(self, report_id: str, relpath: str) -> tuple[Path, str]:
        """A file of a report (a plot), with its media type; 404 for anything outside the report's folder."""
        report = self._find(report_id)
        parts = Path(relpath).parts
        if not relpath or "\\" in relpath or Path(relpath).is_absolute() or ".." in parts:
            raise _not_found(relpath)
        path = (report.folder / relpath).resolve()
        kind = SERVED_SUFFIXES.get(path.suffix.lower())
        if kind is None or not path.is_relative_to(report.folder) or not path.is_file():
            raise _not_found(relpath)
        return path, kind

    def _find(self, report_id: str) -> Report:
        report = self.scan().get(report_id)
        if report is None:
            raise ApiError(404, f"no report '{report_id}'; GET /api/reports lists them", code="not_found")
        return report


def _report_folders(root: Path):
    for folder, dirs, files in os.walk(root, followlinks=False):
        depth = len(Path(folder).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < MAX_DEPTH else []
        if "report.json" in files:
            yield Path(folder)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _not_found(relpath: str) -> ApiError:
    return ApiError(404, f"no such report file '{Path(relpath).name}'", code="not_found")
