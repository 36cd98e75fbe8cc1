"""Chart and picture images for the demo corpus (matplotlib, deterministic PNG bytes)."""

from __future__ import annotations

import io


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 13, "svg.hashsalt": "llmopt", "font.family": "DejaVu Sans"})
    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150, metadata={"Software": None})
    return buffer.getvalue()


def bar_chart(title: str, labels: list[str], values: list[int], unit: str) -> bytes:
    """A bar chart whose values are printed on the bars: the numbers exist only as pixels."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    bars = ax.bar(labels, values, color="#4C78A8")
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=3, fontsize=13)
    ax.set_title(title, fontsize=14)
    ax.set_ylabel(unit)
    ax.set_ylim(0, max(values) * 1.18)
    ax.tick_params(axis="x", labelsize=11)
    ax.set_yticks([])  # axis ticks would print other numbers; the bar labels carry the values
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    data = _png(fig)
    plt.close(fig)
    return data


def org_chart(people: list[tuple[str, str]]) -> bytes:
    """A 2x2 grid of boxes, each with a role above a name, under the company name."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.6))
    ax.axis("off")
    ax.text(0.5, 0.93, "Veltora Dynamics - leadership", ha="center", fontsize=16, weight="bold")
    for i, (role, name) in enumerate(people):
        x, y = 0.27 + 0.46 * (i % 2), 0.62 - 0.4 * (i // 2)
        ax.add_patch(plt.Rectangle((x - 0.21, y - 0.13), 0.42, 0.28, fill=False, lw=1.5))
        ax.text(x, y + 0.04, role, ha="center", fontsize=12)
        ax.text(x, y - 0.07, name, ha="center", fontsize=14, weight="bold")
    data = _png(fig)
    plt.close(fig)
    return data
