"""Candidate selection beyond a vote (selection: vote+check) on the hand-made flights database."""

import pytest

from llmopt.sql.config import SQLConfig
from llmopt.sql.examples import ExamplePool, SQLExample
from llmopt.sql.linking import SchemaLink
from llmopt.sql.pipeline import TextToSQL, check_candidate
from llmopt.sql.schema import read_schema
from llmopt.sql.vote import vote, vote_checked
from llmopt.testing import FakeLLM

QUESTION = "How many flights arrive in Aberdeen?"
RIGHT = (" count(*) FROM flights AS T1 JOIN airports AS T2 ON T1.DestAirport = T2.AirportCode "
         "WHERE T2.City = 'Aberdeen '")


@pytest.fixture
def pool():
    return ExamplePool([SQLExample("How many singers are there?", "SELECT count(*) FROM singer", "concert")],
                       embedder="lexical")


def sc_config(**settings) -> SQLConfig:
    return SQLConfig(**{"strategy": "fewshot-sc", "samples": 3, "shots": 1, "preliminary": False, "repairs": 0,
                        "embedder": "lexical", "schema_linking": "embed", "link_tables": 2,
                        "value_grounding": True, **settings})


def test_vote_checked_votes_among_candidates_that_pass():
    keys = ["a", "b", "a", None]
    assert vote_checked(keys, [False, True, False, True], [None] * 4) == (1, [0, 1, 0, 0])
    assert vote_checked(keys, [False] * 4, [None] * 4) == vote(keys)  # none passed: the plain vote
    # equal votes: the likelier group wins; without likelihoods, the earliest (vote order)
    assert vote_checked(["a", "b"], [True, True], [-0.9, -0.2])[0] == 1
    assert vote_checked(["a", "b"], [True, True], [None, None])[0] == 0
    assert vote_checked(["a", "b", "b"], [True] * 3, [-0.1, -0.9, -0.5])[0] == 2  # b has more votes; its likeliest


def test_check_rejects_a_candidate_that_names_an_unlinked_column(flights):
    schema = read_schema(flights)
    link = SchemaLink(["airports", "flights"], {"airports": ["City", "AirportCode"],
                                                "flights": ["FlightNo", "DestAirport"]})
    assert check_candidate("SELECT" + RIGHT, schema, link, []) == []
    problems = check_candidate("SELECT T2.AirportName FROM flights AS T1 JOIN airports AS T2 "
                               "ON T1.DestAirport = T2.AirportCode", schema, link, [])
    assert problems == ["column AirportName is not in the linked schema"]
    assert check_candidate("SELECT pilot_name FROM pilots", schema, link, []) == [
        "column pilot_name is not in the linked schema", "table pilots is not in the linked schema"]
    assert check_candidate("", schema, link, []) == ["no query"]


def test_selection_prefers_the_linked_query_the_vote_would_lose(flights, pool):
    replies = {0: " max(years_of_service) FROM pilots", 1: RIGHT,
               2: " years_of_service FROM pilots WHERE pilot_id = 1"}
    voted = TextToSQL(sc_config(), pool, FakeLLM(lambda p, params: replies[params.seed])).ask(QUESTION, flights)
    assert voted.rows == [[12]]  # two wrong queries agree and outvote the right one
    checked = TextToSQL(sc_config(selection="vote+check"), pool,
                        FakeLLM(lambda p, params: replies[params.seed])).ask(QUESTION, flights)
    assert checked.rows == [[3]] and [c.chosen for c in checked.candidates] == [False, True, False]
    assert checked.candidates[0].violations and not checked.candidates[1].violations
    assert [c.votes for c in checked.candidates] == [0, 1, 0]


def test_selection_prefers_the_stored_spelling_of_a_value(flights, pool):
    wrong = RIGHT.replace("'Aberdeen '", "'Aberdeen'")
    replies = {0: wrong, 1: wrong, 2: RIGHT}
    llm = FakeLLM(lambda p, params: replies[params.seed])
    checked = TextToSQL(sc_config(selection="vote+check"), pool, llm).ask(QUESTION, flights)
    assert checked.rows == [[3]] and checked.candidates[2].chosen
    assert "'Aberdeen' is not a stored value" in checked.candidates[0].violations[0]
    assert "-- airports.City = 'Aberdeen '" in llm.calls[0][0]  # the model was shown the stored spelling
    assert [(m.table, m.column, m.value) for m in checked.grounded] == [("airports", "City", "Aberdeen ")]


def test_ties_go_to_the_likelier_candidate(flights, pool):
    # the fake engine's mean logprob grows with the completion's length: the longer query is the likelier
    replies = {0: " count(*) FROM flights", 1: " count(*) FROM flights WHERE FlightNo > 10 AND FlightNo < 100",
               2: " nope"}
    llm = FakeLLM(lambda p, params: replies[params.seed])
    checked = TextToSQL(sc_config(selection="vote+check"), pool, llm).ask(QUESTION, flights)
    assert all(params.logprobs for _, params in llm.calls)
    assert checked.candidates[1].chosen and checked.candidates[1].logprob > checked.candidates[0].logprob
    plain_llm = FakeLLM(lambda p, params: replies[params.seed])
    plain = TextToSQL(sc_config(), pool, plain_llm).ask(QUESTION, flights)
    assert plain.candidates[0].chosen and not any(params.logprobs for _, params in plain_llm.calls)


def test_the_repair_turn_restates_the_linked_schema(flights):
    llm = FakeLLM([" nope FROM flights", " count(*) FROM flights"])
    cfg = SQLConfig(strategy="zero", repairs=1, schema_linking="embed", link_tables=1, embedder="lexical",
                    selection="vote+check")
    answer = TextToSQL(cfg, llm=llm).ask("How many flights are there?", flights)
    assert answer.ok and answer.rows == [[5]]
    repair = llm.calls[1][0]
    assert "no such column: nope" in repair and "Use only these tables and columns:\nflights(" in repair
    assert "pilots(" not in repair
