"""llmopt.report.format: numbers written for people (percent with CI, dollars per 1,000 queries, seconds, tokens)."""

import pytest

from llmopt.report.format import percent, seconds, tokens, usd_per_1k


@pytest.mark.parametrize("value, ci, text", [
    (0.6234, [0.5, 0.71], "62% (CI 50–71%)"),
    (0.6234, None, "62%"),
    (None, None, "–"),
    (0.04, None, "4.0%"),
    (0.04, (0.0, 0.13), "4.0% (CI 0–13%)"),
    (0.0996, (0.051, 0.2), "10% (CI 5.1–20%)"),
    (1.0, (1.0, 1.0), "100% (CI 100–100%)"),
    (0.0, None, "0%"),
    (1 / 6, None, "17%"),
    (0.6234, (None, None), "62%"),
])
def test_percent(value, ci, text):
    assert percent(value, ci) == text


@pytest.mark.parametrize("usd_per_query, text", [
    (0.00042, "$0.42 per 1k queries"),
    (8.18e-06, "$0.0082 per 1k queries"),
    (0.0, "$0 per 1k queries"),
    (0.0123, "$12 per 1k queries"),
    (0.00123456, "$1.2 per 1k queries"),
    (1.5, "$1,500 per 1k queries"),
    (None, "–"),
])
def test_usd_per_1k(usd_per_query, text):
    assert usd_per_1k(usd_per_query) == text


@pytest.mark.parametrize("x, text", [
    (1.2345, "1.2 s"), (0.0851, "0.085 s"), (23.4, "23 s"), (125, "2.1 min"), (120, "120 s"), (0.0, "0 s"),
    (7.96, "8.0 s"), (99.6, "100 s"), (3600 * 2.5, "150 min"), (None, "–"),
])
def test_seconds(x, text):
    assert seconds(x) == text


@pytest.mark.parametrize("n, text", [
    (8180, "8.2k tokens"), (512, "512 tokens"), (1, "1 token"), (0, "0 tokens"), (1_260_000, "1.3M tokens"),
    (999.6, "1.0k tokens"), (999_999, "1.0M tokens"), (12_345, "12k tokens"), (None, "–"),
])
def test_tokens(n, text):
    assert tokens(n) == text


def test_reformat_renames_and_writes_the_named_columns_only():
    from llmopt.report import Table, reformat

    table = Table(["configuration", "Acc", "p95 s", "cost $/q", "errors"],
                  [["rag k=3", 1 / 6, 1.2345, 8.18e-06, 0], ["drag", None, "–", 0.00042, 2]], "caption")
    done = reformat(table, {"Acc": ("accuracy", percent), "p95 s": ("p95 latency", seconds),
                            "cost $/q": ("cost", usd_per_1k), "missing": ("x", str)})
    assert done.columns == ["configuration", "accuracy", "p95 latency", "cost", "errors"]
    assert done.rows == [["rag k=3", "17%", "1.2 s", "$0.0082 per 1k queries", 0],
                         ["drag", None, "–", "$0.42 per 1k queries", 2]]
    assert done.caption == "caption" and table.rows[0][1] == 1 / 6  # the original is left as it was


def test_counts_sizes_ratios_and_scores():
    from llmopt.metrics import Score
    from llmopt.report.format import count, megabytes, score, times

    assert (count(134_515_008), count(512), count(2.5e9), count(None)) == ("130M", "512", "2.5B", "–")
    assert (megabytes(269_060_000), megabytes(53_000), megabytes(None)) == ("270 MB", "0.053 MB", "–")
    assert (times(1.934), times(0.5), times(None)) == ("1.9×", "0.50×", "–")
    assert score(Score("f1", 0.4567, 0.3, 0.61, 20)) == "46% (CI 30–61%)" and score(None) == "–"


def test_a_mean_over_no_questions_reads_as_missing():
    nan = float("nan")
    assert (percent(nan), percent(0.5, (nan, nan)), seconds(nan), usd_per_1k(nan), tokens(nan)) == \
        ("–", "50%", "–", "–", "–")
