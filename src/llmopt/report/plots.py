"""Small PNG plots for reports (matplotlib, headless): grouped bars, scatter with a Pareto frontier, parity."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def pyplot():
    """matplotlib.pyplot on the headless Agg backend (imported on first use: matplotlib is slow to import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_plot(fig, path: Path, *, title: str = "", xlabel: str = "", ylabel: str = "", grid: bool = False) -> Path:
    """Label the figure's axes, lay it out, write it as a PNG at `path` (folders made) and free it."""
    ax = fig.axes[0]
    if title:
        ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if grid:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    pyplot().close(fig)
    return path


def bar_chart(path: Path, labels: Sequence[str], series: dict[str, Sequence[float]], title: str, ylabel: str) -> Path:
    """Grouped bars: one group per label, one bar per series."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(labels) + 2), 3.6), dpi=110)
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [x + i * width - 0.4 + width / 2 for x in range(len(labels))]
        ax.bar(xs, values, width=width, label=name)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
    if len(series) > 1:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return save_plot(fig, path, title=title, ylabel=ylabel)


def scatter(path: Path, points: dict[str, tuple[Sequence[float], Sequence[float]]], title: str, xlabel: str,
            ylabel: str, logx: bool = False, frontier: bool = False) -> Path:
    """Scatter per series; with frontier=True, the upper-left Pareto line over all points."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    everything = []
    for name, (xs, ys) in points.items():
        ax.scatter(xs, ys, label=name, s=22)
        everything += list(zip(xs, ys))
    if frontier and everything:
        best, line = float("-inf"), []
        for x, y in sorted(everything):
            if y > best:
                best = y
                line.append((x, y))
        ax.plot([p[0] for p in line], [p[1] for p in line], "k--", lw=1, label="frontier")
    if logx:
        ax.set_xscale("log")
    ax.legend(fontsize=7)
    return save_plot(fig, path, title=title, xlabel=xlabel, ylabel=ylabel, grid=True)


def parity(path: Path, points: dict[str, tuple[Sequence[float], Sequence[float]]], title: str, xlabel: str,
           ylabel: str) -> Path:
    """Predicted (x) against measured (y) per series, with the y = x line: points on it were predicted exactly."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.2), dpi=110)
    values = [v for xs, ys in points.values() for v in list(xs) + list(ys)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = 0.05 * (high - low or 1.0)
    ax.plot([low - pad, high + pad], [low - pad, high + pad], "k--", lw=1, label="y = x")
    for name, (xs, ys) in points.items():
        ax.scatter(xs, ys, label=name, s=26)
    ax.set_xlim(low - pad, high + pad)
    ax.set_ylim(low - pad, high + pad)
    ax.legend(fontsize=7)
    return save_plot(fig, path, title=title, xlabel=xlabel, ylabel=ylabel, grid=True)


def pareto_plot(points: Sequence[dict], path: Path, *, x_label: str, y_label: str, title: str) -> Path:
    """Quality (y, with its CI as an error bar) against a cost (x) per configuration: the Pareto front joined by a
    step line and labelled, the chosen configuration starred. points: dicts with label, x, y, y_low, y_high,
    on_front, chosen. The x axis is logarithmic when the values span more than 100x."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for on_front, colour, name in ((False, "#9aa7b8", "other configurations"), (True, "#1f5fbf", "Pareto front")):
        group = [p for p in points if bool(p.get("on_front")) == on_front]
        if group:
            ax.errorbar([p["x"] for p in group], [p["y"] for p in group], yerr=_error_bars(group), fmt="o",
                        color=colour, ecolor=colour, elinewidth=1, capsize=2, markersize=5, alpha=0.9, label=name)
    front = sorted((p for p in points if p.get("on_front")), key=lambda p: (p["x"], p["y"]))
    if len(front) > 1:
        ax.step([p["x"] for p in front], [p["y"] for p in front], where="post", color="#1f5fbf", lw=1.2)
    for p in front:
        ax.annotate(p["label"], (p["x"], p["y"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    for p in (p for p in points if p.get("chosen")):
        ax.scatter([p["x"]], [p["y"]], marker="*", s=260, color="#d62728", edgecolor="black", zorder=5,
                   label=f"chosen: {p['label']}")
    xs = [p["x"] for p in points if p.get("x") is not None]
    if xs and min(xs) > 0 and max(xs) / min(xs) > 100:
        ax.set_xscale("log")
    if points:
        ax.legend(fontsize=7, loc="best")
    return save_plot(fig, path, title=title, xlabel=x_label, ylabel=y_label, grid=True)


def _error_bars(points: Sequence[dict]) -> list[list[float]] | None:
    """Matplotlib's [[below], [above]] from each point's CI (0 where a point has none)."""
    if not any(p.get("y_low") is not None and p.get("y_high") is not None for p in points):
        return None
    below = [max(0.0, p["y"] - p["y_low"]) if p.get("y_low") is not None else 0.0 for p in points]
    above = [max(0.0, p["y_high"] - p["y"]) if p.get("y_high") is not None else 0.0 for p in points]
    return [below, above]
