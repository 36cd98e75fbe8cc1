import json

import numpy as np
import pytest

from llmopt.errors import InputError
from llmopt.sql.examples import (ExamplePool, LexicalEmbedder, SQLExample, load_examples, mask_question,
                                 skeleton_similarity, sql_identifiers)
from llmopt.sql.tokens import skeleton


def test_masking_hides_schema_words_and_values():
    masked = mask_question('How many singers are older than 30 and named "Joe"?', {"singer", "age", "name"})
    assert masked == "How many <mask> are older than <unk> and named <unk>?"
    assert mask_question("List the Song_Name of each song", {"Song_Name"}) == "List the <mask> of each <mask>"


def test_skeletons_and_their_similarity():
    assert skeleton("SELECT T1.name FROM singer AS T1 WHERE T1.age > 30") == \
        ["select", "_", "from", "_", "as", "_", "where", "_", ">", "_"]
    assert skeleton_similarity("SELECT a FROM t WHERE b = 1", "SELECT x FROM y WHERE z = 'q'") == 1.0
    assert skeleton_similarity("SELECT count(*) FROM t", "SELECT a FROM t GROUP BY a HAVING count(*) > 1") < 0.7
    assert sql_identifiers("SELECT T1.name FROM singer AS T1") == {"name", "singer"}


def test_lexical_embedder_is_deterministic_and_normalised():
    vectors = LexicalEmbedder().embed(["how many singers", "how many singers", "list the stadiums"])
    assert np.allclose(vectors[0], vectors[1]) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


POOL = [
    SQLExample("How many students are there?", "SELECT count(*) FROM students", "uni"),
    SQLExample("List the names of all departments.", "SELECT name FROM departments", "uni"),
    SQLExample("How many courses does each department offer?",
               "SELECT dept, count(*) FROM courses GROUP BY dept", "uni"),
    SQLExample("How many books are there?", "SELECT count(*) FROM books", "shop"),
    SQLExample("Which students have a GPA above the average?",
               "SELECT name FROM students WHERE gpa > (SELECT avg(gpa) FROM students)", "uni"),
]


def test_selection_ranks_by_masked_question_and_never_uses_the_own_database():
    pool = ExamplePool(POOL, embedder="lexical")
    chosen = pool.select("How many authors are there?", identifiers={"authors"}, k=2, exclude_db="shop")
    assert [c.example.question for c in chosen][0] == "How many students are there?"
    assert all(c.example.db_id != "shop" for c in chosen) and len(chosen) == 2
    everything = pool.select("How many authors are there?", identifiers={"authors"}, k=10)
    assert len(everything) == 5 and everything[0].question_similarity >= everything[-1].question_similarity
    assert pool.select("anything", identifiers=set(), k=0) == []
    assert pool.select("anything", identifiers=set(), k=3, exclude_db="uni")[0].example.db_id == "shop"


def test_a_similar_preliminary_skeleton_moves_examples_first():
    pool = ExamplePool(POOL, embedder="lexical")
    question = "How many authors are there?"
    plain = pool.select(question, identifiers={"authors"}, k=5)
    nested = pool.select(question, identifiers={"authors"}, k=5,
                         preliminary_sql="SELECT name FROM authors WHERE age > (SELECT avg(age) FROM authors)")
    assert plain[0].example.query.startswith("SELECT count(*)")
    assert nested[0].example.query.endswith("(SELECT avg(gpa) FROM students)")  # skeleton >= threshold
    assert nested[0].query_similarity == 1.0 and plain[0].query_similarity is None
    # below the threshold, the order stays the question-similarity order
    rest = [s.example.question for s in nested[1:]]
    assert rest == [s.example.question for s in plain if s.example.question in rest]


