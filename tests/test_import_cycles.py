"""The top-level parts of src/llmopt (subpackages and top-level modules) import each other without a cycle.

Every import counts, module-level and inside functions: a function-level import still ties two parts together,
it only hides the tie from Python at import time. The package's own __init__.py is left out because its lazy
public API table names everything (as strings, resolved on first use)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "llmopt"


def module_name(path: Path) -> list[str]:
    """src/llmopt/eval/runner.py -> ["llmopt", "eval", "runner"]; a package's __init__.py names the package."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_modules(node: ast.AST, importer: list[str], is_package: bool) -> list[str]:
    """The absolute module names an Import / ImportFrom node refers to."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if not node.level:
        return [node.module or ""]
    # `from . import x` in a/b/c.py resolves against a.b; in a/b/__init__.py against a.b itself
    base = importer[: len(importer) - node.level + (1 if is_package else 0)]
    if node.module:
        return [".".join(base + [node.module])]
    return [".".join(base + [alias.name]) for alias in node.names]


def part_of(module: str) -> str | None:
    bits = module.split(".")
    return bits[1] if len(bits) > 1 and bits[0] == PACKAGE else None


def import_edges(src: Path = SRC) -> dict[tuple[str, str], list[str]]:
    """{(importing part, imported part): ["path:line", ...]} over every .py file under src/llmopt."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        importer = module_name(path)
        if importer == [PACKAGE]:
            continue
        me = importer[1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for target in imported_modules(node, importer, path.name == "__init__.py"):
                other = part_of(target)
                if other and other != me:
                    edges.setdefault((me, other), []).append(f"{path.relative_to(src)}:{node.lineno}")
    return edges


def cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """Strongly connected components with more than one part (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def describe(component: list[str], edges: dict[tuple[str, str], list[str]]) -> str:
    inside = [f"  {a} -> {b}: {', '.join(where[:3])}" + (" ..." if len(where) > 3 else "")
              for (a, b), where in sorted(edges.items()) if a in component and b in component]
    return f"cycle among {', '.join(component)}:\n" + "\n".join(inside)


def test_the_cycle_finder_finds_cycles_and_only_cycles():
    assert cycles({("a", "b"): [], ("b", "c"): [], ("c", "a"): [], ("c", "d"): []}) == [["a", "b", "c"]]
    assert cycles({("a", "b"): [], ("b", "c"): [], ("a", "c"): []}) == []


def test_relative_imports_resolve_like_python():
    tree = ast.parse("from ..report import Table\nfrom . import plots\nfrom .. import stats")
    first, second, third = tree.body
    assert imported_modules(first, ["llmopt", "eval", "report"], False) == ["llmopt.report"]
    assert imported_modules(second, ["llmopt", "lab"], True) == ["llmopt.lab.plots"]
    assert imported_modules(third, ["llmopt", "lab", "stages", "ask"], False) == ["llmopt.lab.stats"]
    assert part_of("llmopt.report") == "report" and part_of("numpy") is None


def test_no_import_cycles_between_top_level_parts():
    edges = import_edges()
    assert edges, "no imports found: is SRC right?"
    found = cycles(edges)
    assert not found, "\n".join(describe(c, edges) for c in found)
