"""Options derived from a settings model: spelling, parsing, 'not given', and defaults stated in --help."""

import click
import pytest
import typer
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from llmopt.cli.main import app as llmopt_app
from llmopt.cli.options import ConfigOptions, with_options


class Demo(BaseModel):
    k: list[int] = Field([5], description="documents [per question]")
    budgets: list[int | None] = Field([None], description="budgets")
    cache: bool = Field(True, description="keep the cache")
    shared: bool = Field(False, description="one store")
    name: str | None = Field(None, description="a name")


def demo_app(seen: list):
    app = typer.Typer()

    @app.command()
    @with_options(ConfigOptions(Demo, flags={"k": ("--k", "-k"), "shared": ("--shared/--per-document",)}))
    def run(question: str = typer.Argument(...), settings: dict | None = None) -> None:
        seen.append((question, settings))

    return app


@pytest.mark.parametrize("args, expected", [
    ([], {}),  # nothing given: a config file's values would be kept
    (["-k", "1, 5,10", "--budgets", "4000,none", "--no-cache", "--per-document", "--name", "x"],
     {"k": [1, 5, 10], "budgets": [4000, None], "cache": False, "shared": False, "name": "x"}),
    (["--k", "3", "--cache", "--shared"], {"k": [3], "cache": True, "shared": True}),
])
def test_flags_become_config_values(args, expected):
    seen = []
    result = CliRunner().invoke(demo_app(seen), ["q", *args])
    assert result.exit_code == 0, result.output
    assert seen == [("q", expected)]


def test_help_states_each_default_and_keeps_brackets():
    options = {p.name: p for p in typer.main.get_command(demo_app([])).params}
    assert options["k"].help == r"documents \[per question] (comma-separated) \[default: 5]"
    assert options["budgets"].help.endswith(r"\[default: none]")
    assert options["cache"].help.endswith(r"\[default: --cache]")
    assert options["shared"].help.endswith(r"\[default: --per-document]")
    assert "default" not in options["name"].help


def _command(path: list[str]) -> click.Command:
    command = typer.main.get_command(llmopt_app)
    for name in path:
        command = command.commands[name]
    return command


@pytest.mark.parametrize("path, model, skip", [
    (["ask"], "llmopt.rag.config:AskConfig", ()),
    (["eval", "qa"], "llmopt.eval.grid:SweepConfig", ("dataset", "ids")),
    (["sql", "ask"], "llmopt.sql.config:SQLConfig", ("keep_distinct",)),
    (["sql", "eval"], "llmopt.sql.config:SQLConfig", ("display_rows",)),
    (["finetune"], "llmopt.train.finetune.config:FinetuneConfig", ()),
    (["distill"], "llmopt.train.distill.config:DistillConfig", ()),
])
def test_every_setting_is_an_option_whose_help_states_its_default(path, model, skip):
    import importlib

    module, name = model.split(":")
    model_cls = getattr(importlib.import_module(module), name)
    options = {p.name: p for p in _command(path).params}
    for field, info in model_cls.model_fields.items():
        if field in skip:
            continue
        assert field in options, f"{' '.join(path)} has no option for {field}"
        if not info.is_required() and info.get_default(call_default_factory=True) is not None:
            assert r"\[default: " in options[field].help, f"{' '.join(path)} --help hides the default of {field}"


def test_short_flags_are_kept():
    flags = {tuple(path): {opt for p in _command(path).params for opt in p.opts + getattr(p, "secondary_opts", [])}
             for path in (["ask"], ["eval", "qa"], ["sql", "ask"], ["sql", "eval"], ["finetune"])}
    assert {"-i", "-s", "-k", "-m", "-n", "-M", "-t", "--no-prefix-cache", "--config"} <= flags[("ask",)]
    assert {"-i", "-M", "-s", "--k", "--m", "--n", "--max-context", "--per-document", "--retry-errors", "-o",
            "--ids", "--format"} <= flags[("eval", "qa")]
    assert {"-s", "-e", "-n", "-k", "-M", "-t", "--max-rows", "--reasoning", "--db"} <= flags[("sql", "ask")]
    assert {"-s", "-e", "-n", "-k", "-M", "--row-cap", "--timeout", "--spider", "-o"} <= flags[("sql", "eval")]
    assert {"-M", "-o", "--rag", "-c", "--max-steps", "--lora-target-modules"} <= flags[("finetune",)]
