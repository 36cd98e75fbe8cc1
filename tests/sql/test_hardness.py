import json
from collections import Counter
from pathlib import Path

import pytest

from llmopt.sql.hardness import classify, hardness, hardness_from_spider, hardness_from_sql

SPIDER = Path(__file__).resolve().parents[3] / "shared" / "data" / "spider"


@pytest.mark.parametrize("sql, level", [
    ("SELECT count(*) FROM singer", "easy"),
    ("SELECT name FROM singer WHERE age > 30", "easy"),
    ("SELECT name, country FROM singer", "medium"),
    ("SELECT name FROM singer ORDER BY age DESC LIMIT 1", "medium"),
    ("SELECT T1.name FROM a AS T1 JOIN b AS T2 ON T1.id = T2.id WHERE T2.x = 1", "medium"),
    ("SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)", "hard"),
    ("SELECT name FROM a WHERE id NOT IN (SELECT id FROM b)", "hard"),
    ("SELECT x FROM a WHERE y BETWEEN 1 AND 5", "easy"),  # BETWEEN's AND joins no conditions
    ("SELECT name FROM a INTERSECT SELECT name FROM b", "hard"),
    ("SELECT T1.a, count(*) FROM t1 AS T1 JOIN t2 AS T2 ON T1.id = T2.id JOIN t3 AS T3 ON T2.k = T3.k "
     "WHERE T3.x = 'y' GROUP BY T1.a", "extra"),
    ("SELECT a FROM t WHERE b LIKE '%x%' OR c = 1 ORDER BY a", "extra"),
    ("SELECT a FROM t WHERE b LIKE '%x%'", "medium"),
])
def test_hardness_from_sql(sql, level):
    assert hardness_from_sql(sql) == level


def test_classify_follows_spider_thresholds():
    assert classify(1, 0, 0) == "easy"
    assert classify(2, 0, 1) == "medium"
    assert classify(1, 0, 2) == "medium"
    assert classify(3, 0, 2) == "hard"
    assert classify(0, 1, 0) == "hard"
    assert classify(4, 0, 0) == "extra"
    assert classify(1, 1, 1) == "extra"


def test_parsed_form_wins_when_present():
    parsed = {"select": [False, [[3, [0, [0, 0, False], None]]]], "from": {"table_units": [["table_unit", 1]],
              "conds": []}, "where": [], "groupBy": [], "having": [], "orderBy": [], "limit": None,
              "intersect": None, "union": None, "except": None}
    assert hardness_from_spider(parsed) == "easy"
    assert hardness("SELECT a, b FROM t", parsed) == "easy"  # the parsed form decides


@pytest.mark.skipif(not (SPIDER / "dev.json").is_file(), reason="Spider data not available")
def test_text_rules_agree_with_the_official_ones_on_spider_dev():
    items = json.loads((SPIDER / "dev.json").read_text())
    official = [hardness_from_spider(i["sql"]) for i in items]
    ours = [hardness_from_sql(i["query"]) for i in items]
    agreement = sum(a == b for a, b in zip(official, ours)) / len(items)
    assert agreement >= 0.98, Counter((a, b) for a, b in zip(official, ours) if a != b)
    assert Counter(official) == {"easy": 128, "medium": 218, "hard": 83, "extra": 62}
