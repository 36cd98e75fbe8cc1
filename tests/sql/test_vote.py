from llmopt.sql.vote import result_key, vote


def test_result_key_ignores_row_and_column_order_but_not_content():
    base = result_key([(1, "a"), (2, "b")])
    assert result_key([(2, "b"), (1, "a")]) == base
    assert result_key([("a", 1), ("b", 2)]) == base
    assert result_key([(1.0, "a"), (2, "b")]) == base
    assert result_key([(1, "a"), (2, "c")]) != base
    assert result_key([(1, "a"), (2, "b"), (2, "b")]) != base
    assert result_key([]) == "empty"


def test_vote_majority_ties_and_failures():
    assert vote(["x", "y", "y"]) == (1, [1, 2, 2])
    assert vote(["x", "y"]) == (0, [1, 1])  # a tie goes to the earliest candidate (the greedy one)
    assert vote([None, "y", None, "y", "z"]) == (1, [0, 2, 0, 2, 1])
    assert vote([None, None]) == (None, [0, 0])
    assert vote([]) == (None, [])
