import pytest

from llmopt.train.finetune.data import parse_row
from llmopt.train.finetune.quality import DataReport, EvalOverlapError, check_overlap, deduplicate

LONG = ("the quarterly report lists revenue operating margin and headcount for each region with notes on currency "
        "effects and one off items that changed the result this year")


def row(prompt: str, completion: str = "ok", where: str = "f:1"):
    return parse_row(f'{{"prompt": "{prompt}", "completion": "{completion}"}}', where)


def test_exact_and_near_duplicates_are_dropped_and_counted():
    examples = [row(LONG, where="f:1"), row(LONG.upper() + "  ", where="f:2"),  # same after normalisation
                row(LONG.replace("headcount", "staff"), where="f:3"),  # one word differs: near-duplicate
                row("what is the capital of france", where="f:4")]
    report = DataReport(read=4)
    kept = deduplicate(examples, 0.8, report)
    assert [e.where for e in kept] == ["f:1", "f:4"]
    assert report.exact_duplicates == 1 and report.near_duplicates == 1
    assert report.samples["near_duplicates"] == ["f:3"]


def test_distinct_examples_survive_a_strict_threshold():
    examples = [row(f"question number {i} about a different topic entirely {i * 7}") for i in range(30)]
    assert len(deduplicate(examples, 0.9, DataReport())) == 30


def test_eval_overlap_is_refused_dropped_or_allowed():
    train = [row(LONG, where="t:1"), row("an unrelated training question here", where="t:2")]
    evaluation = [row(LONG.replace("year", "year."), where="e:1")]
    with pytest.raises(EvalOverlapError, match="t:1 ~ e:1"):
        check_overlap(train, evaluation, 0.9, "refuse", DataReport())
    report = DataReport()
    assert [e.where for e in check_overlap(train, evaluation, 0.9, "drop", report)] == ["t:2"]
    assert report.eval_overlap == 1
    allowed = DataReport()
    assert len(check_overlap(train, evaluation, 0.9, "allow", allowed)) == 2 and allowed.overlap_allowed
