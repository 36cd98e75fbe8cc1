"""Self-consistency, judge and logprob selection, with judge calls counted and planned."""

import pytest

from llmopt.errors import ConfigError
from llmopt.rag.api import ask
from llmopt.testing import FakeLLM


def scripted(answers, judge_scores):
    """Answers in turn for answer calls; a judge call gets the score listed for the proposed answer."""
    turn = iter(answers)

    def reply(prompt, params):
        if "Proposed answer:" in prompt:
            proposed = prompt.split("Proposed answer:")[1].splitlines()[0].strip()
            return judge_scores.get(proposed, "no idea")
        return next(turn)

    return reply


def test_vote_takes_the_most_frequent_normalised_answer(retriever):
    llm = FakeLLM(scripted(["Porto", "The University of Porto", "university of porto.", "Lisbon"], {}))
    answer = ask("Where?", llm=llm, retriever=retriever, k=2, samples=4, select="vote")
    assert answer.answer == "The University of Porto"  # first of the largest group
    assert [c.score for c in answer.candidates] == [1.0, 2.0, 2.0, 1.0]
    assert answer.usage.calls == 4


def test_judge_scores_each_distinct_answer_against_its_evidence(retriever):
    llm = FakeLLM(scripted(["Lisbon", "Porto", "Lisbon"], {"Lisbon": "2", "Porto": "Score: 5"}))
    answer = ask("Where was Harbor Labs founded?", llm=llm, retriever=retriever, k=2, samples=3, select="judge")
    assert answer.answer == "Porto"
    judge_steps = [s for s in answer.steps if s.kind == "judge"]
    assert len(judge_steps) == 2  # one per distinct answer, not per sample
    judge_prompts = [p for p, _ in llm.calls if "Proposed answer:" in p]
    assert all("Harbor Labs was founded in 2011" in p for p in judge_prompts)  # evidence shown
    assert answer.usage.calls == 5 and answer.usage.effective_context_tokens == sum(
        len(llm.tokenize(p)) for p, _ in llm.calls)


def test_judge_without_a_score_counts_a_parse_failure_and_falls_back_on_votes(retriever):
    llm = FakeLLM(scripted(["Lisbon", "Porto", "Porto"], {}))
    answer = ask("Where?", llm=llm, retriever=retriever, k=2, samples=3, select="judge")
    assert answer.answer == "Porto" and answer.parse_failures == 2


def test_judge_calls_are_planned_within_the_budget(retriever):
    free = ask("Where?", llm=FakeLLM(scripted(["Lisbon", "Porto"], {"Porto": "5"})), retriever=retriever, k=3,
               samples=2, select="judge")
    limit = free.usage.effective_context_tokens - 30
    capped = ask("Where?", llm=FakeLLM(scripted(["Lisbon", "Porto"], {"Porto": "5"})), retriever=retriever, k=3,
                 samples=2, select="judge", max_context=limit)
    assert capped.usage.effective_context_tokens <= limit
    assert [s.kind for s in capped.steps].count("judge") in (0, 2)


def test_logprob_picks_the_most_confident_answer(retriever):
    # the fake gives n tokens logprobs -0.1*i/n (i = 1..n): mean -0.05*(n+1)/n, highest for the longest reply
    llm = FakeLLM(scripted(["Porto", "a b c d", "x y"], {}))
    answer = ask("Where?", llm=llm, retriever=retriever, k=1, samples=3, select="logprob")
    assert answer.answer == "a b c d" and all(p.logprobs for _, p in llm.calls)
    assert answer.candidates[1].score == pytest.approx(-0.0625)


def test_logprob_needs_a_backend_that_gives_logprobs(retriever):
    llm = FakeLLM()
    llm.supports_logprobs = False
    with pytest.raises(ConfigError, match="use --select vote"):
        ask("Where?", llm=llm, retriever=retriever, samples=2, select="logprob")
