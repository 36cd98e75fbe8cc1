"""Command-line options derived from a settings model: one option per field, whose help is the field's description
and whose shown default is the field's default, so a setting and its documentation are written once, in the model.

    ASK = ConfigOptions(AskConfig, flags={"k": ("-k",), "model": ("--model", "-M")})

    @app.command()
    @with_options(ASK)
    def ask(question: str = typer.Argument(...), config: Path = typer.Option(None, "--config"), settings=None):
        AskConfig.from_yaml(config, **settings) ...     # settings: the flags given ({} when none)

Every derived option defaults to None ("not given"), so a value from a --config file is kept unless a flag is
given. Booleans are --x/--no-x; list fields take comma-separated values ("1,5,10"; "none" for an empty budget).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel

from ..errors import ConfigError

KEYWORD = inspect.Parameter.KEYWORD_ONLY


@dataclass(frozen=True)
class ConfigOptions:
    """Which fields of `model` become options and how they are spelled.

    flags: field -> option declarations, e.g. ("--model", "-M") or ("--per-document/--shared-store",)
    first: fields listed first in --help; shown_defaults: field -> the default as --help should state it
    parsers: field -> a function from the typed text to the value (list fields get one by default)"""

    model: type[BaseModel]
    only: tuple[str, ...] | None = None
    skip: tuple[str, ...] = ()
    flags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    first: tuple[str, ...] = ()
    shown_defaults: Mapping[str, str] = field(default_factory=dict)
    parsers: Mapping[str, Callable[[str], Any]] = field(default_factory=dict)

    def names(self) -> list[str]:
        names = [n for n in (self.only or self.model.model_fields) if n not in self.skip]
        return sorted(names, key=lambda n: self.first.index(n) if n in self.first else len(self.first))

    def parameters(self) -> list[inspect.Parameter]:
        return [inspect.Parameter(name, KEYWORD, default=self._option(name),
                                  annotation=typing.Optional[_cli_type(self.model.model_fields[name].annotation)])
                for name in self.names()]

    def values(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Take this model's options out of a command's keyword arguments, as config values (None = not given)."""
        values = {}
        for name in self.names():
            value = kwargs.pop(name, None)
            if value is not None:
                values[name] = self._parse(name, value)
        return values

    def flag(self, name: str) -> str:
        return self.flags.get(name, (f"--{name.replace('_', '-')}",))[0].split("/")[0]

    def _option(self, name: str) -> Any:
        from rich.markup import escape

        info = self.model.model_fields[name]
        declared = list(self.flags.get(name, (f"--{name.replace('_', '-')}",)))
        is_bool = _cli_type(info.annotation) is bool
        if is_bool and "/" not in declared[0]:
            declared[0] = f"{declared[0]}/--no-{declared[0][2:]}"
        help_text = escape(info.description or "")
        if _list_item(info.annotation) is not None and name not in self.parsers:
            help_text += " (comma-separated)"
        shown = self._shown_default(name, declared[0])
        if shown is not None:  # stated in the help: the option's own default is None ("not given")
            help_text += " " + escape(f"[default: {shown}]")
        return typer.Option(None, *declared, help=help_text, show_default=False)

    def _shown_default(self, name: str, declaration: str) -> str | None:
        if name in self.shown_defaults:
            return self.shown_defaults[name]
        info = self.model.model_fields[name]
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        if default is None:
            return None
        if isinstance(default, bool):
            on, _, off = declaration.partition("/")
            return on if default else off
        if isinstance(default, (list, tuple)):
            return ",".join("none" if v is None else str(v) for v in default)
        return str(default)

    def _parse(self, name: str, value: Any) -> Any:
        if name in self.parsers:
            return self.parsers[name](value)
        item = _list_item(self.model.model_fields[name].annotation)
        if item is not None and isinstance(value, str):
            return parse_list(value, item, self.flag(name))
        return value


def parse_list(text: str | None, cast: Callable[[str], Any] = str, what: str = "") -> list[Any] | None:
    """'1,5,10' -> [1, 5, 10]; 'none' stands for None in a list of numbers (e.g. no context budget)."""
    if text is None:
        return None
    values = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.lower() == "none" and cast is not str:
            values.append(None)
            continue
        try:
            values.append(cast(part))
        except ValueError:
            raise ConfigError(f"{what} '{text}': write comma-separated values, e.g. 1,5,10") from None
    return values


def with_options(options: ConfigOptions, into: str = "settings") -> Callable[[Callable], Callable]:
    """Decorate a command so that it also takes `options`; they reach it as one dict in its `into` argument. The
    derived options are listed before the command's own --config and --json."""
    def wrap(func: Callable) -> Callable:
        own = [p.replace(kind=KEYWORD) for p in inspect.signature(func, eval_str=True).parameters.values()
               if p.name != into]
        at = next((i for i, p in enumerate(own) if p.name in ("config", "config_file", "json_out")), len(own))

        def command(**kwargs: Any) -> Any:
            settings = options.values(kwargs)
            return func(**kwargs, **{into: settings})

        command.__signature__ = inspect.Signature(own[:at] + options.parameters() + own[at:])  # read by typer
        command.__name__, command.__qualname__, command.__doc__ = func.__name__, func.__qualname__, func.__doc__
        return command
    return wrap


CONFIG_HELP = "YAML file with any of the options below; flags win over it."


def config_command(app: typer.Typer, name: str, options: ConfigOptions, body: Callable[[Any, bool], None],
                   doc: str) -> None:
    """Register `body(config, json_out)` as a command whose options are all the fields of `options.model`."""
    from ..config import load_config
    from .common import JSON_HELP

    what = options.model.__name__.removesuffix("Config").lower()

    def command(config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
                json_out: bool = typer.Option(False, "--json", help=JSON_HELP), settings: Any = None) -> None:
        body(load_config(options.model, config, overrides=settings, what=what), json_out)

    command.__doc__ = doc
    app.command(name)(with_options(options)(command))


def _cli_type(annotation: Any) -> type:
    """The type the command line parses: bool, int, float, or str (lists, paths and choices are checked by the
    model, so a bad value gets the model's own one-line error)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if _list_item(annotation) is not None:
        return str
    for kind in (bool, int, float):
        if annotation is kind or (args and all(a is kind for a in args)):
            return kind
    return str


def _list_item(annotation: Any) -> Callable[[str], Any] | None:
    """The item type of a list field (int for list[int | None]); None when the field is not only a list."""
    options = [a for a in typing.get_args(annotation) if a is not type(None)] if _is_union(annotation) else [annotation]
    if len(options) != 1 or typing.get_origin(options[0]) is not list:
        return None
    items = [a for a in typing.get_args(options[0]) if a is not type(None)]
    inner = typing.get_args(items[0]) if items and _is_union(items[0]) else ()
    item = next((a for a in inner if a is not type(None)), items[0] if items else str)
    return item if item in (int, float) else str


def _is_union(annotation: Any) -> bool:
    import types

    return typing.get_origin(annotation) in (typing.Union, types.UnionType)
