"""The model spec grammar.

    default                         the embedded default model on its documented default engine
    default@hf, default@llamacpp    the same model on the other engine
    NAME[@ENGINE]                   a local model pack (see `llmopt models`), e.g. qwen2.5-coder-1.5b@llamacpp
    llamacpp:NAME_OR_FILE.gguf      a pack or a GGUF file through llama-cpp-python
    hf:NAME_OR_FOLDER               a pack (its GGUF converted once to safetensors), a local folder, or a hub id
    openai:MODEL@BASE_URL           any OpenAI-compatible endpoint; split at the first "@"; the URL falls back to
                                    OPENAI_BASE_URL, e.g. openai:granite-3.3-8b@http://127.0.0.1:8000/v1
    fake:SCRIPT                     the scripted test backend

Options follow a "?" as query parameters, e.g. llamacpp:smollm2-135m?quant=q8_0&n_ctx=4096.

Engines are whatever the registry knows (models/registry.py: the built-in backends and those installed through
the `llmopt.backends` entry-point group); each backend class says whether it runs model packs (`NAME@ENGINE`)
and whether its specs carry an endpoint URL (`ENGINE:MODEL@URL`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from ..errors import ModelSpecError

_ENGINE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]+")  # two characters at least: "C:\\..." is a Windows path


@dataclass(frozen=True)
class ModelSpec:
    engine: str | None  # None: the pack's default engine
    name: str  # pack name, path, hub id, or remote model name
    base_url: str | None = None  # backends that take a URL only
    options: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    raw: str = ""

    def __str__(self) -> str:
        return self.raw or f"{self.engine}:{self.name}"

    def number(self, key: str, default: float | None, low: float, high: float, *, whole: bool = True):
        """Option `key` as a number within [low, high] (default when absent); ModelSpecError otherwise, where
        int("abc") or an engine refusing n_ctx=-5 would fail deep inside a backend."""
        text = self.options.get(key)
        if text is None:
            return default
        try:
            value = int(text) if whole else float(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            kind, span = ("a whole number", f"{int(low)} to {int(high)}") if whole else ("a number", f"{low} to {high}")
            raise ModelSpecError(f"option {key}={text!r} in model spec '{self}' should be {kind} from {span}, e.g. "
                                 f"?{key}={default if default is not None else int(low)}")
        return value


def parse_spec(text: str) -> ModelSpec:
    """Parse a model spec string; raises ModelSpecError with the grammar when it cannot."""
    from .registry import backend, pack_engines

    raw = (text or "").strip()
    if not raw:
        raise ModelSpecError("empty model spec; use e.g. 'default', 'llamacpp:smollm2-135m' or 'openai:MODEL@URL'")
    engine, sep, rest = raw.partition(":")
    if sep and _ENGINE_NAME.fullmatch(engine) and not rest.startswith("//"):
        if backend(engine, spec=raw).takes_url:  # MODEL[?options]@URL: a "?" inside the URL belongs to the URL
            model_part, _, url = rest.partition("@")
            model, options = _split_query(model_part)
            if not model:
                raise ModelSpecError(f"'{raw}': name the remote model, "
                                     f"e.g. {engine}:granite-3.3-8b@http://127.0.0.1:8000/v1")
            return ModelSpec(engine, model, url or None, options, raw)
        body, options = _split_query(rest)
        if not body:
            raise ModelSpecError(f"'{raw}': name a model after '{engine}:'")
        return ModelSpec(engine, body, None, options, raw)
    body, options = _split_query(raw)
    name, at, engine_override = body.rpartition("@") if "@" in body else (body, "", "")
    if at:
        local = pack_engines()
        if engine_override not in local:
            raise ModelSpecError(f"'{raw}': after '@' name a local engine ({', '.join(local)}), e.g. default@hf")
        return ModelSpec(engine_override, name, None, options, raw)
    return ModelSpec(None, body, None, options, raw)


def _split_query(text: str) -> tuple[str, dict[str, str]]:
    body, _, query = text.partition("?")
    return body, dict(parse_qsl(query, keep_blank_values=True))
