"""generate_questions with a scripted generator over a tiny corpus: every filter rejects its case and counts it,
accepted rows load as a dataset with evidence keys, the pools are disjoint, and a re-run calls nothing again."""

import json

import pytest

from llmopt.datagen import GenerateConfig, generate_questions
from llmopt.errors import ConfigError, EndpointError, InputError
from llmopt.eval.datasets import load_dataset
from llmopt.jsonl import read_jsonl
from llmopt.testing import FakeLLM


def run(chunks, generator, out, **settings):
    settings = {"kinds": ["single", "table", "picture"], "count": 10, "embedder": "hash:256", **settings}
    return generate_questions(chunks=chunks, llm=generator, out=str(out), **settings)


def test_filters_keep_good_questions_and_count_each_rejection(chunks, generator, tmp_path):
    result = run(chunks, generator, tmp_path / "gen")
    assert result.accepted == {"single": 1, "table": 1, "picture": 1}
    assert result.rejected == {"malformed": 1, "answer_in_question": 1, "duplicate": 1, "round_trip": 1}
    assert result.tried == 7 and result.resumed == 0
    kept = {row["question"]: row for row in result.rows}
    assert set(kept) == {"Who founded Harbor Labs?", "What was the revenue in 2024?",
                         "How many units were shipped to the North region?"}
    row = kept["What was the revenue in 2024?"]
    assert row["answers"] == ["61 million euros"] and row["evidence"] == ["table-4"] and row["chunk_ids"] == ["table-4"]
    assert row["pages"] == [4] and row["kind"] == "table" and row["hops"] == 1 and row["generated"] is True
    assert row["generator"] == generator.model_id and row["source"] == "docs/report.pdf"
    log = read_jsonl(tmp_path / "gen" / "candidates.jsonl")
    reasons = {r["reason"] for r in log if r["status"] == "rejected"}
    assert reasons == {"malformed", "answer_in_question", "duplicate", "round_trip"}
    assert next(r for r in log if r.get("reason") == "round_trip")["round_trip"] == "Lisbon"


def test_accepted_rows_load_as_a_dataset_with_evidence(chunks, generator, tmp_path):
    result = run(chunks, generator, tmp_path / "gen", eval_size=3, demo_size=0, train_size=0, count=None)
    dataset = load_dataset(result.files["eval"])
    assert len(dataset.items) == 3 and not dataset.skipped
    assert dataset.evidence_kind == "paragraph"            # chunk ids: the key llmopt eval qa compares hits with
    assert {tuple(i.evidence) for i in dataset.items} == {("labs-1",), ("table-4",), ("picture-5",)}
    assert {i.metadata["kind"] for i in dataset.items} == {"single", "table", "picture"}
    summary = json.loads((tmp_path / "gen" / "generated.json").read_text())
    assert summary["generated"] is True and summary["generator"] == generator.model_id
    assert summary["rejected"]["round_trip"] == 1 and summary["pools"] == {"eval": 3, "demos": 0, "train": 0}
    assert len(summary["sample"]) == 3 and summary["settings"]["duplicate_threshold"] == 0.92
    assert "not checked by a person" in summary["quality"]


def test_page_evidence_keys(chunks, generator, tmp_path):
    result = run(chunks, generator, tmp_path / "gen", evidence="page", eval_size=3, count=None)
    dataset = load_dataset(result.files["eval"])
    assert dataset.evidence_kind == "page"
    assert {tuple(i.evidence) for i in dataset.items} == {("labs#1",), ("report#4",), ("report#5",)}
    chunks[0].page = None
    with pytest.raises(ConfigError, match="needs a page on every chunk"):
        run(chunks, generator, tmp_path / "gen2", evidence="page")


def test_pools_are_disjoint_and_sized(chunks, tmp_path):
    counter = iter(range(10**6))

    def varied(prompt, params):  # a different, well-formed question each time; the round trip always agrees
        if "quiz questions" in prompt:
            n = next(counter)
            return f"Question: What is item number {n} about {'xyzw'[n % 4] * (n + 1)}?\nAnswer: thing"
        return "thing"

    many = [type(chunks[0])(f"c{i}", f"Paragraph {i} tells a long story about a thing in the rivers.",
                            f"docs/d{i}.md", 1) for i in range(12)]
    result = run(many, FakeLLM(varied), tmp_path / "gen", kinds=["single"], count=9, demo_size=2, train_size=3)
    assert result.rejected == {} and result.tried == 9
    pools = {name: load_dataset(path).items for name, path in result.files.items() if name in result.pools}
    assert {name: len(items) for name, items in pools.items()} == {"eval": 4, "demos": 2, "train": 3}
    ids = [i.id for items in pools.values() for i in items]
    assert len(ids) == len(set(ids)) == 9
    assert result.shared_evidence == 0   # one question per chunk: no demo/train row shares an eval chunk


