import pytest

from llmopt.index.fusion import rrf


def test_rrf_scores_are_sums_of_reciprocal_ranks():
    fused = rrf({"dense": ["a", "b", "c"], "sparse": ["c", "a"]}, k=60)
    scores = {doc: score for doc, score, _ in fused}
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62)
    assert [d for d, _, _ in fused] == ["a", "c", "b"]
    assert dict((d, r) for d, _, r in fused)["c"] == {"dense": 3, "sparse": 1}


def test_rrf_ties_keep_first_seen_order_and_duplicates_count_once():
    fused = rrf({"x": ["a", "b", "a"], "y": ["b", "a"]}, k=0)
    assert [d for d, _, _ in fused] == ["a", "b"]  # both 1/1 + 1/2: a was seen first
    assert fused[0][1] == pytest.approx(1.5)


def test_rrf_weights_and_bad_k():
    fused = rrf({"x": ["a"], "y": ["b"]}, k=1, weights={"y": 3.0})
    assert [d for d, _, _ in fused] == ["b", "a"]
    with pytest.raises(ValueError):
        rrf({"x": ["a"]}, k=-1)
