import pytest

from llmopt import pricing
from llmopt.types import Generation


def test_local_cost_is_compute_time_times_rate():
    gen = Generation("x", "llamacpp:m", "llamacpp", compute_s=36.0)
    assert pricing.cost_of(gen, local=True) == pytest.approx(36.0 * 0.10 / 3600)


def test_api_cost_uses_token_prices_with_cached_discount():
    gen = Generation("x", "openai:gpt-4o-mini@http://h", "openai", prompt_tokens=1_000_000,
                     cached_prompt_tokens=400_000, completion_tokens=100_000)
    assert pricing.cost_of(gen, local=False) == pytest.approx(0.6 * 0.15 + 0.4 * 0.075 + 0.1 * 0.60)


def test_user_table_overrides(tmp_path, monkeypatch):
    (tmp_path / "p.yaml").write_text("local: {usd_per_cpu_hour: 3.6}\napi: {my-model: {input: 1, output: 2}}\n")
    monkeypatch.setenv("LLMOPT_PRICES", str(tmp_path / "p.yaml"))
    pricing.price_table.cache_clear()
    assert pricing.cost_of(Generation("x", "hf:m", "hf", compute_s=1.0), local=True) == pytest.approx(0.001)
    gen = Generation("x", "openai:my-model@u", "openai", prompt_tokens=10**6, completion_tokens=10**6)
    assert pricing.cost_of(gen, local=False) == pytest.approx(3.0)


def test_unknown_api_model_costs_zero_with_warning(capsys):
    assert pricing.cost_of(Generation("x", "openai:mystery@u", "openai", prompt_tokens=5), local=False) == 0.0
    assert "no price for model 'mystery'" in capsys.readouterr().err
