"""What an ingest run did, file by file: typed, JSON-able, summarised for the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PHASES = ("parse", "pictures", "chunk", "embed", "store")


@dataclass
class FileResult:
    path: str
    status: str  # added | updated | unchanged | failed | skipped | removed
    reason: str = ""  # why it failed or was skipped
    format: str = ""
    pages: int | None = None
    chunks: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    pictures: int = 0  # pictures found (a picture without any text yields no chunk)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase (PHASES)
    methods: dict[str, int] = field(default_factory=dict)  # how picture text was made, e.g. {"ocr+caption": 3}
    warnings: list[str] = field(default_factory=list)  # what was left out of an ingested file, and why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IngestReport:
    index: str
    embedder: str
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    recovered: int = 0  # versions an interrupted earlier run left behind, cleaned up at the start

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.files)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    @property
    def failures(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def timings(self) -> dict[str, float]:
        return {p: round(sum(f.timings.get(p, 0.0) for f in self.files), 4) for p in PHASES}

    @property
    def chunks_written(self) -> int:
        return sum(f.chunks for f in self.files if f.status in ("added", "updated"))

    def summary(self) -> dict[str, int]:
        return {s: self.count(s) for s in ("added", "updated", "unchanged", "removed", "skipped", "failed")}

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "embedder": self.embedder, "ok": self.ok, "summary": self.summary(),
                "chunks_written": self.chunks_written, "seconds": round(self.seconds, 3), "timings": self.timings,
                "recovered": self.recovered, "files": [f.to_dict() for f in self.files]}
