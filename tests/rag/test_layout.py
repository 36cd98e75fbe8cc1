from llmopt.rag.demos import DemoPool
from llmopt.rag.layout import build_prompt
from llmopt.rag.prompts import load_template
from llmopt.testing import FakeLLM

from .conftest import POOL_ROWS


def _prompt(retriever, question, k=3, m=0, pool=None):
    llm = FakeLLM()
    hits = retriever.search(question, k)
    demos = pool.shown(pool.select(question, m), k, retriever) if pool else []
    return hits, build_prompt(llm, load_template("basic"), question, hits, demos)


def test_documents_in_reverse_rank_order_best_nearest_the_question(retriever):
    hits, prompt = _prompt(retriever, "When was Harbor Labs founded in Lisbon?", k=3)
    positions = [prompt.text.index(h.chunk.text) for h in hits]
    assert positions == sorted(positions, reverse=True)  # rank 1 last
    assert positions[0] < prompt.text.index("Question: When was Harbor Labs")
    assert f"Document [1] (labs.md, p. 1): {hits[0].chunk.text}" in prompt.text


def test_demonstrations_come_first_each_with_its_own_documents_and_gold_answer(retriever):
    pool = DemoPool.from_rows(POOL_ROWS)
    question = "Who founded Harbor Labs?"
    hits, prompt = _prompt(retriever, question, k=2, m=2, pool=pool)
    text = prompt.text
    first, second = text.index("Example 1:"), text.index("Example 2:")
    assert text.index("Question: Where was Harbor Labs founded?\nAnswer: Lisbon") > first
    assert text.index("Question: Who founded Blue Finch Robotics?\nAnswer: Jonas Lie") > second
    demo_hit = retriever.search("Who founded Blue Finch Robotics?", 2)[0]
    assert second < text.index(demo_hit.chunk.text) < text.index("Question: Who founded Blue Finch")
    # the question's own documents come after every demonstration
    assert text.rindex(hits[0].chunk.text) > text.index("Answer: Jonas Lie")
    assert text.rstrip().endswith("<|assistant|>")


def test_shared_prefix_is_identical_across_questions_with_fixed_demonstrations(retriever):
    pool = DemoPool.from_rows(POOL_ROWS)
    _, a = _prompt(retriever, "Who founded Harbor Labs?", k=2, m=2, pool=pool)
    _, b = _prompt(retriever, "What does Blue Finch Robotics build?", k=2, m=2, pool=pool)
    assert a.shared_chars == b.shared_chars > a.text.index("Answer: Jonas Lie")
    assert a.text[: a.shared_chars] == b.text[: b.shared_chars]
    assert "Who founded Harbor Labs" not in a.text[: a.shared_chars]
    assert all(h.chunk.text not in a.text[a.text.index("Now answer"): a.shared_chars] for h in a.hits)


def test_extend_keeps_the_prefix_and_adds_hits(retriever):
    hits, prompt = _prompt(retriever, "Who founded Harbor Labs?", k=1)
    more = prompt.extend("Follow up: x\n", hits)
    assert more.text.startswith(prompt.text) and more.shared_chars == prompt.shared_chars
    assert len(more.hits) == 2
