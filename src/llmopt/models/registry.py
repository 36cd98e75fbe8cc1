"""One registry of LLM backends. A backend is an LLM subclass (models/base.py) that declares what it is
(`engine`, `is_local`, `thread_safe`, `runs_packs`, `takes_url`, `state_adapter`) and loads itself (`load(spec)`).
Third-party backends register through the `llmopt.backends` entry-point group: name = engine, value =
"module:Class". Every engine name is checked here, entry points included.
"""

from __future__ import annotations

import importlib
import threading
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
GGUF_ENGINE, FOLDER_ENGINE = "llamacpp", "hf"  # what a bare .gguf file or transformers folder runs on
ENTRY_POINT_GROUP = "llmopt.backends"

BACKENDS: dict[str, str] = {
    "llamacpp": "llmopt.models.llamacpp:LlamaCppLLM",
    "hf": "llmopt.models.hf:HFLLM",
    "openai": "llmopt.models.openai_http:OpenAIHTTP",
    "fake": "llmopt.models.fake:FakeLLM",
}

_loaded: dict[str, LLM] = {}
_loaded_lock = threading.Lock()


def _installed() -> dict[str, object]:
    """Entry points of installed backends, by engine name (built-in names win)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BACKENDS}


def engine_names() -> list[str]:
    """Every engine a spec may name here: the built-in ones, then installed ones."""
    return list(BACKENDS) + sorted(_installed())


def backend(engine: str, *, spec: str = "") -> type[LLM]:
    """The backend class of an engine; fails with the list of known engines."""
    if engine in BACKENDS:
        module, _, attr = BACKENDS[engine].partition(":")
        return getattr(importlib.import_module(module), attr)
    ep = _installed().get(engine)
    if ep is None:
        where = f" in '{spec}'" if spec and spec != engine else ""
        raise ModelSpecError(f"unknown engine '{engine}'{where}; engines: {', '.join(engine_names())} "
                             f"(a backend package adds one through the '{ENTRY_POINT_GROUP}' entry-point group)")
    try:
        cls = ep.load()
    except Exception as exc:  # a broken plugin must not read as llmopt's own failure
        raise ModelSpecError(f"engine '{engine}': its backend {ep.value} failed to import ({type(exc).__name__}: "
                             f"{exc}); reinstall or fix the package that provides it") from exc
    if not (isinstance(cls, type) and issubclass(cls, LLM)):
        raise ModelSpecError(f"engine '{engine}': entry point {ep.value} is not an llmopt LLM subclass; point it at "
                             "a class deriving from llmopt.models.base.LLM")
    if cls.engine != engine:
        raise ModelSpecError(f"engine '{engine}': {ep.value} declares engine = '{cls.engine}'; make the entry-point "
                             "name and the class's `engine` the same")
    return cls


def pack_engines() -> list[str]:
    """Engines that run local model packs (`default@ENGINE`), the default first."""
    names = [DEFAULT_ENGINE] + [e for e in engine_names() if e != DEFAULT_ENGINE]
    return [e for e in names if _runs_packs(e)]


def _runs_packs(engine: str) -> bool:
    try:
        return backend(engine).runs_packs
    except ModelSpecError:
        return False  # a broken plugin is reported when a spec names it


def resolve(spec: str | ModelSpec) -> ModelSpec:
    """Fill in the engine and pack name; fail with the specs that resolve here."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    name = DEFAULT_PACK if spec.name == "default" else spec.name
    if spec.engine is None:
        if name in PACKS:
            return ModelSpec(DEFAULT_ENGINE, name, None, spec.options, spec.raw)
        path = Path(name).expanduser()
        if path.suffix == ".gguf" and path.is_file():
            return ModelSpec(GGUF_ENGINE, str(path), None, spec.options, spec.raw)
        if path.is_dir() and (path / "config.json").is_file():
            return ModelSpec(FOLDER_ENGINE, str(path), None, spec.options, spec.raw)
        raise unknown_model(spec.raw or name)
    if not backend(spec.engine, spec=spec.raw).runs_packs:
        return spec
    return ModelSpec(spec.engine, name, spec.base_url, spec.options, spec.raw)


def backend_of(spec: str | ModelSpec) -> type[LLM]:
    """The backend class a spec runs on, without loading the model."""
    return backend(resolve(spec).engine)


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
    model = backend(resolved.engine).load(resolved)
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
        for engine in pack_engines():
            is_default = pack.name == DEFAULT_PACK and engine == DEFAULT_ENGINE
            infos.append(ModelInfo(
                spec=f"{'default' if pack.name == DEFAULT_PACK else pack.name}@{engine}",
                engine=engine, size_bytes=pack_size(pack), path=where,
                description=pack.description, default=is_default,
            ))
    return infos
