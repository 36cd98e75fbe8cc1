"""Value grounding on a hand-made database in the shape of Spider's flight_2 (stored values with stray spaces)."""

import os

import pytest

from llmopt.sql import grounding
from llmopt.sql.grounding import (ValueIndex, build_value_index, filters_text, ground_values, grounding_hits,
                                  load_value_index, normalize, question_literals, ungrounded_literals)
from llmopt.sql.safe import SafeDatabase
from llmopt.sql.schema import read_schema


@pytest.fixture
def index(flights) -> ValueIndex:
    with SafeDatabase(flights) as db:
        return build_value_index(db, read_schema(db))


def test_literals_of_a_question():
    strong, weak = question_literals('Which flights leave "Ada" for Aberdeen Regional in 2020?')
    assert strong == ["Ada", "Aberdeen Regional", "2020"]  # "Which" opens the question: not a name
    assert "flights" in weak and "Aberdeen Regional" in weak and "Which" not in weak and "for" not in weak
    assert normalize("  Aberdeen \t") == normalize("aberdeen") == "aberdeen"


def test_aberdeen_is_grounded_to_the_stored_value_with_its_trailing_space(index):
    matches = ground_values("How many flights arrive in Aberdeen?", index)
    assert [(m.table, m.column, m.value) for m in matches] == [("airports", "City", "Aberdeen ")]
    assert matches[0].score == 1.0 and matches[0].literal == "Aberdeen"
    assert "-- airports.City = 'Aberdeen '" in filters_text(matches)


def test_codes_case_and_typos(index):
    codes = {(m.table, m.column, m.value) for m in ground_values("How many flights leave from apg?", index)}
    assert ("airports", "AirportCode", " APG") in codes and ("flights", "SourceAirport", " APG") in codes
    typo = ground_values("Which airlines fly to Aberden?", index)  # a capitalised literal is matched fuzzily
    assert typo and typo[0].value == "Aberdeen " and typo[0].score < 1.0
    assert ground_values("Which airlines fly to aberden?", index) == []  # lower-case words must match exactly
    assert ground_values("How many pilots are there?", index) == []


def test_index_caps_values_per_column_and_skips_numbers(flights):
    with SafeDatabase(flights) as db:
        capped = build_value_index(db, read_schema(db), per_column=2)
    assert len(capped.values[("airports", "City")]) <= 2
    assert ("flights", "FlightNo") not in capped.values and ("airlines", "uid") not in capped.values


def test_the_index_is_cached_per_database_file_and_rebuilt_when_it_changes(flights, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    with SafeDatabase(flights) as db:
        schema = read_schema(db)
        first = load_value_index(db, schema, cache_dir=cache)
        files = list(cache.glob("*.json"))
        assert len(files) == 1
        monkeypatch.setattr(grounding, "build_value_index", lambda *a, **k: pytest.fail("cache not used"))
        assert load_value_index(db, schema, cache_dir=cache).values == first.values
    monkeypatch.undo()
    import sqlite3

    con = sqlite3.connect(flights)
    con.execute("INSERT INTO airports VALUES ('Zurich', 'ZRH', 'Kloten', 'Switzerland', 'CH')")
    con.commit()
    con.close()
    stat = flights.stat()
    os.utime(flights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with SafeDatabase(flights) as db:
        second = load_value_index(db, read_schema(db), cache_dir=cache)
    assert "Zurich" in second.values[("airports", "City")] and len(list(cache.glob("*.json"))) == 2


def test_a_damaged_cache_file_is_rebuilt(flights, tmp_path):
    cache = tmp_path / "cache"
    with SafeDatabase(flights) as db:
        schema = read_schema(db)
        first = load_value_index(db, schema, cache_dir=cache)
        (file,) = cache.glob("*.json")
        file.write_text('{"version": 1, "values": [[')
        assert load_value_index(db, schema, cache_dir=cache).values == first.values
    assert ValueIndex.from_json(file.read_text()).values == first.values  # written back whole


def test_ungrounded_spellings_are_named(index):
    matches = ground_values("How many flights arrive in Aberdeen?", index)
    assert ungrounded_literals("SELECT count(*) FROM airports WHERE City = 'Aberdeen'", matches) == ["Aberdeen"]
    assert ungrounded_literals("SELECT count(*) FROM airports WHERE City = 'aberdeen '", matches) == ["aberdeen "]
    assert ungrounded_literals("SELECT count(*) FROM airports WHERE City = 'Aberdeen '", matches) == []
    assert ungrounded_literals("SELECT count(*) FROM airports WHERE City LIKE '%Aberdeen%'", matches) == []
    assert ungrounded_literals("SELECT count(*) FROM airports WHERE Country = 'Peru'", matches) == []
    assert ungrounded_literals("SELECT count(*) FROM airports WHERE City = 'Aberdeen'", []) == []


def test_grounding_hits_count_gold_literals_found(index):
    matches = ground_values("How many flights arrive in Aberdeen?", index)
    gold = "SELECT count(*) FROM flights AS T1 JOIN airports AS T2 ON T1.DestAirport = T2.AirportCode " \
           "WHERE T2.City = 'Aberdeen '"
    assert grounding_hits(gold, matches) == (1, 1)
    assert grounding_hits(gold.replace("'Aberdeen '", "'Abilene'"), matches) == (0, 1)
    assert grounding_hits("SELECT count(*) FROM flights", matches) == (0, 0)
