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
