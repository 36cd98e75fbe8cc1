import json

import pytest

from llmopt.errors import InputError
from llmopt.eval.datasets import Paragraph, load_dataset
from llmopt.eval.splits import make_splits

HOTPOT = {"_id": "h1", "question": "Which band had Neil Peart?", "answer": "Rush", "type": "bridge", "level": "hard",
          "supporting_facts": [["Neil Peart", 0], ["Rush", 1]],
          "context": [["Neil Peart", ["Neil Peart was a drummer.", " He played in Rush."]],
                      ["Rush", ["Rush is a band.", " It is Canadian."]],
                      ["Toto", ["Toto is a band."]]]}
MUSIQUE = {"id": "2hop__1_2", "question": "What is the seat of the county of Van Hook?", "answer": "Stanley",
           "answer_aliases": ["Stanley, ND"], "answerable": True,
           "question_decomposition": [{"id": 1, "question": "Van Hook >> county", "answer": "Mountrail County",
                                       "paragraph_support_idx": 1},
                                      {"id": 2, "question": "#1 >> capital", "answer": "Stanley",
                                       "paragraph_support_idx": 0}],
           "paragraphs": [{"idx": 0, "title": "Mountrail County", "paragraph_text": "Its seat is Stanley.",
                           "is_supporting": True},
                          {"idx": 1, "title": "Van Hook", "paragraph_text": "Van Hook is in Mountrail County.",
                           "is_supporting": True},
                          {"idx": 2, "title": "Other", "paragraph_text": "Unrelated.", "is_supporting": False}]}
IRCOT = {"question_id": "i1", "question_text": "When did the director of Hypocrite die?",
         "answers_objects": [{"number": "", "date": {"day": "19", "month": "June", "year": "2013"}, "spans": []}],
         "contexts": [{"idx": 0, "title": "Miguel Morayta", "paragraph_text": "He died on 19 June 2013.",
                       "is_supporting": True}]}
WIKI2 = {**HOTPOT, "_id": "w1", "evidences": [["Neil Peart", "member of", "Rush"]]}
FINANCE = {"financebench_id": "fb1", "company": "Acme", "doc_name": "ACME_10K", "question_type": "novel-generated",
           "question": "What share of stock repurchases fell in Q4?", "answer": "36%. The answer assumes FY2023.",
           "evidence": [{"evidence_text": "...", "doc_name": "ACME_10K", "evidence_page_num": 1}]}


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("row, name", [(HOTPOT, "hotpotqa"), (WIKI2, "2wikimultihopqa"), (MUSIQUE, "musique"),
                                       (IRCOT, "ircot")])
def test_formats_are_detected(tmp_path, row, name):
    ds = load_dataset(write(tmp_path / "d.jsonl", [row]))
    assert ds.name == name and ds.evidence_kind == "paragraph" and len(ds.items) == 1


def test_hotpotqa_paragraphs_and_supporting_facts(tmp_path):
    item = load_dataset(write(tmp_path / "d.jsonl", [HOTPOT])).items[0]
    assert item.answers == ["Rush"] and item.metadata == {"type": "bridge", "level": "hard"}
    assert [p.title for p in item.paragraphs] == ["Neil Peart", "Rush", "Toto"]
    assert item.paragraphs[0].text == "Neil Peart was a drummer. He played in Rush."
    assert item.evidence == [item.paragraphs[0].key, item.paragraphs[1].key]


def test_musique_aliases_and_decomposition(tmp_path):
    item = load_dataset(write(tmp_path / "d.jsonl", [MUSIQUE])).items[0]
    assert item.answers == ["Stanley", "Stanley, ND"]
    assert item.decomposition[1] == {"question": "Mountrail County >> capital", "answer": "Stanley"}  # "#1" filled
    assert len(item.evidence) == 2 and item.demo_row()["chain"] == item.decomposition


def test_ircot_answers_objects(tmp_path):
    item = load_dataset(write(tmp_path / "d.jsonl", [IRCOT])).items[0]
    assert item.answers == ["19 June 2013"] and item.evidence == [item.paragraphs[0].key]


def test_financebench_pages_and_short_answer(tmp_path):
    (tmp_path / "pdfs").mkdir()
    (tmp_path / "pdfs" / "ACME_10K.pdf").write_bytes(b"%PDF-1.4")
    ds = load_dataset(write(tmp_path / "q.jsonl", [FINANCE]), per_document=True)
    item = ds.items[0]
    assert ds.evidence_kind == "page" and ds.documents == [tmp_path / "pdfs" / "ACME_10K.pdf"]
    assert item.evidence == ["ACME_10K#2"]  # the file's page numbers are 0-based
    assert item.answers == ["36%. The answer assumes FY2023.", "36%"]
    assert item.filters == {"source": "ACME_10K.pdf"}
    (tmp_path / "pdfs" / "ACME_10K.pdf").rename(tmp_path / "pdfs" / "OTHER.pdf")
    with pytest.raises(InputError, match="ACME_10K"):
        load_dataset(tmp_path / "q.jsonl")


