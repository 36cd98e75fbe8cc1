"""The demo QA set is answerable from the demo corpus, and its demonstration pool never holds a lab question."""

import json

from llmopt.demo import write_demo_data
from llmopt.demo.qa import TEXT_DOCUMENTS, demonstrations, questions
from llmopt.rag.answers import normalize
from llmopt.rag.demos import DemoPool


def test_every_gold_answer_and_hop_is_stated_in_the_corpus(tmp_path):
    write_demo_data(tmp_path, ["corpus", "qa"])
    corpus = tmp_path / "corpus"
    facts = json.loads((corpus / "facts.json").read_text())
    stated = normalize(" ".join(f["statement"] for f in facts["facts"]))
    texts = normalize(" ".join((corpus / name).read_text() for name in TEXT_DOCUMENTS))
    for row in questions() + demonstrations():
        where = texts if set(row["documents"]) <= set(TEXT_DOCUMENTS) else stated
        for answer in [row["answer"]] + [step["answer"] for step in row["chain"]]:
            assert normalize(answer) in where, (row["id"], answer)
    written = [json.loads(line) for line in (tmp_path / "qa" / "questions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in written] == [r["id"] for r in questions()]


def test_pool_and_questions_are_disjoint_and_multi_hop_rows_carry_chains(tmp_path):
    write_demo_data(tmp_path, ["qa"])
    pool = DemoPool.load(tmp_path / "qa" / "demos.jsonl")
    asked = {normalize(q["question"]) for q in questions()}
    assert not asked & {normalize(d.question) for d in pool.demos}
    assert pool.with_chain_count == len(pool.demos)  # nothing left for the model to decompose
    assert all(len(d.chain) >= 2 for d in pool.demos if d.id in {r["id"] for r in demonstrations()
                                                                  if r["kind"] == "multi-hop"})
    assert {q["kind"] for q in questions()} >= {"text", "table", "chart", "picture", "multi-hop"}
