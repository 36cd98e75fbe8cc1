"""Numbers written for people: percentages with their confidence interval, dollars per 1,000 queries, seconds and
token counts to two significant figures. Pure functions; "–" stands for a value that is missing.

    percent(0.6234, (0.5, 0.71))  -> "62% (CI 50–71%)"
    usd_per_1k(8.18e-06)          -> "$0.0082 per 1k queries"
    seconds(125)                  -> "2.1 min"
    tokens(8180)                  -> "8.2k tokens"
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MISSING = "–"
MINUTE_FROM_S = 120  # up to two minutes a duration reads best in seconds


def absent(x) -> bool:
    """Nothing to show: None, or NaN (a mean over no questions)."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def significant(x: float, figures: int = 2) -> str:
    """x to `figures` significant figures, written out (no exponent; thousands separated): 0.0851 -> "0.085",
    7.96 -> "8.0", 1500 -> "1,500"."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    decimals = figures - 1 - math.floor(math.log10(abs(x)))
    rounded = round(x, decimals)
    if rounded != 0:  # rounding may have gained a digit (99.6 -> 100): count the figures again
        decimals = figures - 1 - math.floor(math.log10(abs(rounded)))
        rounded = round(x, decimals)
    return f"{rounded:,.{max(decimals, 0)}f}"


def _percent_number(fraction: float) -> str:
    """A fraction as a percentage number: whole percent from 10% up, one decimal below (4.0), 0 for nothing."""
    value = 100 * fraction
    if value == 0:
        return "0"
    return f"{value:.1f}" if abs(round(value, 1)) < 10 else f"{value:.0f}"


def percent(value: float | None, ci: Sequence[float | None] | None = None) -> str:
    """0.6234, (0.5, 0.71) -> "62% (CI 50–71%)"; without an interval just "62%"; None -> "–"."""
    if absent(value):
        return MISSING
    text = f"{_percent_number(value)}%"
    if ci is not None and len(ci) == 2 and not absent(ci[0]) and not absent(ci[1]):
        text += f" (CI {_percent_number(ci[0])}–{_percent_number(ci[1])}%)"
    return text


def usd_per_1k(usd_per_query: float | None) -> str:
    """Dollars per query as dollars per 1,000 queries, two significant figures: 8.18e-06 -> "$0.0082 per 1k
    queries"."""
    if absent(usd_per_query):
        return MISSING
    return f"${significant(1000 * usd_per_query)} per 1k queries"


def seconds(x: float | None) -> str:
    """A duration to two significant figures: "0.085 s", "23 s", "120 s", then minutes: "2.1 min"."""
    if absent(x):
        return MISSING
    if x > MINUTE_FROM_S:
        return f"{significant(x / 60)} min"
    return f"{significant(x)} s"


def tokens(n: float | None) -> str:
    """A token count: "512 tokens", then two significant figures in thousands or millions: "8.2k tokens"."""
    if absent(n):
        return MISSING
    count = round(n)
    if abs(count) < 1000:
        return f"{count} token" + ("" if count == 1 else "s")
    for scale, unit in ((1e3, "k"), (1e6, "M")):
        text = significant(count / scale)
        if unit == "M" or float(text.replace(",", "")) < 1000:  # 999,999 is "1.0M", not "1,000k"
            return f"{text}{unit} tokens"
    raise AssertionError("unreachable")


def count(n: float | None) -> str:
    """A large count (parameters) to two significant figures: 134515008 -> "130M", 512 -> "512"."""
    if absent(n):
        return MISSING
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{significant(n / scale)}{unit}"
    return str(round(n))


def megabytes(n_bytes: float | None) -> str:
    """A size on disk in MB (10^6 bytes) to two significant figures: 269060000 -> "270 MB"."""
    return MISSING if absent(n_bytes) else f"{significant(n_bytes / 1e6)} MB"


def times(ratio: float | None) -> str:
    """A ratio as a factor: 1.934 -> "1.9×"."""
    return MISSING if absent(ratio) else f"{significant(ratio)}×"


def score(value) -> str:
    """A metrics.Score (value, ci_low, ci_high) as a percentage with its CI; None -> "–"."""
    return MISSING if value is None or absent(value.value) else percent(value.value, (value.ci_low, value.ci_high))
