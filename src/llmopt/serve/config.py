"""The settings of `llmopt serve`: one validated pydantic model, loadable from YAML (`--config presets.yaml`);
command-line flags override the file.

    index: demo                  # what rag presets retrieve from (`llmopt ingest ... --index demo`)
    db: shop.sqlite              # enables the text-to-SQL presets (read-only)
    model: default               # the model of presets that name none
    demos: demos.jsonl           # demonstration pool: enables drag-k5-m4 and IterDRAG demonstrations
    pipeline: pipeline.yaml      # `llmopt lab`'s winner: served under its name and as the default model
    allow_models: ["openai:*"]   # model specs clients may name after "@" besides the presets' own
    allowed_hosts: [llm.lan]     # Host names served besides localhost/127.0.0.1/::1 (DNS rebinding)
    reports: [lab-report, eval-out]
    presets:
      rag-k8: {strategy: rag, k: 8, description: "more evidence"}
      sql-sc7: {kind: sql, strategy: fewshot-sc, samples: 7}
    limits: {max_tokens: 256, max_concurrent: 8, max_queue: 32, timeout_s: 300}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ..config import read_yaml, validate
from ..errors import ConfigError
from ..rag.strategy import strategy_help

_HOST_NAME = re.compile(r"\*|[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_.])?|\[?[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]?")


class Limits(BaseModel):
    """What one request may ask for, and how much work the server takes on at once."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(512, ge=1, description="most answer tokens a request may ask for (max_tokens)")
    max_input_tokens: int = Field(2048, ge=1, description="most tokens in the question (the last user message)")
    max_messages: int = Field(64, ge=1, description="most messages in one request")
    max_context: int = Field(32768, ge=1, description="most effective context (max_context) a preset or a model "
                             "name may set: every input token of every internal call")
    max_k: int = Field(50, ge=1, description="most documents retrieved per question (k)")
    max_m: int = Field(16, ge=0, description="most demonstrations (m)")
    max_n: int = Field(10, ge=0, description="most IterDRAG iterations (n)")
    max_samples: int = Field(16, ge=1, description="most sampled answers per question (samples)")
    max_body_bytes: int = Field(262_144, ge=1024, description="largest request body, bytes (413 above)")
    max_concurrent: int = Field(8, ge=1, description="requests answered at once (llama.cpp with ?parallel=N "
                                "decodes them in one batch; an engine that does not batch takes them in turn)")
    max_queue: int = Field(32, ge=0, description="requests waiting for a slot; more get 429")
    timeout_s: float = Field(300.0, gt=0, le=86_400, allow_inf_nan=False,
                             description="per-request limit, queue time included (504 after), seconds")


