"""One registry of LLM backends. A backend is a module with `load(spec) -> LLM`; third-party backends register
through the `llmopt.backends` entry-point group (name = engine, value = "module:load")."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from ..errors import ModelSpecError
from .base import LLM
from .packs import DEFAULT_PACK, PACKS, available, pack_size
from .spec import ModelSpec, parse_spec

# The embedded default runs on llama.cpp (from an f16 copy, packs.Pack.llamacpp_quant), measured fastest at the
# fp32 reference quality for RAG-style prompts (long prompt, short answer):
# see bench/RESULTS.md, "engines". `default@hf` / `default@llamacpp` pick either explicitly.
DEFAULT_ENGINE = "llamacpp"

BACKENDS: dict[str, str] = {
    "llamacpp": "llmopt.models.llamacpp:load",
    "hf": "llmopt.models.hf:load",
    "openai": "llmopt.models.openai_http:load",
    "fake": "llmopt.models.fake:load",
}

_loaded: dict[str, LLM] = {}
_loaded_lock = threading.Lock()


def backend(engine: str) -> Callable[[ModelSpec], LLM]:
    """The loader of an engine; fails with the list of known engines."""
    target = BACKENDS.get(engine)
    if target is None:
        for ep in entry_points(group="llmopt.backends"):
            if ep.name == engine:
                return ep.load()
        raise ModelSpecError(f"unknown engine '{engine}'; known engines: {', '.join(sorted(BACKENDS))}")
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def resolve(spec: str | ModelSpec) -> ModelSpec:
    """Fill in the engine and pack name; fail with the specs that resolve here."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    name = DEFAULT_PACK if spec.name == "default" else spec.name
    if spec.engine in ("openai", "fake"):
        return spec
    if spec.engine is None:
        if name in PACKS:
            return ModelSpec(DEFAULT_ENGINE, name, None, spec.options, spec.raw)
        path = Path(name).expanduser()
        if path.suffix == ".gguf" and path.is_file():
            return ModelSpec("llamacpp", str(path), None, spec.options, spec.raw)
        if path.is_dir() and (path / "config.json").is_file():
            return ModelSpec("hf", str(path), None, spec.options, spec.raw)
        raise unknown_model(spec.raw or name)
    return ModelSpec(spec.engine, name, None, spec.options, spec.raw)


def unknown_model(text: str) -> ModelSpecError:
    here = [m.spec for m in list_models()] or ["(no local model pack is installed)"]
    return ModelSpecError(
        f"unknown model '{text}'; specs that resolve here: {', '.join(here)}, "
        "or hf:FOLDER, llamacpp:FILE.gguf, openai:MODEL@URL"
    )


def get_model(spec: str | ModelSpec = "default", *, cache: bool = True) -> LLM:
    """Load a model from a spec (see llmopt.models.spec). Loaded models are kept for reuse in this process."""
    resolved = resolve(spec)
    key = f"{resolved.engine}:{resolved.name}@{resolved.base_url}?{sorted(resolved.options.items())}"
    with _loaded_lock:
        if cache and key in _loaded:
            return _loaded[key]
    model = backend(resolved.engine)(resolved)
    if cache:
        with _loaded_lock:
            _loaded[key] = model
    return model


def unload_all() -> None:
    with _loaded_lock:
        for model in _loaded.values():
            model.close()
        _loaded.clear()


@dataclass
class ModelInfo:
    spec: str
    engine: str
    size_bytes: int
    path: str
    description: str
    default: bool = False


def list_models() -> list[ModelInfo]:
    """The local models that resolve on this machine, on each local engine."""
    infos = []
    for pack in PACKS.values():
        if not available(pack):
            continue
        from .packs import chunk_paths, models_dir

        paths = chunk_paths(pack) or []
        where = str(paths[0]) if not pack.chunked else str(models_dir() / "packs" / pack.filename)
        for engine in ("llamacpp", "hf"):
            is_default = pack.name == DEFAULT_PACK and engine == DEFAULT_ENGINE
            infos.append(ModelInfo(
                spec=f"{'default' if pack.name == DEFAULT_PACK else pack.name}@{engine}",
                engine=engine, size_bytes=pack_size(pack), path=where,
                description=pack.description, default=is_default,
            ))
    return infos
