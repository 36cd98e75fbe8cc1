"""Every strategy end to end with the embedded model over the demo QA corpus, ingested into a real index.
Kept small (k=2, one demonstration, one iteration, a few answer tokens): these check the plumbing, not accuracy."""

import json

import pytest

from llmopt.rag.api import Asker, close_retrievers
from llmopt.rag.config import AskConfig

pytestmark = pytest.mark.integration

SMALL = {"k": 2, "m": 1, "n": 1, "max_tokens": 8, "step_tokens": 16, "model": "default"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo corpus's three text documents (no PDF: quick to ingest) and the demo QA set."""
    from llmopt.demo import write_demo_data
    from llmopt.demo.qa import TEXT_DOCUMENTS
    from llmopt.ingest import ingest

    root = tmp_path_factory.mktemp("demo")
    write_demo_data(root, ["corpus", "qa"])
    index = str(root / "index")
    report = ingest([root / "corpus" / name for name in TEXT_DOCUMENTS], index=index)
    assert report.summary()["failed"] == 0
    questions = {q["id"]: q for q in map(json.loads, (root / "qa" / "questions.jsonl").read_text().splitlines())}
    yield {"index": index, "demos": str(root / "qa" / "demos.jsonl"), "questions": questions}
    close_retrievers()


@pytest.mark.parametrize("strategy", ["none", "rag", "drag", "iterdrag"])
def test_every_strategy_answers_with_citations_and_usage(demo, strategy):
    config = AskConfig.make(**SMALL, strategy=strategy, index=demo["index"], demos=demo["demos"], max_context=1500)
    question = demo["questions"]["q-gdansk-flight"]
    answer = Asker(config).ask(question["question"], question_id=question["id"])
    assert isinstance(answer.answer, str) and answer.model.startswith("llamacpp:")
    assert answer.usage.calls == len(answer.steps) >= 1
    assert answer.usage.effective_context_tokens == sum(s.prompt_tokens for s in answer.steps) <= 1500
    assert answer.usage.latency_s > 0 and answer.usage.cost_usd > 0
    if strategy == "none":
        assert answer.citations == []
    else:
        from llmopt.demo.qa import TEXT_DOCUMENTS

        assert answer.citations and all(c.source.split("/")[-1] in TEXT_DOCUMENTS for c in answer.citations)
    json.dumps(answer.to_dict())  # the --json payload serialises


@pytest.mark.slow
def test_prefix_cache_survives_interleaving_on_llamacpp_without_changing_answers(demo):
    from llmopt.models.registry import get_model
    from llmopt.rag.demos import DemoPool
    from llmopt.rag.strategies.drag import Drag
    from llmopt.rag.prefix_cache import shared_token_count

    pool = DemoPool.load(demo["demos"])
    set_a, set_b = DemoPool(pool.demos[:2]), DemoPool(pool.demos[2:])
    llm = get_model("default")
    config = AskConfig.make(**{**SMALL, "m": 2}, strategy="drag", index=demo["index"])
    with_a, with_b = Asker(config, llm=llm, pool=set_a), Asker(config, llm=llm, pool=set_b)
    with_a.ask("Who manages the Porto plant?")
    with_b.ask("How much does the Skylark S2 cost?")
    question = "Who is the chief financial officer of Veltora Dynamics?"
    warm = with_a.ask(question)
    prompt = Drag().prompt(with_a.run_for(question, None, None), 2, 2)
    shared = shared_token_count(llm, prompt, llm.tokenize(prompt.text))
    assert shared > 100 and warm.usage.cached_prompt_tokens >= shared  # instructions + set A's demonstrations
    llm.llama.reset()
    cold = Asker(config.model_copy(update={"prefix_cache": False}), llm=llm, pool=set_a).ask(
        "Who is the chief financial officer of Veltora Dynamics?")
    assert cold.usage.cached_prompt_tokens == 0
    assert warm.answer == cold.answer and warm.steps[0].text == cold.steps[0].text  # restored state = recomputed


def test_cli_prints_one_json_object(demo, capsys):
    from llmopt.cli.main import main

    main(["ask", "Who manages the Porto plant?", "--index", demo["index"], "-k", "2", "--max-tokens", "8",
          "--max-context", "600", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) >= {"answer", "citations", "strategy", "params", "usage"}
    assert set(payload["params"]) >= {"k", "m", "n", "samples", "prompt"}
    assert set(payload["usage"]) >= {"prompt_tokens", "cached_prompt_tokens", "completion_tokens",
                                     "effective_context_tokens", "calls", "latency_s", "cost_usd"}
    assert payload["usage"]["effective_context_tokens"] <= 600
    assert payload["citations"][0]["source"].endswith((".md", ".html", ".txt"))
