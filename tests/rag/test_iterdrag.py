"""The IterDRAG loop with a scripted fake model: follow-ups, retrieval per sub-question, stop conditions, and
leniency towards a model that breaks the format."""

from llmopt.rag.api import Asker, ask
from llmopt.rag.budget import ContextBudgetError
from llmopt.rag.config import AskConfig
from llmopt.rag.strategies.iterdrag import parse_step
from llmopt.testing import FakeLLM

QUESTION = "When was the university where Mira Okafor studied founded?"


def chain_of(prompt: str) -> str:
    return prompt.split("<|assistant|>\n", 1)[1]


def two_hop(prompt, params):
    chain = chain_of(prompt)
    if chain.endswith("Intermediate answer:"):
        return " University of Porto\nFollow up: more" if chain.count("Follow up:") == 1 else " 1911"
    if chain.endswith("So the final answer is:"):
        return " 1911"
    hops = chain.count("Follow up:")
    if hops == 0:
        return "Follow up: Where did Mira Okafor study?\nIntermediate answer: made up"
    if hops == 1:
        return "Follow up: When was the University of Porto founded?"
    return "So the final answer is: 1911."


def test_the_loop_retrieves_per_follow_up_and_stops_at_the_final_answer(retriever):
    llm = FakeLLM(two_hop)
    answer = ask(QUESTION, llm=llm, retriever=retriever, strategy="iterdrag", k=2, n=4)
    assert answer.answer == "1911" and answer.parse_failures == 0
    assert [s.kind for s in answer.steps] == ["follow_up", "intermediate", "follow_up", "intermediate", "follow_up"]
    assert [q for q, _ in retriever.queries] == [QUESTION, "Where did Mira Okafor study?",
                                                 "When was the University of Porto founded?"]
    assert answer.candidates[0].iterations == 2
    prompts = [p for p, _ in llm.calls]
    assert all(b.startswith(a) for a, b in zip(prompts, prompts[1:]))  # each call extends the last
    second = chain_of(prompts[1])
    assert second.startswith("Follow up: Where did Mira Okafor study?\nDocument [")
    assert second.endswith("Intermediate answer:") and "made up" not in second
    assert "Intermediate answer: University of Porto\n" in chain_of(prompts[2])
    # documents are never repeated, and every document read is cited
    ids = [c.chunk_id for c in answer.citations]
    assert len(ids) == len(set(ids)) == 6
    assert answer.usage.effective_context_tokens == sum(len(llm.tokenize(p)) for p in prompts)


def test_iterations_are_capped_then_the_final_answer_is_forced(retriever):
    llm = FakeLLM(two_hop)
    answer = ask(QUESTION, llm=llm, retriever=retriever, strategy="iterdrag", k=2, n=1)
    assert [s.kind for s in answer.steps] == ["follow_up", "intermediate", "final"]
    assert llm.calls[-1][0].endswith("So the final answer is:") and answer.answer == "1911"
    assert any("reached n=1" in note for note in answer.budget.notes)


def test_a_reply_without_markers_is_a_parse_failure_taken_as_a_direct_answer(retriever):
    answer = ask(QUESTION, llm=FakeLLM(["The University of Porto, I think"]), retriever=retriever,
                 strategy="iterdrag", k=2)
    assert answer.answer == "The University of Porto, I think" and answer.parse_failures == 1
    assert answer.usage.calls == 1


def test_a_repeated_follow_up_ends_the_loop(retriever):
    def stuck(prompt, params):
        chain = chain_of(prompt)
        if chain.endswith("Intermediate answer:"):
            return "University of Porto"
        if chain.endswith("So the final answer is:"):
            return "1911"
        return "Follow up: Where did Mira Okafor study?"

    answer = ask(QUESTION, llm=FakeLLM(stuck), retriever=retriever, strategy="iterdrag", k=2, n=5)
    assert [s.kind for s in answer.steps] == ["follow_up", "intermediate", "follow_up", "final"]
    assert answer.answer == "1911" and any("repeated follow-up" in n for n in answer.budget.notes)


