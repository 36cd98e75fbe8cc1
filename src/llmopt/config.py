"""Settings: a validated pydantic model, read from a YAML file, with keyword overrides (a command's flags) on top.

    load_config(AskConfig, "ask.yaml", overrides={"k": 8}, what="ask")   defaults < base < file < overrides
    read_yaml(path, what="serve", section="serve")                        the file's mapping (one section of it)
    validate(AskConfig, data, what="ask")                                 the model, or one ConfigError line
    key_lines("llmopt.yaml")                                              {("tasks", "qa"): 4, ...}: lines for errors

Every problem is one ConfigError line that names the field (and the file when the value came from one): a bad
value shows what was given, an unknown key lists the keys that level supports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError

from .errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def load_config(model_cls: type[M], path: str | Path | None = None, *, overrides: Mapping[str, Any] | None = None,
                base: BaseModel | Mapping[str, Any] | None = None, section: str | None = None,
                what: str = "") -> M:
    """`model_cls` from (in increasing priority) its defaults, `base`, the YAML file at `path` and `overrides`
    (None values mean 'not given'). A shared file may keep the settings under a `section:` key."""
    data = dict(base.model_dump() if isinstance(base, BaseModel) else base or {})
    if path is not None:
        data.update(_field_names(model_cls, read_yaml(path, what=what, section=section)))
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    data.update(given)
    return validate(model_cls, data, what=what, file=path, flag_keys=given)


def read_yaml(path: str | Path, *, what: str = "", section: str | None = None) -> dict[str, Any]:
    """The mapping in a YAML file (an empty file is {}); `section`: the mapping under that key, when present."""
    import yaml

    path = Path(path).expanduser()
    kind = f"{what} settings" if what else "settings"
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder; pass a YAML file of {kind}")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}; pass an existing YAML file of {kind}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())}); fix the file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (not UTF-8); pass a YAML file of {kind}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path} ({exc.strerror or exc})") from None
    data = {} if data is None else data
    if section is not None and isinstance(data, dict) and section in data:
        data, path = data[section], f"{path} ({section}:)"
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: write a mapping of {kind} (name: value, one per line), "
                          f"not a {type(data).__name__}")
    return data


def validate(model_cls: type[M], data: Any, *, what: str = "", file: str | Path | None = None,
             flag_keys: Iterable[str] = (), lines: Mapping[tuple[str, ...], int] | None = None,
             context: Any = None) -> M:
    """`model_cls.model_validate(data)`, its errors turned into one ConfigError line: the first problem of each
    top-level field, with the value given; `file` is named beside every problem but those of `flag_keys` (values
    given on the command line or by the caller). With `lines` (from key_lines), each problem starts
    `FILE:LINE: key.path:`; `context` reaches the model's validators (e.g. the folder paths resolve against)."""
    try:
        return model_cls.model_validate(data, context=context)
    except ValidationError as exc:
        problems = describe(exc, model_cls, file=file, flag_keys=set(flag_keys), lines=lines)
        raise ConfigError(problems if lines is not None else
                          f"bad {what + ' ' if what else ''}settings: {problems}") from None


def describe(exc: ValidationError, model_cls: type[BaseModel], *, file: str | Path | None = None,
             flag_keys: set[str] = frozenset(), lines: Mapping[tuple[str, ...], int] | None = None) -> str:
    parts, seen = [], set()
    for error in exc.errors():
        loc = tuple(str(p) for p in error["loc"])
        if loc[:1] in seen:  # a union reports every alternative: the first says enough
            continue
        seen.add(loc[:1])
        if lines is not None:
            parts.append(f"{file}:{line_of(lines, loc)}: {_problem(error, loc, model_cls)}")
            continue
        where_from = f" (in {file})" if file is not None and not (loc and loc[0] in flag_keys) else ""
        parts.append(_problem(error, loc, model_cls) + where_from)
    return "; ".join(parts)


def key_lines(path: str | Path) -> dict[tuple[str, ...], int]:
    """The 1-based line of every mapping key and list item of a YAML file, by its path of keys (list indexes as
    text): {("tasks",): 3, ("tasks", "qa"): 4, ("models", "0"): 9}. Call after read_yaml has accepted the file."""
    import yaml

    root = yaml.compose(Path(path).expanduser().read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    found: dict[tuple[str, ...], int] = {}
    stack = [((), root)] if root is not None else []
    while stack:
        where, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                found[(*where, str(key.value))] = key.start_mark.line + 1
                stack.append(((*where, str(key.value)), value))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                found[(*where, str(index))] = item.start_mark.line + 1
                stack.append(((*where, str(index)), item))
    return found


def line_of(lines: Mapping[tuple[str, ...], int], loc: tuple[str, ...]) -> int:
    """The line of `loc`, or of its nearest enclosing key that the file has (a missing key: its parent's); 1 for
    a problem with the file as a whole."""
    for end in range(len(loc), 0, -1):
        if tuple(loc[:end]) in lines:
            return lines[tuple(loc[:end])]
    return 1


def _problem(error: dict, loc: tuple[str, ...], model_cls: type[BaseModel]) -> str:
    where = ".".join(loc)
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        keys = ", ".join(_fields_at(model_cls, loc[:-1]))
        supported = f"; supported keys: {keys}" if keys else ""
        return f"{where}: {message} (unknown key {loc[-1]!r} at {where}{supported})"
    value = error.get("input")
    given = f" (got {_short(value)})" if loc and not isinstance(value, (dict, list, tuple, BaseModel)) else ""
    return f"{where}: {message}{given}" if where else message


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields_at(model_cls: type[BaseModel], path: tuple[str, ...]) -> list[str]:
    """The field names of the model reached by following `path` (list indexes and dict keys are passed over)."""
    current: Any = model_cls
    for part in path:
        model = _model_in(current)
        if model is not None and part in model.model_fields:
            current = model.model_fields[part].annotation
    model = _model_in(current)
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as `list[X] | None` (None when there is none)."""
    if isinstance(annotation, type) and not get_args(annotation) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _field_names(model_cls: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """Keys as fields are named: `max-steps` in a file means `max_steps`, as on the command line."""
    fields = model_cls.model_fields
    return {(k.replace("-", "_") if isinstance(k, str) and k.replace("-", "_") in fields else k): v
            for k, v in data.items()}

