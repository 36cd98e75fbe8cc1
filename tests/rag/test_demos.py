import json

import numpy as np
import pytest

from llmopt.errors import InputError
from llmopt.rag.api import Asker
from llmopt.rag.config import AskConfig
from llmopt.rag.demos import DemoPool, generate_chains
from llmopt.testing import FakeLLM

from .conftest import POOL_ROWS


def test_pool_loads_jsonl_skipping_bad_rows(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text("\n".join([json.dumps(POOL_ROWS[0]), "{not json", json.dumps({"question": "no answer"}),
                               json.dumps({"question": "Q?", "answers": ["A1", "A2"]})]) + "\n")
    pool = DemoPool.load(path)
    assert [d.answer for d in pool.demos] == ["Lisbon", "A1"] and len(pool.skipped) == 2
    assert pool.demos[1].id == "4"  # a row without an id is named by its position
    empty = tmp_path / "empty.jsonl"
    empty.write_text("{bad\n")
    with pytest.raises(InputError, match="no usable demonstrations"):
        DemoPool.load(empty)
    with pytest.raises(InputError, match="--demos FILE.jsonl"):
        DemoPool.load(tmp_path / "absent.jsonl")


def test_musique_and_hotpot_rows_are_read_as_they_are():
    musique = {"id": "2hop_1", "question": "Who is the spouse of the director of X?", "answer": "Ann",
               "question_decomposition": [{"question": "Who directed X?", "answer": "Bob"},
                                          {"question": "Who is the spouse of #1?", "answer": "Ann"}],
               "paragraphs": [{"title": "Noise", "paragraph_text": "nothing", "is_supporting": False},
                              {"title": "X", "paragraph_text": "X was directed by Bob.", "is_supporting": True}]}
    hotpot = {"_id": "h1", "question": "Q?", "answer": "yes", "context": [["T", ["One. ", "Two."]]]}
    pool = DemoPool.from_rows([musique, hotpot])
    assert pool.demos[0].chain == (("Who directed X?", "Bob"), ("Who is the spouse of Bob?", "Ann"))
    assert pool.demos[0].documents[0].chunk.text == "X: X was directed by Bob."  # supporting first
    assert pool.demos[1].id == "h1" and pool.demos[1].documents[0].chunk.text == "T: One. Two."
    shown = pool.shown(pool.demos, 1, retriever=None)
    assert len(shown[0].hits) == 1


def test_fixed_selection_is_the_same_for_every_question_and_documents_are_retrieved_once(retriever):
    pool = DemoPool.from_rows(POOL_ROWS)
    first = pool.select("Who founded Harbor Labs?", 2)
    assert first == pool.select("What does Blue Finch build?", 2) == pool.demos[:2]
    assert pool.select("Where was Harbor Labs founded?", 2) == [pool.demos[1], pool.demos[2]]
    pool.shown(first, 2, retriever)
    pool.shown(first, 2, retriever)
    assert len(retriever.queries) == 2


def test_similar_selection_puts_the_most_similar_last():
    vocab = ["harbor", "finch", "porto"]

    def embed(texts):
        vectors = np.array([[t.lower().count(w) for w in vocab] for t in texts], dtype=float) + 1e-3
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    pool = DemoPool.from_rows(POOL_ROWS)
    chosen = pool.select("Blue Finch robots in Finch town?", 2, how="similar", embed=embed)
    assert chosen[-1].id in ("d2", "d5") and {d.id for d in chosen} == {"d2", "d5"}


def test_chain_generation_keeps_only_chains_reaching_the_gold_answer(tmp_path):
    pool = DemoPool.from_rows(POOL_ROWS)
    answers = {"d1": ("Lisbon", (("Which city?", "Lisbon"),)), "d2": ("Oslo", (("Who?", "Oslo"),)),
               "d4": ("120", ()), "d5": ("warehouse robots", (("What?", "robots"),))}
    calls = []

    def solve(demo):
        calls.append(demo.id)
        return answers[demo.id]

    cache = tmp_path / "chains.jsonl"
    chained, stats = generate_chains(pool, solve, cache)
    assert stats == {"tried": 4, "kept": 2, "had_chain": 1}
    assert {d.id for d in chained.demos if d.chain} == {"d1", "d3", "d5"}
    again, _ = generate_chains(pool, solve, cache)  # resumed from the cache: nothing recomputed
    assert len(calls) == 4 and [d.chain for d in again.demos] == [d.chain for d in chained.demos]


def test_iterdrag_generates_missing_chains_with_the_model_once(retriever, pool_file):
    def model(prompt, params):
        chain = prompt.split("<|assistant|>\n", 1)[1]
        if "Question: Where was Harbor Labs founded?" in prompt.split("<|assistant|>")[0][-80:]:
            if not chain:
                return "Follow up: Which city hosts Harbor Labs?"
            if chain.endswith("Intermediate answer:"):
                return "Lisbon"
            return "So the final answer is: Lisbon"
        return "So the final answer is: unknown"

    llm = FakeLLM(model)
    asker = Asker(AskConfig(strategy="iterdrag", k=1, m=4, demos=str(pool_file)), llm=llm, retriever=retriever)
    stats = asker.prepare_chains()
    assert stats == {"tried": 4, "kept": 1, "had_chain": 1}
    assert dict((d.id, d.chain) for d in asker.pool.demos)["d1"] == (("Which city hosts Harbor Labs?", "Lisbon"),)
    before = len(llm.calls)
    asker.ask("Who founded Blue Finch Robotics?")
    assert len(llm.calls) == before + 1  # chains are ready: only the question's own call
    assert "Follow up: Which city hosts Harbor Labs?\nIntermediate answer: Lisbon" in llm.calls[-1][0]
