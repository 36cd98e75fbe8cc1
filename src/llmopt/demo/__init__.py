"""Demo data the project writes itself, deterministically (`llmopt demo-data DIR`).

Each capability adds a writer module here with `@writer("name")`, a function `write(out_dir: Path) -> list[Path]`
that writes its files under out_dir/<name>/ and returns them. Nothing here is copied from third-party data.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError

_WRITERS: dict[str, Callable[[Path], list[Path]]] = {}


def writer(name: str):
    def decorator(func: Callable[[Path], list[Path]]):
        _WRITERS[name] = func
        return func

    return decorator


def writers() -> dict[str, Callable[[Path], list[Path]]]:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return dict(sorted(_WRITERS.items()))


def write_demo_data(out_dir: str | Path, only: list[str] | None = None) -> dict[str, list[Path]]:
    """Write every demo data set (or the named ones) under out_dir; return the files per set."""
    out_dir = Path(out_dir)
    available = writers()
    chosen = only or list(available)
    unknown = [n for n in chosen if n not in available]
    if unknown:
        raise ConfigError(f"unknown demo data set(s) {', '.join(unknown)}; available: {', '.join(available)}")
    return {name: available[name](out_dir) for name in chosen}
