"""`load_project(path)`: llmopt.yaml -> a validated Project, or one ConfigError line `FILE:LINE: key.path: problem`."""

from __future__ import annotations

from pathlib import Path

from ..config import key_lines, line_of, read_yaml, validate
from ..errors import ConfigError
from .config import Project

PROJECT_FILE = "llmopt.yaml"


def load_project(path: str | Path) -> Project:
    """The project file at `path` (a folder means its llmopt.yaml); relative paths inside resolve against its
    folder. Unknown keys, wrong types, missing files and bad model specs are refused before anything runs."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / PROJECT_FILE
    data = read_yaml(path, what="project")
    lines = key_lines(path)
    project = validate(Project, data, what="project", file=path, lines=lines,
                       context={"base": path.resolve().parent})
    _check_objective(project, path, lines)
    return project


def _check_objective(project: Project, path: Path, lines: dict[tuple[str, ...], int]) -> None:
    """The objective's metric must be one a task is scored by."""
    if project.objective is None:
        return
    metrics = project.tasks.metrics()
    metric = project.objective.metric
    if metric not in metrics:
        where = ("objective", "maximize") if project.objective.maximize else ("objective", "cheapest_reaching",
                                                                               "metric")
        raise ConfigError(f"{path}:{line_of(lines, where)}: {'.'.join(where)}: no task is scored by {metric!r}; "
                          f"use one of the tasks' metrics: {', '.join(metrics)}")
