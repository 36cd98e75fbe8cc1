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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from ..errors import ModelSpecError

LOCAL_ENGINES = ("llamacpp", "hf")
ENGINES = ("llamacpp", "hf", "openai", "fake")


@dataclass(frozen=True)
class ModelSpec:
    engine: str | None  # None: the pack's default engine
    name: str  # pack name, path, hub id, or remote model name
    base_url: str | None = None  # openai only
    options: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    raw: str = ""

    def __str__(self) -> str:
        return self.raw or f"{self.engine}:{self.name}"


def parse_spec(text: str) -> ModelSpec:
    """Parse a model spec string; raises ModelSpecError with the grammar when it cannot."""
    raw = (text or "").strip()
    if not raw:
        raise ModelSpecError("empty model spec; use e.g. 'default', 'llamacpp:smollm2-135m' or 'openai:MODEL@URL'")
    body, options = _split_options(raw)
    engine, sep, rest = body.partition(":")
    if sep and engine in ENGINES and not _looks_like_windows_drive(engine):
        if engine == "openai":
            model, _, url = rest.partition("@")
            if not model:
                raise ModelSpecError(f"'{raw}': name the remote model, e.g. openai:granite-3.3-8b@http://127.0.0.1:8000/v1")
            return ModelSpec("openai", model, url or None, options, raw)
        if not rest:
            raise ModelSpecError(f"'{raw}': name a model after '{engine}:'")
        return ModelSpec(engine, rest, None, options, raw)
    if sep and "://" not in body and "/" not in engine and engine not in ENGINES:
        raise ModelSpecError(f"unknown engine '{engine}' in '{raw}'; engines: {', '.join(ENGINES)}")
    name, at, engine_override = body.rpartition("@") if "@" in body else (body, "", "")
    if at:
        if engine_override not in LOCAL_ENGINES:
            raise ModelSpecError(
                f"'{raw}': after '@' name a local engine ({', '.join(LOCAL_ENGINES)}), e.g. default@hf"
            )
        return ModelSpec(engine_override, name, None, options, raw)
    return ModelSpec(None, body, None, options, raw)


def _split_options(raw: str) -> tuple[str, dict[str, str]]:
    """Options follow "?"; in an openai spec a "?" inside the endpoint URL belongs to the URL."""
    if raw.startswith("openai:") and "@" in raw:
        model, _, url = raw.partition("@")
        body, options = _split_query(model)
        return f"{body}@{url}", options
    return _split_query(raw)


def _split_query(text: str) -> tuple[str, dict[str, str]]:
    body, _, query = text.partition("?")
    return body, dict(parse_qsl(query, keep_blank_values=True))


def _looks_like_windows_drive(engine: str) -> bool:
    return len(engine) == 1