def test_resume_does_not_call_the_generator_again(chunks, generator, tmp_path):
    first = run(chunks, generator, tmp_path / "gen")
    calls = len(generator.calls)
    assert calls == 7 + 4   # a generation per candidate, a round trip for the four that passed the cheap filters
    again = FakeLLM(lambda prompt, params: pytest.fail("called again"), name="qgen")
    second = run(chunks, again, tmp_path / "gen")
    assert second.resumed == 7 and again.calls == []
    assert second.rows == first.rows and second.rejected == first.rejected
    by_page = run(chunks, again, tmp_path / "gen", evidence="page")    # a resumed row takes this run's keys
    assert {tuple(r["evidence"]) for r in by_page.rows} == {("labs#1",), ("report#4",), ("report#5",)}


def test_resume_continues_where_a_run_stopped(chunks, generator, tmp_path):
    run(chunks, generator, tmp_path / "gen", max_candidates=3)
    before = len(generator.calls)
    result = run(chunks, generator, tmp_path / "gen")
    assert result.resumed == 3 and result.tried == 7
    new_generations = [p for p, _ in generator.calls[before:] if "quiz questions" in p]
    assert len(new_generations) == 4


def test_stops_at_the_count(chunks, generator, tmp_path):
    result = run(chunks, generator, tmp_path / "gen", count=1, kinds=["table"])
    assert result.tried == 1 and len(result.rows) == 1 and result.pools["eval"] == result.rows
    assert result.notes == []


def test_too_few_accepted_says_so_and_shrinks_the_pools(chunks, generator, tmp_path):
    result = run(chunks, generator, tmp_path / "gen", count=10)
    assert sum(len(p) for p in result.pools.values()) == 3
    assert any("kept 3 of the 10" in note for note in result.notes)


def test_an_unreachable_endpoint_fails_with_its_one_line_error(chunks, tmp_path):
    from llmopt.models.registry import get_model

    llm = get_model("openai:m?retries=0&timeout=2@http://127.0.0.1:9/v1", cache=False)
    with pytest.raises(EndpointError) as info:
        run(chunks, llm, tmp_path / "gen")
    assert "\n" not in str(info.value) and "127.0.0.1:9" in str(info.value)
    assert read_jsonl(tmp_path / "gen" / "candidates.jsonl") == []   # nothing recorded as a rejection


def test_bad_settings_are_one_line_errors(chunks, generator, tmp_path):
    with pytest.raises(ConfigError, match="unknown kind"):
        run(chunks, generator, tmp_path, kinds=["single", "audio"])
    with pytest.raises(ConfigError, match="do not fit count"):
        GenerateConfig.make(count=5, eval_size=4, demo_size=2)
    with pytest.raises(ConfigError, match="nothing to generate from"):
        generate_questions(out=str(tmp_path))
    with pytest.raises(InputError, match="no chunk can make a table question"):
        run([c for c in chunks if c.type == "text"], generator, tmp_path, kinds=["table"])


def test_multi_hop_questions_bridge_two_chunks(chunks, tmp_path):
    def bridge(prompt, params):
        last = prompt.rsplit("<|user|>", 1)[-1]
        if "quiz questions" in prompt:
            return ("Question: Where did the founder of Harbor Labs study physics?\nAnswer: University of Porto"
                    if "Both passages mention: Mira Okafor" in last else "nothing")
        return "the University of Porto" if "Passage 2" in last else "unknown"

    result = run(chunks, FakeLLM(bridge), tmp_path / "gen", kinds=["multi"], count=1)
    (row,) = result.rows
    assert row["kind"] == "multi" and row["hops"] == 2 and row["bridge"] == "Mira Okafor"
    assert set(row["evidence"]) == {"labs-1", "people-2"} and row["sources"] == ["docs/labs.md", "docs/people.md"]


def test_an_answer_the_evidence_does_not_give_is_rejected(chunks, tmp_path):
    def made_up(prompt, params):  # consistent with itself, so only the grounding check can catch it
        if "quiz questions" in prompt:
            return "Question: How heavy is the Kestrel drone?\nAnswer: 3.5 kilograms"
        return "3.5 kilograms"

    result = run(chunks[:1], FakeLLM(made_up), tmp_path / "gen", kinds=["single"], count=1)
    assert result.rows == [] and result.rejected == {"not_in_evidence": 1}