def test_generic_jsonl_and_bad_rows(tmp_path):
    rows = [{"id": "a", "question": "Q1?", "answers": ["x", "y"], "contexts": ["Plain paragraph."]},
            {"id": "b", "question": "Q2?", "answer": "z", "paragraphs": [{"title": "T", "text": "t", "supporting": 1}]},
            "{not json", {"id": "c", "question": "", "answer": "w"}, {"id": "a", "question": "dup?", "answer": "v"}]
    ds = load_dataset(write(tmp_path / "mine.jsonl", rows))
    assert ds.name == "mine" and [i.id for i in ds.items] == ["a", "b"]
    assert len(ds.skipped) == 3 and "duplicate id a" in ds.skipped[2]
    assert ds.items[1].evidence == [Paragraph("T", "t").key]
    assert {c.chunk_id for c in ds.corpus_chunks()} == {Paragraph("", "Plain paragraph.").key, Paragraph("T", "t").key}


def test_corpus_holds_each_paragraph_once(tmp_path):
    other = {**HOTPOT, "_id": "h2", "question": "Another?"}
    ds = load_dataset(write(tmp_path / "d.jsonl", [HOTPOT, other]))
    chunks = ds.corpus_chunks()
    assert len(chunks) == 3 and chunks[0].text == "Neil Peart\nNeil Peart was a drummer. He played in Rush."


def test_clear_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_dataset(tmp_path / "missing.jsonl")
    with pytest.raises(InputError, match="--format"):
        load_dataset(write(tmp_path / "odd.jsonl", [{"prompt": "x"}]))
    with pytest.raises(InputError, match="no usable questions"):
        load_dataset(write(tmp_path / "bad.jsonl", [{"question": "q", "answers": []}]))


def test_demo_set_ships_its_pool(demo_data):
    ds = load_dataset("demo")
    assert len(ds.items) >= 8 and ds.demos and ds.documents
    assert not {d.question for d in ds.demos} & {i.question for i in ds.items}
    # the files a question needs are its evidence, compared by file name with what retrieval returns
    assert ds.evidence_kind == "document" and all(i.evidence == i.metadata["documents"] for i in ds.items)
    names = {p.name for p in ds.documents}
    assert all(set(i.evidence) <= names for i in ds.items)


def test_evidence_keys():
    from llmopt.eval.datasets import key_for

    assert key_for("c1", "/data/pdfs/ACME_10K.pdf", 3, "page") == "ACME_10K#3"
    assert key_for("c1", "/data/corpus/faq.md", None, "document") == "faq.md"
    assert key_for("c1", "/data/corpus/faq.md", None, "paragraph") == "c1"


# -- splits -----------------------------------------------------------------------------------------------------
def rows(n):
    return [{"id": f"q{i}", "question": f"Question {i}?", "answer": str(i)} for i in range(n)]


def test_splits_are_disjoint_fixed_and_independent_of_order(tmp_path):
    forward = load_dataset(write(tmp_path / "a.jsonl", rows(40)))
    backward = load_dataset(write(tmp_path / "b.jsonl", list(reversed(rows(40)))))
    a = make_splits(forward, demo=5, train=10)
    b = make_splits(backward, demo=5, train=10)
    assert a.sizes() == {"demo": 5, "train": 10, "eval": 25}
    assert [i.id for i in a.demo] == [i.id for i in b.demo] and [i.id for i in a.train] == [i.id for i in b.train]
    ids = [set(i.id for i in part) for part in (a.demo, a.train, a.eval)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    limited = make_splits(forward, demo=5, train=10, limit=3)
    assert [i.id for i in limited.demo] == [i.id for i in a.demo] and len(limited.eval) == 3
    assert make_splits(forward, demo=5, seed=1).demo != a.demo


def test_committed_eval_ids_are_never_demonstrations(tmp_path):
    ds = load_dataset(write(tmp_path / "a.jsonl", rows(20)))
    splits = make_splits(ds, demo=4, eval_ids=["q3", "q1"])
    assert [i.id for i in splits.eval] == ["q3", "q1"] and len(splits.demo) == 4
    assert not {"q1", "q3"} & {i.id for i in splits.demo}
    with pytest.raises(InputError, match="q99"):
        make_splits(ds, eval_ids=["q99"])


def test_a_repeated_question_under_another_id_does_not_leak(tmp_path):
    data = rows(10) + [{"id": "copy", "question": "question 0", "answer": "0"}]
    ds = load_dataset(write(tmp_path / "a.jsonl", data))
    splits = make_splits(ds, demo=10, eval_ids=["q0"])
    assert "copy" in splits.dropped and "copy" not in {i.id for i in splits.demo}
