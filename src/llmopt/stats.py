"""Confidence intervals, one method for every report: percentile bootstrap of a mean and of a paired difference.

The lab, `llmopt eval`, `llmopt sql eval`, fine-tuning and distillation all take their intervals from here
(directly, or through llmopt.metrics.score), so "acc [low, high]" means the same thing in every report. Pure
functions over lists of numbers (0/1 correctness, scores, latencies); deterministic for a given seed, so a report
regenerated from the same results shows the same intervals. An empty list gives NaN for the mean and both bounds:
there is nothing to estimate, and a NaN cannot pass for a measured zero.

    mean, low, high = bootstrap_ci([1, 0, 1, 1])
    diff, low, high = paired_bootstrap_ci(system_b, system_a)    # b - a on the same questions
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_RESAMPLES = 2000


def _check(values: Sequence[float], confidence: float) -> np.ndarray:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return np.asarray(list(values), dtype=np.float64)


def bootstrap_ci(values: Sequence[float], *, confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
                 seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its percentile-bootstrap confidence interval.

    An empty list gives NaNs (there is nothing to estimate); one value gives a zero-width interval."""
    data = _check(values, confidence)
    if data.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    # resample indices in one matrix: fast enough for a few thousand items and resamples
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(data.mean()), float(low), float(high)


def paired_bootstrap_ci(treatment: Sequence[float], control: Sequence[float], *, confidence: float = 0.95,
                        resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """(difference, low, high) of mean(treatment - control) over the same items, resampled as pairs.

    Pairing removes the between-item variance both systems share, so the interval is the one to quote when
    saying "B beats A by x points"."""
    a, b = _check(treatment, confidence), _check(control, confidence)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same items: {a.size} treatment vs {b.size} control values")
    return bootstrap_ci(a - b, confidence=confidence, resamples=resamples, seed=seed)
