"""Cost of a call, from the price table (prices.yaml, overridable by the user)."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from .config import read_yaml
from .paths import home
from .types import Generation

DEFAULT_TABLE = Path(__file__).with_name("prices.yaml")


@functools.lru_cache(maxsize=1)
def price_table() -> dict[str, Any]:
    table = yaml.safe_load(DEFAULT_TABLE.read_text())
    user = Path(os.environ.get("LLMOPT_PRICES") or home() / "prices.yaml")
    if user.is_file():
        extra = read_yaml(user, what="price")
        for section in ("local", "api"):
            table.setdefault(section, {}).update(extra.get(section) or {})
    return table


def local_rate_per_s(device: str = "cpu") -> float:
    local = price_table()["local"]
    key = "usd_per_gpu_hour" if device.startswith(("cuda", "gpu", "mps")) else "usd_per_cpu_hour"
    return float(local[key]) / 3600.0


def api_prices(model_name: str) -> dict[str, float] | None:
    api = price_table().get("api") or {}
    if model_name in api:
        return api[model_name]
    for name in sorted(api, key=len, reverse=True):  # longest prefix wins: gpt-4o-mini before gpt-4o
        if model_name.startswith(name):
            return api[name]
    return None


_warned: set[str] = set()


def cost_of(gen: Generation, *, local: bool, device: str = "cpu") -> float:
    """USD for one call: compute time for a local engine (the backend says whether it is one: `LLM.is_local`),
    tokens for priced API models."""
    if local:
        return gen.compute_s * local_rate_per_s(device)
    name = gen.model.split(":", 1)[-1].split("@", 1)[0]
    prices = api_prices(name)
    if prices is None:
        if name not in _warned:
            _warned.add(name)
            print(f"llmopt: no price for model '{name}'; its cost counts as 0 (add it to prices.yaml)", file=sys.stderr)
        return 0.0
    if "usd_per_gpu_hour" in prices:
        return gen.latency_s * float(prices["usd_per_gpu_hour"]) / 3600.0
    uncached = max(0, gen.prompt_tokens - gen.cached_prompt_tokens)
    cached_rate = prices.get("cached_input", prices.get("input", 0.0))
    return (
        uncached * float(prices.get("input", 0.0))
        + gen.cached_prompt_tokens * float(cached_rate)
        + gen.completion_tokens * float(prices.get("output", 0.0))
    ) / 1e6


def cost_per_1k_tokens(tokens_per_s: float, device: str = "cpu") -> float:
    """USD per 1,000 tokens for a local engine running at a measured speed."""
    if tokens_per_s <= 0:
        return float("inf")
    return 1000.0 / tokens_per_s * local_rate_per_s(device)


def usage_cost(usage: dict[str, Any], prices: dict[str, float], *, local: bool) -> float | None:
    """USD of a recorded usage (one question's calls summed) under the user's own prices for its model (a
    project's `models[].prices`): compute hours for a local engine, tokens or GPU hours for an API. None when
    `prices` says nothing that applies, so the recorded cost stands."""
    if local:
        rate = prices.get("usd_per_gpu_hour", prices.get("usd_per_cpu_hour"))
        return None if rate is None else float(usage.get("compute_s") or 0.0) * float(rate) / 3600.0
    if "usd_per_gpu_hour" in prices:
        return float(usage.get("latency_s") or 0.0) * float(prices["usd_per_gpu_hour"]) / 3600.0
    if not any(k in prices for k in ("input", "cached_input", "output")):
        return None
    prompt, cached = float(usage.get("prompt_tokens") or 0), float(usage.get("cached_prompt_tokens") or 0)
    cached_rate = prices.get("cached_input", prices.get("input", 0.0))
    return (max(0.0, prompt - cached) * float(prices.get("input", 0.0)) + cached * float(cached_rate)
            + float(usage.get("completion_tokens") or 0) * float(prices.get("output", 0.0))) / 1e6
