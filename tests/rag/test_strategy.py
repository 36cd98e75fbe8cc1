"""The strategy registry: strategies are discovered from their package and every caller asks what they declare,
so a new strategy is one file."""

import pkgutil

import pytest

import llmopt.rag.strategies
import llmopt.rag.strategy as registry
from llmopt.errors import ConfigError
from llmopt.eval.allocation import allocatable, iterations, strategy_for
from llmopt.eval.grid import SweepConfig, expand, point
from llmopt.rag.strategy import OneCall, get_strategy, strategy, strategy_class, strategy_names


def test_every_module_of_the_package_is_a_strategy_in_ladder_order():
    modules = {info.name for info in pkgutil.iter_modules(llmopt.rag.strategies.__path__)}
    assert set(strategy_names()) == modules and strategy_names() == ["none", "rag", "drag", "iterdrag"]
    with pytest.raises(ConfigError, match="unknown strategy 'magic'; strategies: none, rag, drag, iterdrag"):
        get_strategy("magic")


def test_declarations_answer_what_callers_used_to_test_by_name():
    axes = {name: strategy_class(name).axes() for name in strategy_names()}
    assert axes == {"none": ("samples",), "rag": ("k", "samples"), "drag": ("k", "m", "samples"),
                    "iterdrag": ("k", "m", "n", "samples")}
    assert [strategy_class(n).canonical(0) for n in strategy_names()] == ["none", "rag", "rag", "iterdrag"]
    assert [iterations(n, 2) for n in strategy_names()] == [1, 1, 1, 3]
    assert [strategy_for(0, 0, 1), strategy_for(3, 0, 1), strategy_for(3, 2, 1), strategy_for(3, 0, 2)] == \
        ["none", "rag", "drag", "iterdrag"]


@pytest.fixture
def echo(monkeypatch):
    """A strategy added the way a new file adds one: the decorator alone."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @strategy("echo", order=25, description="k documents, answered twice over")
    class Echo(OneCall):
        uses_retrieval = True
        presets = {"echo-k2": {"k": 2, "description": "two documents"}}

    return Echo


def test_a_new_strategy_is_swept_served_and_left_out_of_allocation_by_its_declarations(echo):
    from llmopt.serve.config import make_config
    from llmopt.serve.presets import Presets

    assert strategy_names() == ["none", "rag", "echo", "drag", "iterdrag"]
    cfg = SweepConfig.make(dataset="x", strategies=["echo"], k=[0, 2], m=[0, 3], n=[1, 2])
    assert [(c.strategy, c.k, c.m, c.n) for c in expand(cfg)] == [("echo", 2, 0, 0)]  # reads k only
    assert point("default", "basic", "echo", 2, 3, 2).label(with_model=False) == "echo k=2 basic"
    served = Presets(make_config(None), has_index=True, has_demos=False, has_db=False)
    assert "echo-k2" in served.names() and served.resolve("echo:k=3").strategy == "echo"
    assert "--index" in Presets(make_config(None), has_index=False, has_demos=False,
                                has_db=False).unavailable["echo-k2"]
    assert not allocatable("echo")  # it did not declare that θ = (k, m, calls) describes it