def test_an_empty_final_answer_falls_back_to_answering_from_what_was_retrieved(retriever):
    def silent(prompt, params):
        chain = chain_of(prompt)
        if "Reply with the answer only" in prompt:  # the plain fallback prompt
            return "Porto"
        if not chain:
            return "Follow up: Where did Mira Okafor study?"
        return "University of Porto" if chain.endswith("Intermediate answer:") else ""

    llm = FakeLLM(silent)
    answer = ask(QUESTION, llm=llm, retriever=retriever, strategy="iterdrag", k=2, n=1)
    assert [s.kind for s in answer.steps] == ["follow_up", "intermediate", "final", "fallback"]
    assert answer.answer == "Porto" and answer.parse_failures == 1
    assert "Follow up:" not in chain_of(llm.calls[-1][0])
    assert len(answer.steps[-1].chunk_ids) == 4  # everything retrieved, the follow-up's documents included


def test_the_budget_stops_iterating_and_is_never_exceeded(retriever):
    free = ask(QUESTION, llm=FakeLLM(two_hop), retriever=retriever, strategy="iterdrag", k=2, n=4)
    limit = free.usage.effective_context_tokens // 2
    capped = ask(QUESTION, llm=FakeLLM(two_hop), retriever=retriever, strategy="iterdrag", k=2, n=4,
                 max_context=limit)
    assert capped.usage.effective_context_tokens <= limit
    assert capped.steps[-1].kind in ("final", "intermediate", "follow_up") and capped.answer
    assert any("stopped after" in n or "shrank" in n for n in capped.budget.notes)
    answered = 0
    for limit in range(120, 1500, 37):  # whatever the budget, never above it: an answer within it, or an error
        try:
            answer = ask(QUESTION, llm=FakeLLM(two_hop), retriever=retriever, strategy="iterdrag", k=3, n=4,
                         samples=2, select="judge", max_context=limit)
        except ContextBudgetError:
            continue
        answered += 1
        assert answer.usage.effective_context_tokens <= limit
    assert answered > 20


def test_demonstrations_show_decomposition_chains(retriever):
    from llmopt.rag.demos import DemoPool

    from .conftest import POOL_ROWS

    pool = DemoPool.from_rows([POOL_ROWS[2], {**POOL_ROWS[0], "chain": [
        {"question": "Which city hosts Harbor Labs?", "answer": "Lisbon"}]}])
    llm = FakeLLM(["So the final answer is: 1911"])
    asker = Asker(AskConfig(strategy="iterdrag", k=1, m=2), llm=llm, retriever=retriever, pool=pool)
    asker.ask("Where was Blue Finch Robotics founded?")
    prompt = llm.calls[0][0]
    assert len(llm.calls) == 1  # every demonstration has a chain: none is generated
    assert ("Question: When was the university where Mira Okafor studied founded?\n"
            "Follow up: Where did Mira Okafor study?\nIntermediate answer: University of Porto\n"
            "Follow up: When was the University of Porto founded?\nIntermediate answer: 1911\n"
            "So the final answer is: 1911") in prompt
    assert ("Question: Where was Harbor Labs founded?\nFollow up: Which city hosts Harbor Labs?\n"
            "Intermediate answer: Lisbon\nSo the final answer is: Lisbon") in prompt
    asker.ask(QUESTION)  # d3's own question: never its own demonstration
    assert "Follow up: Where did Mira Okafor study?" not in llm.calls[-1][0]


def test_parse_step():
    assert parse_step("Follow-up question: Who?\nmore").kind == "follow_up"
    assert parse_step("follow up: Who?").text == "Who?"
    assert parse_step("So the final answer is: Porto.").text == "Porto"
    assert parse_step("Follow up: A?\nSo the final answer is: B").kind == "follow_up"
    assert parse_step("So the final answer is: B\nFollow up: A?").kind == "final"
    assert parse_step("Porto").kind == "unparsed" and parse_step("  ").text == ""
