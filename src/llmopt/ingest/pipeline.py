"""The ingest pipeline: for each file, skip it if unchanged, else load -> pictures to text -> chunk -> embed ->
write (under the index's manifest protocol). A bad file is reported and skipped; the rest of the batch goes on;
nothing already indexed is lost. An interrupted run is completed by the next one."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError, LlmoptError
from ..index import Index, PendingSource, open_index
from ..index.index import count_types, embed_text
from ..index.manifest import SourceEntry
from .chunking import Chunker
from .config import IngestConfig
from .discover import absolute, discover, expand, under
from .document import Document
from .limits import check_file
from .loaders import format_of, load_document
from .pictures import PictureDescriber
from .report import FileResult, IngestReport

Callback = Callable[[str, dict[str, Any]], None]  # (event, info): start, file, embed, done


def ingest(paths: list[str | Path] | str | Path, index: str | Index, *, config: IngestConfig | None = None,
           embedder: str | None = None, prune: bool = False, force: bool = False, vlm=None,
           callback: Callback | None = None) -> IngestReport:
    """Ingest files and folders into an index (created if missing). Returns a report; check `report.ok`.

    paths: files and folders (recursively). index: a name, a folder path, milvus://HOST:PORT/COLLECTION, or an
    open Index. prune: remove chunks of files under `paths` that no longer exist. force: re-ingest unchanged
    files. vlm: an LLM object to describe pictures (default: config.vlm through get_model)."""
    config = config or IngestConfig()
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    owned = not isinstance(index, Index)
    idx = open_index(index, embedder=embedder, create=True, recover=False) if owned else index
    try:
        return _Run(idx, config, callback or (lambda event, info: None), vlm).run(paths, prune, force)
    finally:
        if owned:
            idx.close()


class _Run:
    def __init__(self, index: Index, config: IngestConfig, callback: Callback, vlm):
        self.index = index
        self.config = config
        self.emit = callback
        self.fingerprint = config.fingerprint()
        self.describer = PictureDescriber(config, vlm=vlm)
        self._chunker: Chunker | None = None

    @property
    def chunker(self) -> Chunker:
        if self._chunker is None:  # the embedder's tokenizer bounds chunks; load it only when needed
            embedder = self.index.embedder
            if self.config.chunk_tokens > embedder.max_tokens:
                raise ConfigError(f"chunk_tokens {self.config.chunk_tokens} is more than the embedder reads "
                                  f"({embedder.max_tokens} tokens for {embedder.model_id}); lower --chunk-tokens")
            self._chunker = Chunker(self.config, embedder.count_tokens)
        return self._chunker

    def run(self, paths: list[str | Path], prune: bool, force: bool) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport(self.index.name, self.index.config["embedder"])
        report.recovered = len(self.index.recover())
        files, problems = discover(paths, self.config)
        report.files += problems
        self.emit("start", {"files": len(files), "index": self.index.name})
        for path in files:
            result = self.one(path, force)
            report.files.append(result)
            self.emit("file", {"result": result})
        if prune:
            report.files += self.prune([_root(p) for p in paths])
        if any(f.status in ("added", "updated", "removed") for f in report.files):
            self.index.flush()
        report.seconds = time.perf_counter() - started
        self.emit("done", {"report": report})
        return report

    def one(self, path: Path, force: bool) -> FileResult:
        started = time.perf_counter()
        result = FileResult(str(path), "failed", format=format_of(path) or "")
        try:
            self._ingest_file(path, force, result)
        except ConfigError:
            raise  # a bad setting fails every file the same way: stop and say so once
        except LlmoptError as exc:
            result.status, result.reason = "failed", str(exc)
        except OSError as exc:
            result.status, result.reason = "failed", f"cannot read: {exc.strerror or exc}"
        except MemoryError:
            result.status, result.reason = "failed", ("out of memory while ingesting it; lower the limits in the "
                                                      "ingest config (max_file_mb, max_xml_mb, max_image_pixels)")
        except Exception as exc:  # a loader bug or a malformed file no check caught: report it, go on
            result.status, result.reason = "failed", f"{type(exc).__name__}: {str(exc)[:300]}"
        result.seconds = round(time.perf_counter() - started, 4)
        return result

    def _ingest_file(self, path: Path, force: bool, result: FileResult) -> None:
        stat = check_file(path, self.config)
        source = str(path)
        entry = self.index.manifest.get(source)
        same_settings = not force and entry is not None and entry.fingerprint == self.fingerprint
        if same_settings and entry.size == stat.st_size and entry.mtime_ns == stat.st_mtime_ns:
            return _unchanged(result, entry)
        sha = _sha256(path)
        if same_settings and entry.sha256 == sha:
            self.index.manifest.touch(source, stat.st_mtime_ns)  # touched, not changed: no work
            return _unchanged(result, entry)
        doc = self._timed(result, "parse", load_document, path, self.config)
        self._timed(result, "pictures", self._pictures, doc, result)
        chunks = self._timed(result, "chunk", self.chunker.chunk, doc)
        if not chunks:
            raise InputError("no text found (an empty document, or pictures without text)")
        texts = [embed_text(c) for c in chunks]
        vectors = self._timed(result, "embed", self.index.embedder.embed, texts, self.config.embed_batch,
                              lambda n: self.emit("embed", {"n": n, "path": source}))
        version = hashlib.sha256(f"{source}\0{sha}\0{self.fingerprint}".encode()).hexdigest()[:32]
        new_entry = SourceEntry(source, version, "file", sha, stat.st_size, stat.st_mtime_ns, self.fingerprint,
                                doc.pages, len(chunks), count_types(chunks),
                                {"format": doc.format, "converter": doc.converter, "title": doc.title})
        pending = PendingSource(new_entry, chunks, vectors)
        self._timed(result, "store", self.index.write, [pending])
        result.status = "updated" if entry is not None else "added"
        result.pages, result.chunks, result.by_type = doc.pages, len(chunks), count_types(chunks)

    def _pictures(self, doc: Document, result: FileResult) -> None:
        if self.config.picture_mode == "none":
            doc.elements = [e for e in doc.elements if e.kind != "picture"]
            return
        for element in (e for e in doc.elements if e.kind == "picture"):
            result.pictures += 1
            try:
                self.describer.describe(element)
            except InputError as exc:  # one bad picture (unreadable, a bomb) costs its text, not the file's
                element.text, element.image = element.caption.strip(), None
                element.method = "caption" if element.text else "none"
                where = f" on page {element.page}" if element.page else ""
                result.warnings.append(f"picture {result.pictures}{where} left out: {exc}")
            if element.text.strip():
                result.methods[element.method] = result.methods.get(element.method, 0) + 1
                if element.image:
                    element.meta["image_path"] = self._save_image(element.image, element.image_ext)

    def _save_image(self, data: bytes, ext: str) -> str:
        path = self.index.images_dir / f"{hashlib.sha256(data).hexdigest()[:20]}.{ext or 'png'}"
        if not path.exists():
            from ..paths import atomic_write_bytes

            atomic_write_bytes(path, data)
        return str(path)

    @staticmethod
    def _timed(result: FileResult, phase: str, fn, *args):
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            result.timings[phase] = round(result.timings.get(phase, 0.0) + time.perf_counter() - started, 4)

    def prune(self, roots: list[Path]) -> list[FileResult]:
        removed = []
        for entry in self.index.sources():
            if entry.kind == "file" and under(entry.source, roots) and not os.path.exists(entry.source):
                self.index.remove_source(entry.source)
                removed.append(FileResult(entry.source, "removed", "file no longer exists", chunks=entry.chunks,
                                          by_type=entry.by_type, pages=entry.pages))
        return removed


def _unchanged(result: FileResult, entry: SourceEntry) -> None:
    result.status, result.chunks, result.by_type, result.pages = "unchanged", entry.chunks, entry.by_type, entry.pages


def _root(raw: str | Path) -> Path:
    """A named path as --prune compares it with sources: resolved when it can be (it may be gone, or loop)."""
    path = expand(raw)
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return absolute(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