def test_load_examples_formats_and_errors(tmp_path):
    listed = tmp_path / "pool.json"
    listed.write_text(json.dumps([{"question": "q1", "query": "SELECT 1", "db_id": "a"},
                                  {"question": "q2", "SQL": "SELECT 2"}]))
    lines = tmp_path / "pool.jsonl"
    lines.write_text('{"question": "q", "sql": "SELECT 3;", "db_id": "b"}\n\n')
    assert [e.query for e in load_examples(listed)] == ["SELECT 1", "SELECT 2"]
    assert load_examples(lines)[0].to_dict() == {"question": "q", "query": "SELECT 3;", "db_id": "b"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n')
    with pytest.raises(InputError, match="item 1 needs"):
        load_examples(bad)
    with pytest.raises(InputError, match="not found"):
        load_examples(tmp_path / "missing.json")


@pytest.mark.integration
def test_default_embedder_matches_meaning_where_words_differ():
    """MiniLM ranks a count question first for a paraphrase sharing no content word; the lexical one cannot."""
    items = [SQLExample("List the names of all departments.", "SELECT name FROM departments", "u"),
             SQLExample("What is the title of the course with the most credits?",
                        "SELECT title FROM courses ORDER BY credits DESC LIMIT 1", "u"),
             SQLExample("How many students are there?", "SELECT count(*) FROM students", "u")]
    question = "What is the total count of pupils?"
    semantic = ExamplePool(items, embedder="default").select(question, identifiers={"pupils"}, k=3)
    lexical = ExamplePool(items, embedder="lexical").select(question, identifiers={"pupils"}, k=3)
    assert semantic[0].example.question == "How many students are there?"
    assert lexical[0].example.question != "How many students are there?"


# -- examples that do not mislead: masked demonstrations, same-database choice --------------------------------------
FLIGHT_EXAMPLES = [
    ("How many flights arrive in Aberdeen?",
     "SELECT count(*) FROM flights AS T1 JOIN airports AS T2 ON T1.DestAirport = T2.AirportCode "
     "WHERE T2.City = 'Aberdeen '"),
    ("What are the names of airlines in the USA with flights from airport APG?",
     "SELECT DISTINCT T1.Airline FROM airlines AS T1 JOIN flights AS T2 ON T1.uid = T2.Airline "
     "WHERE T1.Country = 'USA' AND T2.SourceAirport = ' APG'"),
    ("Which pilot has the most years of service?", "SELECT pilot_name FROM pilots ORDER BY years_of_service DESC "
                                                    "LIMIT 1"),
    ("List the airport name and country abbrev of every airport, by city.",
     "SELECT AirportName, CountryAbbrev FROM airports ORDER BY City"),
]


def _words(text: str) -> set[str]:
    import re

    return {w.lower() for w in re.findall(r"\w+", text)}


@pytest.mark.parametrize("question,query", FLIGHT_EXAMPLES)
def test_masked_examples_carry_no_identifier_of_their_own_database(flights, question, query):
    from llmopt.sql.examples import mask_example
    from llmopt.sql.linking import natural_name
    from llmopt.sql.schema import read_schema

    schema = read_schema(flights)
    identifiers = {t.name for t in schema.tables} | {c.name for t in schema.tables for c in t.columns}
    masked = mask_example(SQLExample(question, query, "flights"), identifiers)
    words = {w for n in identifiers for w in natural_name(n).split()} - {"of", "in"}  # "airport" of AirportCode
    plurals = words | {w + "s" for w in words}
    for text in (masked.question, masked.query):
        assert not {n.lower() for n in identifiers} & _words(text), text
        assert not plurals & _words(text), text
    # the stored values the example names are masked too
    for value in ("Aberdeen", "USA", "APG"):
        assert value.lower() not in masked.question.lower() + masked.query.lower()
    # the query's shape survives: only names and values changed
    assert skeleton(masked.query) == skeleton(query)


def test_masking_is_consistent_between_question_and_query():
    from llmopt.sql.examples import mask_example

    masked = mask_example(SQLExample("How many singers are from France?",
                                     "SELECT count(*) FROM singer WHERE country = 'France'", "concert"))
    assert masked.question == "How many table_a are from value_a?"
    assert masked.query == "SELECT count(*) FROM table_a WHERE column_a = 'value_a'"
    like = mask_example(SQLExample("Songs with 'Hey' in the name?",
                                   "SELECT name FROM song WHERE lower(name) LIKE '%hey%'", "x"))
    assert like.query == "SELECT column_a FROM table_a WHERE lower(column_a) LIKE '%value_a%'"  # lower() stays


def test_the_prompt_shows_masked_examples_of_other_databases_only(bookshop):
    from llmopt.sql.config import SQLConfig
    from llmopt.sql.pipeline import TextToSQL
    from llmopt.testing import FakeLLM

    pool = ExamplePool([SQLExample(q, s, "flights") for q, s in FLIGHT_EXAMPLES]
                       + [SQLExample("How many books are there?", "SELECT count(*) FROM books", "bookshop")],
                       embedder="lexical", schema_identifiers=lambda db: {"flights", "airports", "airlines"})
    llm = FakeLLM([" count(*) FROM authors"])
    cfg = SQLConfig(strategy="fewshot", shots=5, preliminary=False, embedder="lexical", example_masking=True,
                    examples_same_db="prefer")
    answer = TextToSQL(cfg, pool, llm).ask("How many authors are there?", bookshop)
    prompt = llm.calls[-1][0]
    assert "masked (table_a, column_a, 'value_a')" in prompt
    assert not {"flights", "airports", "airlines", "pilots", "aberdeen"} & _words(prompt)
    assert "SELECT count(*) FROM books;" in prompt  # the database's own example is shown as it is, first
    assert answer.examples[0].example.db_id == "bookshop"
    assert answer.examples[1].example.question in {q for q, _ in FLIGHT_EXAMPLES}  # the record keeps the original


def test_same_database_modes():
    pool = ExamplePool([SQLExample("How many books are there?", "SELECT count(*) FROM books", "shop"),
                        SQLExample("How many singers are there?", "SELECT count(*) FROM singer", "concert"),
                        SQLExample("How many books are there in total?", "SELECT count(*) FROM books", "shop")],
                       embedder="lexical")

    def dbs(mode, **kw):
        return [e.example.db_id for e in pool.select("How many authors are there?", identifiers=set(), k=3,
                                                      db_id="shop", same_db=mode, **kw)]

    assert sorted(dbs("any")) == ["concert", "shop", "shop"]
    assert dbs("prefer") == ["shop", "shop", "concert"] and dbs("only") == ["shop", "shop"]
    assert dbs("exclude") == ["concert"] and dbs("only", exclude_db="shop") == []
    with pytest.raises(InputError, match="prefer"):
        dbs("sometimes")
