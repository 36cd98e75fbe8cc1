import pytest

from llmopt.sql.evaluate import execution_match, order_matters, remove_distinct, results_match
from llmopt.sql.safe import SafeDatabase


@pytest.mark.parametrize("gold, pred, ordered, expected", [
    ([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], False, True),  # row order ignored without ORDER BY
    ([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], True, False),  # ... and counted with it
    ([(1, "a"), (2, "b")], [(1, "a"), (2, "b")], True, True),
    ([(1, "a"), (1, "a"), (2, "b")], [(1, "a"), (2, "b"), (2, "b")], False, False),  # duplicates count
    ([(1, "a"), (1, "a")], [(1, "a")], False, False),
    ([(1, "a"), (2, "b")], [("a", 1), ("b", 2)], False, True),  # a column permutation matches
    ([(1, "a"), (2, "b")], [("a", 1), ("b", 2)], True, True),
    ([(1, "a"), (2, "b")], [("a", 2), ("b", 1)], False, False),  # same columns, rows re-paired: no match
    ([(1, 1, 2), (3, 3, 4)], [(2, 1, 1), (4, 3, 3)], False, True),  # identical columns permute freely
    ([(None, 1), (2, None)], [(2, None), (None, 1)], False, True),  # NULL equals NULL
    ([(None,)], [(0,)], False, False),
    ([(None,)], [("",)], False, False),
    ([(1,)], [(1.0,)], False, True),  # integral floats equal integers, as in Python and the official script
    ([(0.1 + 0.2,)], [(0.3,)], False, True),  # floating-point noise is forgiven...
    ([(2.5,)], [(2.51,)], False, False),  # ... a different number is not
    ([(1,)], [("1",)], False, False),  # text is not a number
    ([], [], False, True),
    ([], [(1,)], False, False),
    ([(1,)], [], False, False),
    ([(1, 2)], [(1,)], False, False),  # a missing column
])
def test_results_match(gold, pred, ordered, expected):
    assert results_match(gold, pred, ordered) is expected


def test_wide_results_with_many_equal_columns_stay_fast():
    gold = [tuple([1] * 8 + [i]) for i in range(50)]
    pred = [tuple([i] + [1] * 8) for i in range(50)]
    assert results_match(gold, pred, False)


def test_order_by_and_distinct_rules():
    assert order_matters("SELECT a FROM t ORDER  BY a")
    assert order_matters("select a from t order\nby a")
    assert not order_matters("SELECT border, byline FROM t")
    assert remove_distinct("SELECT DISTINCT a, count(distinct b) FROM t WHERE c = 'DISTINCT'") == \
        "SELECT   a, count(  b) FROM t WHERE c = 'DISTINCT'"


def test_execution_match_on_a_database(bookshop):
    with SafeDatabase(bookshop) as db:
        gold = "SELECT genre, count(*) FROM books GROUP BY genre"
        assert execution_match(db, gold, "SELECT count(*), genre FROM books GROUP BY genre ORDER BY 1").match
        assert execution_match(db, "SELECT genre FROM books", "SELECT DISTINCT genre FROM books",
                               keep_distinct=True).match is False
        # the official default drops DISTINCT from both queries; keep_distinct=True keeps it
        assert execution_match(db, "SELECT DISTINCT genre FROM books", "SELECT genre FROM books").match
        assert not execution_match(db, "SELECT DISTINCT genre FROM books", "SELECT genre FROM books",
                                   keep_distinct=True).match
        ordered = execution_match(db, "SELECT title FROM books ORDER BY price", "SELECT title FROM books ORDER BY price DESC")
        assert not ordered.match
        broken = execution_match(db, gold, "SELECT nope FROM books")
        assert not broken.match and "no such column" in broken.error
        refused = execution_match(db, gold, "DELETE FROM books")
        assert not refused.match and refused.error.startswith("refused")
        capped = execution_match(db, "SELECT * FROM books", "SELECT * FROM books", row_cap=10)
        assert not capped.match and capped.gold_error  # the gold itself exceeds the cap: not scorable
        empty = execution_match(db, gold, "")
        assert not empty.match and empty.error == "no SQL was produced"
        bad_gold = execution_match(db, "SELECT nope FROM books", "SELECT 1")
        assert bad_gold.gold_error and not bad_gold.match


def test_timeouts_count_as_wrong(bookshop):
    endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    with SafeDatabase(bookshop, timeout_s=0.2) as db:
        outcome = execution_match(db, "SELECT count(*) FROM books", endless)
    assert not outcome.match and "longer than" in outcome.error
