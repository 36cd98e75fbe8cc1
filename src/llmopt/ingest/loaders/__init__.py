"""Loaders, one module per format: `@loader(format, extensions)` on `load(path, config) -> Document`.
Adding a format is a one-file change; a format stored as a zip of parts (DOCX, PPTX, XLSX, EPUB, ODT) says
`zipped=True`, and its files are checked against the unzipped-size limits before any loader opens them."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

from ...errors import InputError
from ..config import IngestConfig
from ..document import Document
from ..limits import check_zip

LoadFn = Callable[[Path, IngestConfig], Document]
_LOADERS: dict[str, tuple[str, LoadFn]] = {}  # extension -> (format, load)
_ZIPPED: set[str] = set()  # formats stored as zip archives
_loaded = False


def loader(fmt: str, extensions: list[str], *, zipped: bool = False):
    def decorator(func: LoadFn) -> LoadFn:
        for ext in extensions:
            _LOADERS[ext.lower()] = (fmt, func)
        if zipped:
            _ZIPPED.add(fmt)
        return func

    return decorator


def _load_modules() -> None:
    global _loaded
    if not _loaded:
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
        _loaded = True


def supported_extensions() -> list[str]:
    _load_modules()
    return sorted(_LOADERS)


def format_of(path: Path) -> str | None:
    _load_modules()
    entry = _LOADERS.get(path.suffix.lower())
    return entry[0] if entry else None


def load_document(path: Path, config: IngestConfig) -> Document:
    """Load one file with the loader for its extension (docling first when configured and able)."""
    _load_modules()
    entry = _LOADERS.get(path.suffix.lower())
    if entry is None:
        raise InputError(f"unsupported file type '{path.suffix or path.name}'; supported: "
                         f"{', '.join(supported_extensions())}")
    if entry[0] in _ZIPPED:  # before any converter inflates a part
        check_zip(path, config, entry[0])
    if config.converter == "docling" and entry[0] in ("pdf", "docx", "pptx", "html"):
        from .docling import load_with_docling

        return load_with_docling(path, config, entry[0])
    return entry[1](path, config)
