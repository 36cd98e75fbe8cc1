import math

import pytest

from llmopt.stats import bootstrap_ci, paired_bootstrap_ci


def test_bootstrap_ci_of_a_mean():
    values = [1.0] * 60 + [0.0] * 40
    mean, low, high = bootstrap_ci(values)
    assert mean == 0.6 and 0.49 < low < 0.6 < high < 0.71
    assert bootstrap_ci(values) == (mean, low, high)  # deterministic for a seed
    narrow = bootstrap_ci(values, confidence=0.5)
    assert low < narrow[1] < narrow[2] < high


def test_degenerate_inputs():
    assert bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0, 1.0)
    assert bootstrap_ci([0.25]) == (0.25, 0.25, 0.25)
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1.0], confidence=1.5)


def test_paired_difference_removes_shared_variance():
    control = [0.0, 1.0] * 50
    treatment = [1.0, 1.0] * 50  # better on exactly the items the control gets wrong
    diff, low, high = paired_bootstrap_ci(treatment, control)
    assert diff == 0.5 and 0.39 < low < 0.5 < high < 0.61
    assert paired_bootstrap_ci(control, control) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap_ci([1.0], [1.0, 0.0])