class PresetSpec(BaseModel):
    """A named pipeline. Keys other than these are the pipeline's settings (AskConfig fields for rag presets,
    SQLConfig fields for sql presets), e.g. {strategy: drag, k: 5, m: 4}."""

    model_config = ConfigDict(extra="allow")

    kind: Literal["rag", "sql"] = "rag"
    strategy: str = Field("rag", description=f"rag: {strategy_help()}; sql: zero | fewshot | fewshot-sc")
    model: str | None = Field(None, description="model spec (default: the server's model)")
    description: str = ""

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ServeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    index: str | None = Field(None, description="index name, path or milvus:// URI the rag presets search")
    db: str | None = Field(None, description="SQLite file for the text-to-SQL presets (opened read-only)")
    model: str = Field("default", description="model spec of presets that name none")
    demos: str | None = Field(None, description="demonstration pool (JSONL question/answer[/chain] rows)")
    sql_examples: str | None = Field(None, description="text-to-SQL example pool (question/query pairs); "
                                     "default: the built-in cross-domain demo pool")
    host: str = Field("127.0.0.1", description="address to listen on; anything but loopback needs an API key")
    port: int = Field(8000, ge=0, le=65535)
    api_key: SecretStr | None = Field(None, description="clients send 'Authorization: Bearer KEY'")
    pipeline: str | None = Field(None, description="pipeline.yaml (written by `llmopt lab`): served under its own "
                                 "name and as the default model; its index and demonstrations are the server's")
    default_preset: str | None = Field(None, description="the preset that answers for the model names 'default' "
                                       "and the server's model spec (with a pipeline: the pipeline)")
    builtin_presets: bool = Field(True, description="offer rag-k5, drag-k5-m4, iterdrag-n3, ... besides `presets`")
    presets: dict[str, PresetSpec] = Field(default_factory=dict)
    allow_models: list[str] = Field(default_factory=list, description="glob patterns of model specs a client may "
                                    "name after '@' (the server's and the presets' own models are always allowed)")
    reports: list[str] = Field(default_factory=list, description="folders with `llmopt lab`/`llmopt eval` reports")
    default_reports: bool = Field(True, description="also list ./lab-report and ./eval-* (where `llmopt lab` and "
                                  "`llmopt eval` write by default)")
    allowed_hosts: list[str] = Field(default_factory=list, description="host names clients reach this server by "
                                     "(the Host header) besides the loopback names localhost, 127.0.0.1 and ::1, "
                                     "e.g. llm.lan; other names get 400, a defence against DNS rebinding. The rule "
                                     "holds without an API key, or with one once any name is given; '*' lifts it")
    limits: Limits = Field(default_factory=Limits)

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _HOST_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a host name; write a bare name or address such as llm.lan or "
                                 "192.168.1.20 (no scheme, port or path), or '*' for any")
        return [name.lower().strip("[]").rstrip(".") for name in names]

    @property
    def key(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key else None


def make_config(config_file: str | Path | None = None, **overrides: Any) -> ServeConfig:
    """Defaults < the YAML file < overrides (None = not given). `limits` overrides merge field by field. A shared
    config file may keep these settings under a "serve:" key."""
    data: dict[str, Any] = read_yaml(config_file, what="serve", section="serve") if config_file else {}
    given = {k: v for k, v in overrides.items() if v is not None and v != [] and v != {}}
    from_file = data.get("limits") or {}
    if not isinstance(from_file, dict):
        raise ConfigError(f"{config_file}: limits should be a mapping, e.g. 'limits: {{max_tokens: 256}}'")
    flag_keys = set(given)
    limits = {**from_file, **(given.pop("limits", None) or {})}
    data.update(given)
    if limits:
        data["limits"] = limits
    if data.get("pipeline"):
        data = with_pipeline(data)
    return validate(ServeConfig, data, what="serve", file=config_file, flag_keys=flag_keys)


SERVER_OWNED = ("strategy", "model", "index", "demos")  # a preset's own keys, or the server's (one index, one pool)


def with_pipeline(data: dict[str, Any]) -> dict[str, Any]:
    """Serve settings with the pipeline file they name applied: its index and demonstrations become the server's
    (refused when others are given), its model the default model unless one is given, and its settings a preset
    under its name that is also the default preset. A pipeline whose index or files are missing is refused here,
    naming them, before anything is opened."""
    from ..rag.pipeline import load_pipeline

    file = data["pipeline"]
    pipeline = load_pipeline(file)
    s = pipeline.settings
    data = dict(data)
    for key, same in (("index", _same_index), ("demos", _same_file)):
        given, own = data.get(key), getattr(s, key)
        if given and own and not same(given, own):
            raise ConfigError(f"the pipeline {file} uses {key} {own}, not {given}: a server holds one {key}; drop "
                              f"--{key} (or edit the pipeline's settings.{key})")
        data[key] = own or given
    data.setdefault("model", s.model)
    presets = data.get("presets") or {}
    if not isinstance(presets, dict):
        raise ConfigError("presets should be a mapping of name: settings, e.g. 'presets: {rag-k8: {k: 8}}'")
    # what differs from ask's defaults: the rest runs the same without being listed
    own_settings = {k: v for k, v in s.model_dump(exclude_defaults=True).items() if k not in SERVER_OWNED}
    description = pipeline.description or f"the pipeline in {Path(file).name}"
    data["presets"] = {**presets, pipeline.name: {"strategy": s.strategy, "model": s.model,
                                                  "description": description, **own_settings}}
    data.setdefault("default_preset", pipeline.name)
    return data


def _same_index(a: str, b: str) -> bool:
    from ..index.spec import parse_index_spec

    if "://" in a or "://" in b:
        return a == b
    return parse_index_spec(a).folder == parse_index_spec(b).folder


def _same_file(a: str, b: str) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
