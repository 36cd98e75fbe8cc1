"""Shared fixtures: the demo databases (written once per session) and a fake model that knows the gold SQL."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from llmopt.testing import FakeLLM


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    from llmopt.demo.sql import write

    root = tmp_path_factory.mktemp("demo")
    write(root)
    return root / "sql"


@pytest.fixture
def demo(demo_root, tmp_path) -> Path:
    """A private copy of the demo folder: tests may hash and compare its files."""
    target = tmp_path / "sql"
    shutil.copytree(demo_root, target)
    return target


@pytest.fixture
def bookshop(demo) -> Path:
    return demo / "database" / "bookshop" / "bookshop.sqlite"


def _file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def file_hash():
    return _file_hash


def asked_question(prompt: str) -> str:
    return re.findall(r"/\* Question: (.*?) \*/", prompt)[-1]


@pytest.fixture
def gold(demo_root) -> dict[str, str]:
    return {q["question"]: q["query"] for q in json.loads((demo_root / "dev.json").read_text())}


@pytest.fixture
def gold_llm(gold):
    """A fake model that answers every demo question with its gold SQL (after the "SELECT" pre-fill)."""
    return FakeLLM(lambda prompt, params: gold[asked_question(prompt)][len("SELECT"):], name="gold")


FLIGHTS_SCHEMA = """
CREATE TABLE airlines (uid INTEGER PRIMARY KEY, Airline TEXT, Abbreviation TEXT, Country TEXT);
CREATE TABLE airports (City TEXT, AirportCode TEXT PRIMARY KEY, AirportName TEXT, Country TEXT,
                       CountryAbbrev TEXT);
CREATE TABLE flights (Airline INTEGER REFERENCES airlines(uid), FlightNo INTEGER,
                      SourceAirport TEXT REFERENCES airports(AirportCode),
                      DestAirport TEXT REFERENCES airports(AirportCode), PRIMARY KEY (Airline, FlightNo));
CREATE TABLE pilots (pilot_id INTEGER PRIMARY KEY, pilot_name TEXT, rank TEXT, years_of_service INTEGER);
CREATE TABLE maintenanceLog (log_id INTEGER PRIMARY KEY, hangar TEXT, inspector TEXT, logDate TEXT);
"""


def write_flights(path: Path) -> Path:
    """A hand-made database in the shape of Spider's flight_2, with its stray spaces: airports store ' APG' and
    'Aberdeen ' (the values a question spells 'APG' and 'Aberdeen'); two unrelated tables for linking to drop."""
    import sqlite3

    con = sqlite3.connect(path)
    con.executescript(FLIGHTS_SCHEMA)
    con.executemany("INSERT INTO airlines VALUES (?, ?, ?, ?)",
                    [(1, "United Airlines", "UAL", "USA"), (2, "JetBlue Airways", "JetBlue", "USA"),
                     (3, "Delta Airlines", "Delta", "USA")])
    con.executemany("INSERT INTO airports VALUES (?, ?, ?, ?, ?)",
                    [("Aberdeen ", " APG", "Phillips AAF ", "United States ", "US "),
                     ("Aberdeen ", " ABR", "Municipal ", "United States ", "US "),
                     ("Abilene ", " ABI", "Municipal ", "United States ", "US "),
                     ("Ada ", " ADT", "Ada ", "United States ", "US ")])
    con.executemany("INSERT INTO flights VALUES (?, ?, ?, ?)",
                    [(1, 28, " APG", " ASY"), (1, 29, " ASY", " APG"), (2, 44, " ABR", " APG"),
                     (3, 2, " ABI", " ABR"), (3, 7, " ADT", " ABI")])
    con.executemany("INSERT INTO pilots VALUES (?, ?, ?, ?)", [(1, "Ann Lee", "captain", 12), (2, "Bo Park", "first officer", 3)])
    con.executemany("INSERT INTO maintenanceLog VALUES (?, ?, ?, ?)", [(1, "H1", "Kim", "2020-01-01")])
    con.commit()
    con.close()
    return path


@pytest.fixture
def flights(tmp_path) -> Path:
    folder = tmp_path / "database" / "flights"
    folder.mkdir(parents=True)
    return write_flights(folder / "flights.sqlite")
